//! The figures of an evaluation: each drive's map from above and the PIT histograms of the
//! policy's calibration.

use crate::drive::closed_loop::Drive;
use crate::drive::junctions::JunctionEntry;
use crate::drive::metrics::Supervision;
use crate::error::Result;
use crate::nn::metrics::calibration::Calibration;
use crate::report::plot::{BLUE, GREEN, LinePanel, ORANGE, RED, line_panels, render};
use crate::sim::Track;
use crate::sim::network::Turn;
use plotters::prelude::*;
use std::path::Path;

/// The track from above: road in grey, the driven path coloured by |lateral offset| (green
/// on the centreline, red at the intervention threshold), interventions as black crosses,
/// crashes as red rings.
pub fn track_map(path: &Path, track: &Track, road_width_m: f64, drive: &Drive) -> Result<()> {
    let points = track.samples();
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in points {
        (x0, x1, y0, y1) = (x0.min(p.x), x1.max(p.x), y0.min(p.y), y1.max(p.y));
    }
    for p in &drive.path {
        (x0, x1, y0, y1) = (x0.min(p.x), x1.max(p.x), y0.min(p.y), y1.max(p.y));
    }
    let pad = road_width_m * 2.0;
    let (x0, x1, y0, y1) = (x0 - pad, x1 + pad, y0 - pad, y1 + pad);
    let width = 800u32;
    let height = ((width as f64) * (y1 - y0) / (x1 - x0)).clamp(200.0, 1600.0) as u32 + 60;
    let limit = drive.metrics.max_abs_offset_m.max(1.0);
    let m = &drive.metrics;
    let title = match (m.supervision, m.first_crash) {
        (Supervision::Free, Some(c)) => format!(
            "{}: {} after {:.0} m (no safety driver)",
            drive.scenario, c.cause, c.distance_m
        ),
        (Supervision::Free, None) => format!(
            "{}: no crash in {:.2} km (no safety driver)",
            drive.scenario, m.distance_km
        ),
        _ => format!(
            "{}: autonomy {:.1} %, {} interventions, {} crashes in {:.2} km",
            drive.scenario, m.autonomy_pct, m.interventions, m.crashes, m.distance_km
        ),
    };
    render(path, (width, height), |root, text| {
        let e = |e: &dyn std::fmt::Display| e.to_string();
        let mut builder = ChartBuilder::on(root);
        builder.margin(10);
        if text {
            builder.caption(&title, ("sans-serif", 16));
        }
        let mut chart = builder
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|x| e(&x))?;
        // Road: the centreline drawn as wide as the road.
        let px_per_m = (width as f64 - 20.0) / (x1 - x0);
        let road_px = (road_width_m * px_per_m).round().max(2.0) as u32;
        let mut closed: Vec<(f64, f64)> = points.iter().map(|p| (p.x, p.y)).collect();
        closed.push(closed[0]);
        chart
            .draw_series(LineSeries::new(
                closed.clone(),
                ShapeStyle::from(RGBColor(200, 200, 200)).stroke_width(road_px),
            ))
            .map_err(|x| e(&x))?;
        chart
            .draw_series(LineSeries::new(
                closed,
                ShapeStyle::from(RGBColor(255, 255, 255)).stroke_width(1),
            ))
            .map_err(|x| e(&x))?;
        for pair in drive.path.windows(2) {
            let t = (pair[1].lateral_offset_m.abs() / limit).clamp(0.0, 1.0);
            let colour = RGBColor((40.0 + 215.0 * t) as u8, (170.0 * (1.0 - t)) as u8, 40);
            chart
                .draw_series(LineSeries::new(
                    [(pair[0].x, pair[0].y), (pair[1].x, pair[1].y)],
                    ShapeStyle::from(colour).stroke_width(2),
                ))
                .map_err(|x| e(&x))?;
        }
        chart
            .draw_series(
                drive
                    .interventions
                    .iter()
                    .map(|p| Cross::new((p.x, p.y), 6, ShapeStyle::from(BLACK).stroke_width(2))),
            )
            .map_err(|x| e(&x))?;
        chart
            .draw_series(
                drive
                    .crashes
                    .iter()
                    .map(|p| Circle::new((p.x, p.y), 7, ShapeStyle::from(RED).stroke_width(3))),
            )
            .map_err(|x| e(&x))?;
        Ok(())
    })?;
    Ok(())
}

/// PIT histograms, one panel per named calibration tally: the density of `u = F(κ_expert)`
/// in each bin (a calibrated policy: 1 everywhere, the dashed line), with the central-interval
/// coverage and the calibration error in the title.
pub(super) fn pit_histograms(path: &Path, panels: &[(String, &Calibration)]) -> Result<()> {
    let bins = crate::nn::metrics::calibration::PIT_BINS;
    let width = 420 * panels.len().max(1) as u32;
    Ok(render(path, (width, 320), |root, text| {
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
                "{name}: {} / {} in 68/95 %, PIT error {}",
                pct(calibration.coverage_1_sigma()),
                pct(calibration.coverage_2_sigma()),
                calibration
                    .pit_calibration_error()
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
                    Rectangle::new([(x0, 0.0), (x1, d)], BLUE.mix(0.7).filled())
                }))
                .map_err(|x| e(&x))?;
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, 1.0), (1.0, 1.0)],
                    6,
                    4,
                    ShapeStyle::from(RED).stroke_width(2),
                ))
                .map_err(|x| e(&x))?;
        }
        Ok(())
    })?)
}

/// The mixture's density on entering up to four junctions (the most exits first), each exit's
/// curvature drawn as a vertical line: Amini et al.'s multimodality figure.
pub fn entries_figure(path: &Path, entries: &[&JunctionEntry]) -> Result<()> {
    let mut chosen: Vec<&&JunctionEntry> = entries.iter().collect();
    chosen.sort_by_key(|e| std::cmp::Reverse(e.exits.len()));
    chosen.truncate(4);
    let panels: Vec<LinePanel> = chosen
        .iter()
        .map(|e| {
            let lo = e.exits.iter().map(|x| x.1).fold(-0.05, f64::min) - 0.05;
            let hi = e.exits.iter().map(|x| x.1).fold(0.05, f64::max) + 0.05;
            let density = |k: f64| -> f64 {
                e.components
                    .iter()
                    .map(|&(w, m, s)| {
                        w * (-0.5 * ((k - m) / s).powi(2)).exp()
                            / (s * (2.0 * std::f64::consts::PI).sqrt())
                    })
                    .sum()
            };
            let curve: Vec<(f64, f64)> = (0..=400)
                .map(|i| lo + (hi - lo) * i as f64 / 400.0)
                .map(|k| (k, density(k)))
                .collect();
            let top = curve.iter().map(|p| p.1).fold(0.0, f64::max).max(1.0);
            let mut series = vec![("mixture density".to_string(), curve)];
            let mut colours = vec![BLUE];
            for &(turn, k) in &e.exits {
                series.push((format!("{turn:?} exit"), vec![(k, 0.0), (k, top)]));
                colours.push(match turn {
                    Turn::Left | Turn::UTurn => ORANGE,
                    Turn::Straight => GREEN,
                    Turn::Right => RED,
                });
            }
            LinePanel {
                title: format!("{} ({:?} on the route)", e.junction, e.turn),
                x_label: "curvature (1/m)".into(),
                y_label: "density".into(),
                series,
                colours,
            }
        })
        .collect();
    if panels.is_empty() {
        return Ok(());
    }
    line_panels(path, &panels)
}
