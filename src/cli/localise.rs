//! `steerlab localise`: where the car of recorded episodes was, from a noisy GPS fix, its
//! odometry and the steering network's posterior under candidate map patches (see
//! `drive::localise`); errors against the truth over time, a table, a plot and a GIF.

use crate::drive::localise::files::{plot_errors, snapshot, write_csv, write_summary};
use crate::drive::localise::{Localisation, LocaliseOptions, localise, summarise};
use crate::nn::{Model, ModelDir};
use crate::record::EpisodeReader;
use crate::report::gif::GifWriter;
use crate::sim::map_input::GpsNoise;
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
    let files = crate::nn::data::dataset::episode_files(&args.episodes)?;
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
                let shot = snapshot(view, filter, point, 240, 60.0);
                g.push(shot.width, shot.height, &shot.rgb)?;
            }
            tick += 1;
            Ok(())
        })
        .with_context(|| format!("localising {}", file.display()))?;
        if let Some(g) = gif {
            println!("wrote {}", g.finish().display());
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
    plot_errors(&args.out.join("localise.png"), &runs)?;
    write_summary(
        &args.out.join("localise.json"),
        &options,
        args.settle_s,
        &runs,
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
