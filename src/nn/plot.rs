//! Plots written as PNG with plotters: training curves, a steering distribution, and a
//! policy's predictions along an episode. Text uses DejaVu Sans when it is installed
//! (`fonts-dejavu-core`, installed by the project's setup); without it plots are drawn
//! without text rather than not at all.

use crate::error::{Error, Result};
use crate::nn::calibration::Calibration;
use crate::nn::distribution::SteeringDistribution;
use crate::nn::train::EpochMetrics;
use crate::sim::Frame;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

const FONT_PATHS: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers the plot font once; false when no font file is found.
fn fonts() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        let Some(bytes) = FONT_PATHS.iter().find_map(|p| std::fs::read(p).ok()) else {
            return false;
        };
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
    })
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Output {
        path: path.to_path_buf(),
        message: format!("plot: {e}"),
    }
}

/// Draws with `draw` on a white `width`×`height` canvas and saves it as PNG.
pub(crate) fn render<F>(path: &Path, (width, height): (u32, u32), draw: F) -> Result<()>
where
    F: FnOnce(
        &DrawingArea<BitMapBackend, plotters::coord::Shift>,
        bool,
    ) -> std::result::Result<(), String>,
{
    let text = fonts();
    let mut rgb = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        draw(&root, text).map_err(|e| plot_err(path, e))?;
        root.present().map_err(|e| plot_err(path, e))?;
    }
    Frame {
        tick: 0,
        agent: 0,
        width,
        height,
        rgb,
    }
    .save_png(path)
}

fn range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    // A flat series still gets an axis a little around its value.
    let pad = ((hi - lo) * 0.08).max(1e-3 * lo.abs().max(hi.abs()).max(1.0));
    lo - pad..hi + pad
}

/// One panel: named series of (x, y) points with axis labels.
struct Panel<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    series: Vec<(&'a str, RGBColor, Vec<(f64, f64)>)>,
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    panel: &Panel,
    text: bool,
) -> std::result::Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let points = || panel.series.iter().flat_map(|s| s.2.iter());
    let (xs, ys) = (range(points().map(|p| p.0)), range(points().map(|p| p.1)));
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(10)
        .x_label_area_size(if text { 35 } else { 5 })
        .y_label_area_size(if text { 60 } else { 5 });
    if text {
        builder.caption(panel.title, ("sans-serif", 16));
    }
    let mut chart = builder.build_cartesian_2d(xs, ys).map_err(|x| e(&x))?;
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(RGBColor(235, 235, 235));
    if text {
        mesh.x_desc(panel.x_label)
            .y_desc(panel.y_label)
            .label_style(("sans-serif", 12));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|x| e(&x))?;
    for (name, colour, data) in &panel.series {
        let finite: Vec<(f64, f64)> = data
            .iter()
            .copied()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        let style = ShapeStyle::from(colour).stroke_width(2);
        let drawn = chart
            .draw_series(LineSeries::new(finite.clone(), style))
            .map_err(|x| e(&x))?;
        if text {
            drawn
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
        }
        if finite.len() <= 60 {
            chart
                .draw_series(finite.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                .map_err(|x| e(&x))?;
        }
    }
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(|x| e(&x))?;
    }
    Ok(())
}

const BLUE_: RGBColor = RGBColor(31, 119, 180);
const ORANGE_: RGBColor = RGBColor(255, 127, 14);
const GREEN_: RGBColor = RGBColor(44, 160, 44);
const RED_: RGBColor = RGBColor(214, 39, 40);

/// A panel of named line series for [`line_panels`].
pub struct LinePanel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<(String, Vec<(f64, f64)>)>,
}

/// Panels side by side, each with its series in the plot colours in order.
pub fn line_panels(path: &Path, panels: &[LinePanel]) -> Result<()> {
    let colours = [BLUE_, ORANGE_, GREEN_, RED_];
    let width = 480 * panels.len().max(1) as u32;
    render(path, (width, 380), |root, text| {
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (area, p) in areas.iter().zip(panels) {
            let panel = Panel {
                title: &p.title,
                x_label: &p.x_label,
                y_label: &p.y_label,
                series: p
                    .series
                    .iter()
                    .zip(colours.iter().cycle())
                    .map(|((name, data), &c)| (name.as_str(), c, data.clone()))
                    .collect(),
            };
            draw_panel(area, &panel, text)?;
        }
        Ok(())
    })
}

/// Training and validation NLL, and validation error of the mode and mean, per epoch.
pub fn training_curves(history: &[EpochMetrics], path: &Path) -> Result<()> {
    let series = |f: fn(&EpochMetrics) -> f64| {
        history
            .iter()
            .map(|m| (m.epoch as f64, f(m)))
            .collect::<Vec<_>>()
    };
    let nll = Panel {
        title: "negative log-likelihood of the expert's curvature",
        x_label: "epoch",
        y_label: "NLL (nats)",
        series: vec![
            ("train", BLUE_, series(|m| m.train_nll)),
            ("validation", ORANGE_, series(|m| m.validation_nll)),
        ],
    };
    let mae = Panel {
        title: "validation error",
        x_label: "epoch",
        y_label: "mean |error| (1/m)",
        series: vec![
            ("mode", GREEN_, series(|m| m.validation_mae_mode_per_m)),
            ("mean", RED_, series(|m| m.validation_mae_mean_per_m)),
        ],
    };
    render(path, (1000, 380), |root, text| {
        let (left, right) = root.split_horizontally(520);
        draw_panel(&left, &nll, text)?;
        draw_panel(&right, &mae, text)
    })
}

/// The density over curvature, with the mode and (when given) the expert's action marked.
pub fn distribution(dist: &SteeringDistribution, expert: Option<f64>, path: &Path) -> Result<()> {
    // The range covers every component that carries at least 5 % of the weight.
    let shown = dist.components().iter().filter(|c| c.weight >= 0.05);
    let (lo, hi) = shown.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), c| {
        (
            lo.min(c.mean - 4.0 * c.std_dev),
            hi.max(c.mean + 4.0 * c.std_dev),
        )
    });
    let (lo, hi) = (lo.min(expert.unwrap_or(lo)), hi.max(expert.unwrap_or(hi)));
    let curve: Vec<(f64, f64)> = (0..=2000)
        .map(|i| lo + (hi - lo) * i as f64 / 2000.0)
        .map(|x| (x, dist.pdf(x)))
        .collect();
    let peak = curve.iter().map(|p| p.1).fold(0.0, f64::max);
    let marker = |x: f64| vec![(x, 0.0), (x, peak)];
    let mut series = vec![
        ("density", BLUE_, curve),
        ("mode", GREEN_, marker(dist.mode())),
    ];
    if let Some(x) = expert {
        series.push(("expert", RED_, marker(x)));
    }
    let panel = Panel {
        title: "steering distribution",
        x_label: "curvature (1/m)",
        y_label: "density",
        series,
    };
    render(path, (640, 300), |root, text| {
        draw_panel(root, &panel, text)
    })
}

/// Along an episode: the expert's curvature, the policy's mode, and the mode ± 1σ of its
/// most likely component.
pub fn episode_predictions(
    ticks: &[u64],
    expert: &[f64],
    predicted: &[SteeringDistribution],
    path: &Path,
) -> Result<()> {
    let at = |f: &dyn Fn(usize) -> f64| {
        ticks
            .iter()
            .enumerate()
            .map(|(i, t)| (*t as f64, f(i)))
            .collect::<Vec<_>>()
    };
    let sigma = |i: usize| {
        let d = &predicted[i];
        d.components()[d.most_likely_component()].std_dev
    };
    let panel = Panel {
        title: "policy versus expert",
        x_label: "tick",
        y_label: "curvature (1/m)",
        series: vec![
            ("expert", RED_, at(&|i| expert[i])),
            ("policy mode", BLUE_, at(&|i| predicted[i].mode())),
            (
                "mode + 1 sigma",
                RGBColor(150, 190, 230),
                at(&|i| predicted[i].mode() + sigma(i)),
            ),
            (
                "mode - 1 sigma",
                RGBColor(150, 190, 230),
                at(&|i| predicted[i].mode() - sigma(i)),
            ),
        ],
    };
    render(path, (1000, 340), |root, text| {
        draw_panel(root, &panel, text)
    })
}

/// PIT histograms, one panel per named calibration tally: the density of `u = F(κ_expert)`
/// in each bin (a calibrated policy: 1 everywhere, the dashed line), with the central-interval
/// coverage and the calibration error in the title.
pub fn pit_histograms(path: &Path, panels: &[(String, &Calibration)]) -> Result<()> {
    let bins = crate::nn::calibration::PIT_BINS;
    let width = 420 * panels.len().max(1) as u32;
    render(path, (width, 320), |root, text| {
        let e = |e: &dyn std::fmt::Display| e.to_string();
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (area, (name, calibration)) in areas.iter().zip(panels) {
            let n = calibration.count().max(1) as f64;
            let density: Vec<f64> = calibration
                .pit_histogram
                .iter()
                .map(|&c| c as f64 * bins as f64 / n)
                .collect();
            let top = density.iter().cloned().fold(1.5, f64::max) * 1.05;
            let pct =
                |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{:.0} %", v * 100.0));
            let title = format!(
                "{name}: {} / {} in 68/95 %, ECE {}",
                pct(calibration.coverage_1_sigma()),
                pct(calibration.coverage_2_sigma()),
                calibration
                    .expected_calibration_error()
                    .map_or("–".into(), |v| format!("{v:.3}"))
            );
            let mut builder = ChartBuilder::on(area);
            builder
                .margin(10)
                .x_label_area_size(if text { 35 } else { 5 })
                .y_label_area_size(if text { 45 } else { 5 });
            if text {
                builder.caption(&title, ("sans-serif", 13));
            }
            let mut chart = builder
                .build_cartesian_2d(0.0..1.0, 0.0..top)
                .map_err(|x| e(&x))?;
            let mut mesh = chart.configure_mesh();
            mesh.light_line_style(RGBColor(235, 235, 235));
            if text {
                mesh.x_desc("u = F(expert curvature)")
                    .y_desc("density")
                    .label_style(("sans-serif", 11));
            } else {
                mesh.x_labels(0).y_labels(0);
            }
            mesh.draw().map_err(|x| e(&x))?;
            chart
                .draw_series(density.iter().enumerate().map(|(i, &d)| {
                    let (x0, x1) = (i as f64 / bins as f64, (i + 1) as f64 / bins as f64);
                    Rectangle::new([(x0, 0.0), (x1, d)], BLUE_.mix(0.7).filled())
                }))
                .map_err(|x| e(&x))?;
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, 1.0), (1.0, 1.0)],
                    6,
                    4,
                    ShapeStyle::from(RED_).stroke_width(2),
                ))
                .map_err(|x| e(&x))?;
        }
        Ok(())
    })
}
