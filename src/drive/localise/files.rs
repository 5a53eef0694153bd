//! What a localisation run writes: a CSV of every tick's estimates, a plot of the errors over
//! time, north-up pictures of the particles for a GIF, and the run's summary as JSON.

use crate::drive::localise::{
    Localisation, LocaliseOptions, ParticleFilter, TickEstimates, summarise,
};
use crate::error::Result;
use crate::report::plot::{GREEN, LinePanel, ORANGE, RED, line_panels};
use crate::sim::map_input::{MapSpec, MapView};
use crate::sim::{Frame, Vec2};
use std::path::Path;

/// One CSV row per tick: time, the true pose, the fix, the filter's mean with the network and
/// without it (odometry + GPS), and the particles' spread.
pub fn write_csv(path: &Path, points: &[TickEstimates]) -> Result<()> {
    let mut text = String::from(
        "t_s,true_x,true_y,true_heading,fix_x,fix_y,fix_heading,mean_x,mean_y,mean_heading,odo_x,odo_y,odo_heading,spread_m\n",
    );
    for p in points {
        text.push_str(&format!(
            "{:.2},{:.3},{:.3},{:.4},{:.3},{:.3},{:.4},{:.3},{:.3},{:.4},{:.3},{:.3},{:.4},{:.3}\n",
            p.t_s,
            p.truth.position.x,
            p.truth.position.y,
            p.truth.heading,
            p.fix.position.x,
            p.fix.position.y,
            p.fix.heading,
            p.with_network.position.x,
            p.with_network.position.y,
            p.with_network.heading,
            p.without_network.position.x,
            p.without_network.position.y,
            p.without_network.heading,
            p.spread_m
        ));
    }
    crate::files::write_atomic(path, text.as_bytes())
}

/// Position and heading error over time, averaged over the episodes at each tick.
pub fn plot_errors(path: &Path, runs: &[Localisation]) -> Result<()> {
    let longest = runs.iter().map(|r| r.points.len()).max().unwrap_or(0);
    let mean_at = |i: usize, of: &dyn Fn(&TickEstimates) -> f64| -> Option<(f64, f64)> {
        let here: Vec<&TickEstimates> = runs.iter().filter_map(|r| r.points.get(i)).collect();
        (!here.is_empty()).then(|| {
            (
                here[0].t_s,
                here.iter().map(|p| of(p)).sum::<f64>() / here.len() as f64,
            )
        })
    };
    let series = |f: &dyn Fn(&TickEstimates, usize) -> f64, k: usize| -> Vec<(f64, f64)> {
        (0..longest)
            .filter_map(|i| mean_at(i, &|p| f(p, k)))
            .collect()
    };
    let error = |p: &TickEstimates, k: usize| -> (f64, f64) {
        match k {
            0 => p.fix.error(&p.truth),
            1 => p.without_network.error(&p.truth),
            _ => p.with_network.error(&p.truth),
        }
    };
    let names = ["GPS fix", "odometry + GPS", "with the network"];
    let panel = |title: &str, unit: &str, pick: fn((f64, f64)) -> f64| LinePanel {
        title: title.into(),
        x_label: "time (s)".into(),
        y_label: unit.into(),
        series: (0..3)
            .map(|k| (names[k].to_string(), series(&|p, k| pick(error(p, k)), k)))
            .collect(),
        colours: vec![RED, ORANGE, GREEN],
    };
    line_panels(
        path,
        &[
            panel("position error", "metres", |e| e.0),
            panel("heading error", "degrees", |e| e.1),
        ],
    )
}

/// A north-up picture `size` pixels wide of the roads within `half_extent_m` of the truth: the
/// particles (blue), the raw fix (red cross), the filter's mean (yellow), the odometry-and-GPS
/// filter's mean (orange) and the truth (white).
pub fn snapshot(
    view: &MapView,
    filter: &ParticleFilter,
    point: &TickEstimates,
    size: usize,
    half_extent_m: f64,
) -> Frame {
    let spec = MapSpec {
        size,
        half_extent_m,
    };
    let centre = point.truth.position;
    let map = view.patch(&spec, centre, std::f64::consts::FRAC_PI_2, 0.0);
    let mut rgb: Vec<u8> = map
        .rgb
        .chunks_exact(3)
        .flat_map(|px| {
            if px[0] > 0 {
                [70, 70, 78]
            } else {
                [18, 22, 18]
            }
        })
        .collect();
    let step = spec.pixel_m();
    let mut dot = |p: Vec2, r: i64, colour: [u8; 3], cross: bool| {
        let d = p - centre;
        let row = ((half_extent_m - d.y) / step - 0.5).round() as i64;
        let col = ((half_extent_m + d.x) / step - 0.5).round() as i64;
        for dy in -r..=r {
            for dx in -r..=r {
                if cross && dy != dx && dy != -dx {
                    continue;
                }
                let (y, x) = (row + dy, col + dx);
                if y >= 0 && x >= 0 && (y as usize) < size && (x as usize) < size {
                    let i = (y as usize * size + x as usize) * 3;
                    rgb[i..i + 3].copy_from_slice(&colour);
                }
            }
        }
    };
    for p in &filter.particles {
        dot(p.position, 0, [80, 150, 255], false);
    }
    dot(point.without_network.position, 2, [255, 140, 20], false);
    dot(point.fix.position, 4, [230, 40, 40], true);
    dot(point.with_network.position, 2, [255, 230, 40], false);
    dot(point.truth.position, 1, [255, 255, 255], false);
    Frame {
        tick: 0,
        agent: 0,
        width: size as u32,
        height: size as u32,
        rgb,
    }
}

/// `localise.json`: the options, the errors over every episode's ticks from `settle_s` on and
/// per episode, and the time taken.
pub fn write_summary(
    path: &Path,
    options: &LocaliseOptions,
    settle_s: f64,
    runs: &[Localisation],
) -> Result<()> {
    let (drive_s, wall_s): (f64, f64) = runs.iter().fold((0.0, 0.0), |a, r| {
        (a.0 + r.points.last().map_or(0.0, |p| p.t_s), a.1 + r.wall_s)
    });
    let json = serde_json::json!({
        "options": options,
        "settle_s": settle_s,
        "overall": summarise(runs.iter().flat_map(|r| &r.points), settle_s),
        "drive_s": drive_s,
        "wall_s": wall_s,
        "episodes": runs.iter().map(|r| serde_json::json!({
            "episode": r.episode,
            "summary": summarise(&r.points, settle_s),
            "wall_s": r.wall_s,
            "updates": r.updates,
        })).collect::<Vec<_>>(),
    });
    crate::files::write_json(path, &json)
}
