//! `steerlab record`: the expert drives scenarios headlessly, one episode file per run
//! ([`crate::drive::collect`]); `--jobs N` shares the episodes out to N worker processes of
//! this executable.

use crate::drive::collect::{self, RecordOptions, RecordProgress, RecordSummary, Shard};
use crate::sim::Scenario;
use crate::sim::map_input::{GpsNoise, MapOptions, MapSpec};
use crate::sim::randomise::Randomisation;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct RecordArgs {
    /// Scenario files; the built-in scenarios when none are given.
    #[arg(long = "scenario", num_args = 1..)]
    pub scenarios: Vec<PathBuf>,
    /// Episodes per scenario.
    #[arg(long, default_value_t = 1)]
    pub episodes: u32,
    /// Ticks per episode (default: each scenario's episode length).
    #[arg(long)]
    pub steps: Option<u32>,
    /// Output folder for the episode files.
    #[arg(long, default_value = "runs/record")]
    pub out: PathBuf,
    /// DART noise on the expert's curvature, 1/m (the recorded label stays clean).
    #[arg(long, default_value_t = 0.0)]
    pub noise: f64,
    /// Base seed; each episode's seed is derived from it, the scenario and the episode number.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also record each frame's labels: the class mask and the boxes of visible objects.
    #[arg(long)]
    pub labels: bool,
    /// Worker processes, one world each, sharing the episodes out (for machines with more
    /// cores than one world keeps busy). Episodes and their seeds do not depend on it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: u32,
    /// Domain randomisation: each episode's light, fog, road, props, camera mount, speed and
    /// curviness drawn from a preset (`default`) or a ranges file (`scenarios/randomise/*.ron`),
    /// seeded by the episode's seed; the drawn scenario is saved in the episode.
    #[arg(long, num_args = 0..=1, default_missing_value = "default", value_name = "PRESET|FILE")]
    pub randomise: Option<String>,
    /// Also record each tick's map patch: the drivable area and the route ahead around the car
    /// (64 × 64 over ±40 m), the input a `navnet` model reads beside the camera.
    #[arg(long)]
    pub map: bool,
    /// Cut the map patches at a GPS fix this wrong: `σ_pos,σ_heading` in metres and degrees
    /// (and optionally the error's correlation time in seconds, 10 by default).
    #[arg(long, value_name = "σ_POS,σ_HEADING", requires = "map")]
    pub gps_noise: Option<GpsNoise>,
    /// The share of the episodes this process records, "W/N": set by `--jobs` on its workers.
    #[arg(long, hide = true, value_parser = parse_worker)]
    pub worker: Option<(u32, u32)>,
}

fn parse_worker(s: &str) -> Result<(u32, u32), String> {
    let parsed = s
        .split_once('/')
        .and_then(|(w, n)| Some((w.parse::<u32>().ok()?, n.parse::<u32>().ok()?)));
    match parsed {
        Some((w, n)) if w < n => Ok((w, n)),
        _ => Err(format!("expected W/N with W < N, got {s:?}")),
    }
}

pub fn run(args: &RecordArgs) -> Result<ExitCode> {
    if args.worker.is_some() {
        // A worker of `--jobs`: its totals go to the parent as one JSON line.
        let summary = record(args)?;
        println!("summary {}", serde_json::to_string(&summary)?);
        return Ok(ExitCode::SUCCESS);
    }
    let summary = if args.jobs > 1 {
        record_in_workers(args)?
    } else {
        record(args)?
    };
    println!(
        "recorded {} episodes, {} frames, {:.2} km, {} off-road events in {:.1} s ({:.1} frames/s) into {}",
        summary.episodes,
        summary.frames,
        summary.distance_m / 1000.0,
        summary.off_road_events,
        summary.seconds,
        summary.frames as f64 / summary.seconds.max(1e-9),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The run `args` describe, for this process's share of the episodes.
fn options(args: &RecordArgs) -> Result<RecordOptions> {
    let mut scenarios: Vec<Scenario> = super::inputs::load_scenarios(&args.scenarios)?;
    if let Some(steps) = args.steps {
        scenarios.iter_mut().for_each(|s| s.episode_steps = steps);
    }
    let shard = match args.worker {
        Some((worker, workers)) => Shard { worker, workers },
        None => Shard::default(),
    };
    Ok(RecordOptions {
        scenarios,
        episodes: args.episodes,
        out: args.out.clone(),
        noise_std_per_m: args.noise,
        seed: args.seed,
        labels: args.labels,
        shard,
        randomise: args
            .randomise
            .as_deref()
            .map(Randomisation::named)
            .transpose()?,
        map: args.map.then(|| MapOptions {
            spec: MapSpec::default(),
            gps: args.gps_noise,
        }),
    })
}

fn frames_bar(total: u64) -> ProgressBar {
    let progress = ProgressBar::new(total);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} frames  {per_sec}  eta {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    progress
}

/// Records this process's share of the episodes, with a progress bar (a line per episode
/// for the parent under `--worker`).
fn record(args: &RecordArgs) -> Result<RecordSummary> {
    let options = options(args)?;
    let worker = args.worker.is_some();
    let progress = if worker {
        ProgressBar::hidden()
    } else {
        frames_bar(options.ticks())
    };
    let summary = collect::record(&options, &mut |event| match event {
        RecordProgress::World { scenario } => {
            progress.set_message(format!("{scenario}: building the world"))
        }
        RecordProgress::Episode { scenario, episode } => {
            progress.set_message(format!("{scenario} episode {episode}"))
        }
        RecordProgress::Tick => progress.inc(1),
        // One line per episode for the parent's progress bar.
        RecordProgress::Written(episode) if worker => println!("episode {}", episode.frames),
        RecordProgress::Written(_) => {}
    })?;
    progress.finish_and_clear();
    Ok(summary)
}

/// Runs `args.jobs` worker processes of this executable, each recording its share of the
/// episodes in a world of its own, and merges their totals (files in the order one process
/// would have written them). A failed worker fails the run after the others finish; every
/// episode file already written stays.
fn record_in_workers(args: &RecordArgs) -> Result<RecordSummary> {
    use std::io::BufRead;
    let exe = std::env::current_exe().context("finding this executable to start workers")?;
    let options = options(args)?;
    let planned = options.files();
    let total = RecordOptions {
        shard: Shard::default(),
        ..options
    }
    .ticks();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let started = Instant::now();
    let mut children = Vec::new();
    for w in 0..args.jobs {
        let mut cmd = std::process::Command::new(&exe);
        cmd.arg("record")
            .args(["--episodes", &args.episodes.to_string()])
            .args(["--noise", &args.noise.to_string()])
            .args(["--seed", &args.seed.to_string()])
            .arg("--out")
            .arg(&args.out)
            .args(["--worker", &format!("{w}/{}", args.jobs)])
            .stdout(std::process::Stdio::piped());
        if let Some(steps) = args.steps {
            cmd.args(["--steps", &steps.to_string()]);
        }
        if let Some(ranges) = &args.randomise {
            cmd.args(["--randomise", ranges]);
        }
        if args.labels {
            cmd.arg("--labels");
        }
        if args.map {
            cmd.arg("--map");
        }
        if let Some(gps) = &args.gps_noise {
            cmd.args(["--gps-noise", &gps.to_string()]);
        }
        for s in &args.scenarios {
            cmd.arg("--scenario").arg(s);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting worker {w} ({})", exe.display()))?;
        children.push(child);
    }
    let progress = frames_bar(total);
    progress.set_message(format!("{} worker processes", args.jobs));
    let readers: Vec<_> = children
        .iter_mut()
        .map(|child| {
            let stdout = child.stdout.take().expect("piped");
            let progress = progress.clone();
            std::thread::spawn(move || {
                let mut last = String::new();
                for line in std::io::BufReader::new(stdout).lines() {
                    let line = line.unwrap_or_default();
                    if let Some(frames) = line.strip_prefix("episode ") {
                        progress.inc(frames.parse().unwrap_or(0));
                    }
                    last = line;
                }
                last
            })
        })
        .collect();
    let mut summary = RecordSummary::default();
    let mut failures = Vec::new();
    for (w, (mut child, reader)) in children.into_iter().zip(readers).enumerate() {
        let last = reader.join().unwrap_or_default();
        let status = child
            .wait()
            .with_context(|| format!("waiting for worker {w}"))?;
        let part = last.strip_prefix("summary ").unwrap_or_default();
        match serde_json::from_str::<RecordSummary>(part) {
            Ok(part) if status.success() => summary.add(part),
            _ => failures.push(format!("worker {w} ({status})")),
        }
    }
    if !failures.is_empty() {
        anyhow::bail!(
            "{} of {} workers failed: {} (their errors are above; the {} episodes the others \
             wrote are in {})",
            failures.len(),
            args.jobs,
            failures.join(", "),
            summary.episodes,
            args.out.display()
        );
    }
    progress.finish_and_clear();
    // The order one process writes them in: scenarios as given, then episodes.
    summary
        .files
        .sort_by_key(|f| planned.iter().position(|p| p == f));
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}
