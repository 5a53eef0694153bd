//! Plots written as PNG with plotters: panels of named line series, and the canvas other
//! plots draw on. They take plain numbers, so every layer can plot without this module
//! knowing its types. Text uses DejaVu Sans when it is installed (`fonts-dejavu-core`,
//! installed by the project's setup); without it plots are drawn without text rather than not
//! at all.

use crate::error::{Error, Result};
use crate::files::{Pixels, encode_png, write_atomic};
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
pub fn render<F>(path: &Path, (width, height): (u32, u32), draw: F) -> Result<()>
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
    write_atomic(path, &encode_png(width, height, Pixels::Rgb, &rgb)?)
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

pub const BLUE: RGBColor = RGBColor(31, 119, 180);
pub const ORANGE: RGBColor = RGBColor(255, 127, 14);
pub const GREEN: RGBColor = RGBColor(44, 160, 44);
pub const RED: RGBColor = RGBColor(214, 39, 40);
/// Series colours in order.
pub const PALETTE: [RGBColor; 4] = [BLUE, ORANGE, GREEN, RED];

/// A panel of named line series for [`line_panels`].
pub struct LinePanel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<(String, Vec<(f64, f64)>)>,
    /// The series' colours in order (empty: the plot palette).
    pub colours: Vec<RGBColor>,
}

/// Panels side by side (480×380 pixels each), each with its series in its colours, then the
/// palette's.
pub fn line_panels(path: &Path, panels: &[LinePanel]) -> Result<()> {
    let width = 480 * panels.len().max(1) as u32;
    line_panels_sized(path, (width, 380), panels)
}

/// [`line_panels`] on a canvas of `size` pixels.
pub fn line_panels_sized(path: &Path, size: (u32, u32), panels: &[LinePanel]) -> Result<()> {
    render(path, size, |root, text| {
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (area, p) in areas.iter().zip(panels) {
            let panel = Panel {
                title: &p.title,
                x_label: &p.x_label,
                y_label: &p.y_label,
                series: p
                    .series
                    .iter()
                    .zip(p.colours.iter().chain(PALETTE.iter().cycle()))
                    .map(|((name, data), &c)| (name.as_str(), c, data.clone()))
                    .collect(),
            };
            draw_panel(area, &panel, text)?;
        }
        Ok(())
    })
}

/// A grid of values as coloured cells (red at `range.0`, amber halfway, green at `range.1`),
/// each with its value written in it; rows and columns named. Missing values stay grey.
pub fn heat_map(
    path: &Path,
    title: &str,
    rows: &[String],
    columns: &[String],
    values: &[Vec<Option<f64>>],
    (lo, hi): (f64, f64),
) -> Result<()> {
    let (label_w, cell_w, cell_h, top) = (150u32, 120u32, 34u32, 40u32);
    let width = label_w + cell_w * columns.len().max(1) as u32 + 10;
    let height = top + cell_h * (rows.len() as u32 + 1) + 10;
    let colour = |v: f64| {
        let t = ((v - lo) / (hi - lo).max(1e-12)).clamp(0.0, 1.0);
        let (r, g) = if t < 0.5 {
            (220.0, 60.0 + 330.0 * t)
        } else {
            (220.0 - 340.0 * (t - 0.5), 225.0)
        };
        RGBColor(r as u8, g as u8, 70)
    };
    render(path, (width, height), |root, text| {
        let e = |e: &dyn std::fmt::Display| e.to_string();
        let font = ("sans-serif", 14).into_font();
        if text {
            root.draw(&Text::new(title.to_string(), (10, 12), font.clone()))
                .map_err(|x| e(&x))?;
        }
        let at =
            |col: u32, row: u32| ((label_w + col * cell_w) as i32, (top + row * cell_h) as i32);
        for (c, name) in columns.iter().enumerate() {
            if text {
                let (x, y) = at(c as u32, 0);
                root.draw(&Text::new(name.clone(), (x + 8, y + 10), font.clone()))
                    .map_err(|x| e(&x))?;
            }
        }
        for (r, (name, row)) in rows.iter().zip(values).enumerate() {
            let (_, y0) = at(0, r as u32 + 1);
            if text {
                root.draw(&Text::new(name.clone(), (10, y0 + 10), font.clone()))
                    .map_err(|x| e(&x))?;
            }
            for (c, v) in row.iter().enumerate() {
                let (x, y) = at(c as u32, r as u32 + 1);
                let fill = v.map_or(RGBColor(200, 200, 200), colour);
                root.draw(&Rectangle::new(
                    [
                        (x + 1, y + 1),
                        (x + cell_w as i32 - 1, y + cell_h as i32 - 1),
                    ],
                    fill.filled(),
                ))
                .map_err(|x| e(&x))?;
                if let (true, Some(v)) = (text, v) {
                    root.draw(&Text::new(
                        format!("{v:.1}"),
                        (x + 40, y + 10),
                        font.clone(),
                    ))
                    .map_err(|x| e(&x))?;
                }
            }
        }
        Ok(())
    })
}
