//! `steerlab localise`: where the car of recorded episodes was, from a noisy GPS fix, its
//! odometry and the steering network's posterior under candidate map patches (see
//! `drive::localise`); errors against the truth over time, a table, a plot and a GIF.

use super::replay::GifWriter;
use crate::drive::localise::{
    Localisation, LocaliseOptions, ParticleFilter, TrackPoint, localise, summarise,
};
use crate::nn::{Model, ModelDir};
use crate::record::EpisodeReader;
use crate::report::plot::{GREEN, LinePanel, ORANGE, RED, line_panels};
use crate::sim::map_input::GpsNoise;
use crate::sim::map_input::{MapSpec, MapView};
use crate::sim::{Frame, Vec2};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct LocaliseArgs {
    /// Recorded episodes with camera frames (files or folders), in the worlds of their
    /// scenarios (towns or tracks).
    #[arg(required = true)]
    pub episodes: Vec<PathBuf>,
    /// A model that reads a map (navnet, best trained with `--map unrouted`).
    #[arg(long)]
    pub model: PathBuf,
    /// The GPS fix's error: `σ_pos,σ_heading[,τ]` in metres, degrees and seconds.
    #[arg(long, default_value = "10,5", value_name = "σ_POS,σ_HEADING")]
    pub gps_noise: GpsNoise,
    /// Candidate poses per filter.
    #[arg(long, default_value_t = 256)]
    pub particles: usize,
    /// Ticks between the network's updates.
    #[arg(long, default_value_t = 2)]
    pub every: u64,
    /// Exponent on the network's likelihood per update (successive frames are correlated
    /// evidence; 0.25 localised best of 0.1–1 on drives in the training towns).
    #[arg(long, default_value_t = 0.25)]
    pub network_weight: f64,
    /// The same for a lane-pose model (`--preset lanepose`), whose readings pin the lane offset
    /// sharply (0.01 localised best of 0.01–0.25 on expert drives in the held-out towns).
    #[arg(long, default_value_t = 0.01)]
    pub lane_pose_weight: f64,
    /// Errors are averaged from this many seconds into each drive.
    #[arg(long, default_value_t = 20.0)]
    pub settle_s: f64,
    /// A GIF frame every this many ticks (0: no GIF).
    #[arg(long, default_value_t = 4)]
    pub gif_every: u64,
    #[arg(long, default_value = "runs/localise")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(args: &LocaliseArgs) -> Result<ExitCode> {
    let options = LocaliseOptions {
        particles: args.particles,
        gps: args.gps_noise,
        every_ticks: args.every,
        network_weight: args.network_weight,
        lane_pose_weight: args.lane_pose_weight,
        seed: args.seed,
        ..LocaliseOptions::default()
    };
    if !(args.settle_s.is_finite() && args.settle_s >= 0.0) {
        anyhow::bail!(
            "--settle-s: {} must be a number of seconds ≥ 0",
            args.settle_s
        );
    }
    let files = crate::nn::dataset::episode_files(&args.episodes)?;
    let model = Model::load(&args.model)?;
    crate::files::create_dir_all(&args.out)?;
    let mut runs: Vec<Localisation> = Vec::new();
    println!(
        "| episode | drive s | fix error, median / p95 | odometry + GPS | with the network | real-time factor |\n|---|---|---|---|---|---|"
    );
    for file in &files {
        let episode = EpisodeReader::open(file)?;
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "episode".into());
        let mut gif = (args.gif_every > 0).then(|| {
            GifWriter::new(
                &args.out.join(format!("{stem}.gif")),
                (args.gif_every as f64 * episode.scenario.dt_s * 100.0).round() as u16,
            )
        });
        let mut tick = 0u64;
        let run = localise(&episode, &model, &options, &mut |point, filter, view| {
            if let Some(g) = gif.as_mut()
                && tick.is_multiple_of(args.gif_every)
            {
                g.push(&snapshot(view, filter, point, 240, 60.0))?;
            }
            tick += 1;
            Ok(())
        })
        .with_context(|| format!("localising {}", file.display()))?;
        if let Some(g) = gif {
            g.finish()?;
        }
        write_csv(&args.out.join(format!("{stem}.csv")), &run.points)?;
        let s = summarise(&run.points, args.settle_s);
        let drive_s = run.points.last().map_or(0.0, |p| p.t_s);
        println!(
            "| {stem} | {drive_s:.0} | {} | {} | {} | {:.1}× |",
            pair(s.fix),
            pair(s.without_network),
            pair(s.with_network),
            drive_s / run.wall_s.max(1e-9)
        );
        if let Some(cut) = &run.cut {
            println!(
                "  ({}: cut at its end: {cut}; the ticks before it were used)",
                file.display()
            );
        }
        runs.push(run);
    }
    let all = summarise(runs.iter().flat_map(|r| &r.points), args.settle_s);
    let (drive_s, wall_s): (f64, f64) = runs.iter().fold((0.0, 0.0), |a, r| {
        (a.0 + r.points.last().map_or(0.0, |p| p.t_s), a.1 + r.wall_s)
    });
    println!(
        "| all ({} ticks from {} s on) | {drive_s:.0} | {} | {} | {} | {:.1}× |",
        all.points,
        args.settle_s,
        pair(all.fix),
        pair(all.without_network),
        pair(all.with_network),
        drive_s / wall_s.max(1e-9)
    );
    println!(
        "{} particles, the network every {} tick(s) ({} evaluations in {wall_s:.1} s)",
        args.particles,
        args.every,
        runs.iter().map(|r| r.updates).sum::<u64>()
    );
    plot(&args.out.join("localise.png"), &runs)?;
    let json = serde_json::json!({
        "options": options,
        "settle_s": args.settle_s,
        "overall": all,
        "drive_s": drive_s,
        "wall_s": wall_s,
        "episodes": runs.iter().map(|r| serde_json::json!({
            "episode": r.episode,
            "summary": summarise(&r.points, args.settle_s),
            "wall_s": r.wall_s,
            "updates": r.updates,
        })).collect::<Vec<_>>(),
    });
    crate::files::write_atomic(
        &args.out.join("localise.json"),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    println!(
        "localise.json, localise.png (errors over time), a CSV and a GIF per episode in {}",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Median / 95th percentile of the position error, metres, then of the heading error, degrees.
fn pair(e: crate::drive::localise::ErrorStats) -> String {
    format!(
        "{:.2} / {:.2} m, {:.1} / {:.1}°",
        e.median_m, e.p95_m, e.median_deg, e.p95_deg
    )
}

fn write_csv(path: &std::path::Path, points: &[TrackPoint]) -> Result<()> {
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
    crate::files::write_atomic(path, text.as_bytes())?;
    Ok(())
}

/// Position and heading error over time, averaged over the episodes at each tick.
fn plot(path: &std::path::Path, runs: &[Localisation]) -> Result<()> {
    let longest = runs.iter().map(|r| r.points.len()).max().unwrap_or(0);
    let mean_at = |i: usize, of: &dyn Fn(&TrackPoint) -> f64| -> Option<(f64, f64)> {
        let here: Vec<&TrackPoint> = runs.iter().filter_map(|r| r.points.get(i)).collect();
        (!here.is_empty()).then(|| {
            (
                here[0].t_s,
                here.iter().map(|p| of(p)).sum::<f64>() / here.len() as f64,
            )
        })
    };
    let series = |f: &dyn Fn(&TrackPoint, usize) -> f64, k: usize| -> Vec<(f64, f64)> {
        (0..longest)
            .filter_map(|i| mean_at(i, &|p| f(p, k)))
            .collect()
    };
    let error = |p: &TrackPoint, k: usize| -> (f64, f64) {
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
    )?;
    Ok(())
}

/// A north-up picture `size` pixels wide of the roads within `half_extent_m` of the truth: the
/// particles (blue), the raw fix (red cross), the filter's mean (yellow), the odometry-and-GPS
/// filter's mean (orange) and the truth (white).
fn snapshot(
    view: &MapView,
    filter: &ParticleFilter,
    point: &TrackPoint,
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
