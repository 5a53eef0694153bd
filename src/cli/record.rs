//! `steerlab record`: the expert drives scenarios headlessly; one episode file per run.

use crate::drive::{DriveOptions, InterventionRule, Pilot, Supervision, drive};
use crate::sim::Scenario;
use crate::world::{Env, EnvOptions};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct RecordArgs {
    /// Scenario files; the built-in scenarios when none are given.
    #[arg(long = "scenario")]
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

/// Totals of a recording run.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RecordSummary {
    pub episodes: u32,
    pub frames: u64,
    pub distance_m: f64,
    pub off_road_events: u32,
    pub files: Vec<PathBuf>,
    pub seconds: f64,
}

/// The seed of episode `episode` of `scenario` in a run with base seed `base` (FNV-1a).
pub fn episode_seed(base: u64, scenario: &str, episode: u32) -> u64 {
    crate::sim::math::fnv1a(&[
        &base.to_le_bytes(),
        scenario.as_bytes(),
        &episode.to_le_bytes(),
    ])
}

/// Records one expert episode into `path` (the whole episode, no safety driver); returns
/// (frames, distance, off-road events).
pub fn record_episode(
    env: &mut Env,
    path: &Path,
    seed: u64,
    episode: u32,
    noise: f64,
    progress: &ProgressBar,
) -> Result<(u64, f64, u32)> {
    let options = DriveOptions {
        distance_m: f64::INFINITY,
        max_ticks: u64::MAX,
        seed,
        // Nobody intervenes and the drive goes on through crashes: the expert's recording.
        supervision: Supervision::SafetyDriver(InterventionRule {
            max_offset_m: f64::INFINITY,
            ..InterventionRule::default()
        }),
        record: Some(path.to_path_buf()),
        episode,
    };
    // The bar counts recorded ticks: the first, then one per step.
    progress.inc(1);
    let d = drive(
        env,
        &mut Pilot::Expert {
            noise_std_per_m: noise,
        },
        &options,
        &mut |_, _| progress.inc(1),
    )?;
    Ok((d.frames, d.metrics.distance_km * 1000.0, d.metrics.crashes))
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

fn scenarios_of(args: &RecordArgs) -> Result<Vec<Scenario>> {
    let mut scenarios: Vec<Scenario> = super::load_scenarios(&args.scenarios)?;
    if let Some(steps) = args.steps {
        scenarios.iter_mut().for_each(|s| s.episode_steps = steps);
    }
    Ok(scenarios)
}

fn episode_path(out: &Path, scenario: &str, episode: u32) -> PathBuf {
    out.join(format!("{scenario}_{episode:03}.mcap"))
}

/// Records every requested episode (this worker's share of them under `--worker`).
pub fn record(args: &RecordArgs) -> Result<RecordSummary> {
    let scenarios = scenarios_of(args)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let (worker, workers) = args.worker.unwrap_or((0, 1));
    // Episode `i` of the run (scenarios in order, then episodes) belongs to worker i mod N.
    let mine = |scenario: usize, episode: u32| {
        (scenario as u64 * args.episodes as u64 + episode as u64) % workers as u64 == worker as u64
    };
    let total: u64 = scenarios
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (0..args.episodes).filter(|&e| mine(i, e)).count() as u64 * (s.episode_steps as u64 + 1)
        })
        .sum();
    let progress = if args.worker.is_some() {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total)
    };
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} frames  {per_sec}  eta {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut summary = RecordSummary::default();
    let started = Instant::now();
    for (index, scenario) in scenarios.into_iter().enumerate() {
        if !(0..args.episodes).any(|e| mine(index, e)) {
            continue;
        }
        let name = scenario.name.clone();
        progress.set_message(format!("{name}: building the world"));
        let options = EnvOptions {
            labels: args.labels,
            ..EnvOptions::default()
        };
        let mut env = Env::new(scenario, options).with_context(|| format!("scenario {name}"))?;
        for episode in (0..args.episodes).filter(|&e| mine(index, e)) {
            let seed = episode_seed(args.seed, &name, episode);
            let path = episode_path(&args.out, &name, episode);
            progress.set_message(format!("{name} episode {episode}"));
            let (frames, distance, off_road) =
                record_episode(&mut env, &path, seed, episode, args.noise, &progress)
                    .with_context(|| format!("recording {}", path.display()))?;
            if args.worker.is_some() {
                // One line per episode for the parent's progress bar.
                println!("episode {frames}");
            }
            summary.episodes += 1;
            summary.frames += frames;
            summary.distance_m += distance;
            summary.off_road_events += off_road;
            summary.files.push(path);
        }
    }
    progress.finish_and_clear();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Runs `args.jobs` worker processes of this executable, each recording its share of the
/// episodes in a world of its own, and merges their totals (files in the order one process
/// would have written them). A failed worker fails the run after the others finish; every
/// episode file already written stays.
fn record_in_workers(args: &RecordArgs) -> Result<RecordSummary> {
    use std::io::BufRead;
    let exe = std::env::current_exe().context("finding this executable to start workers")?;
    let scenarios = scenarios_of(args)?;
    let planned: Vec<PathBuf> = scenarios
        .iter()
        .flat_map(|s| (0..args.episodes).map(|e| episode_path(&args.out, &s.name, e)))
        .collect();
    let total: u64 = scenarios
        .iter()
        .map(|s| (s.episode_steps as u64 + 1) * args.episodes as u64)
        .sum();
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
        if args.labels {
            cmd.arg("--labels");
        }
        for s in &args.scenarios {
            cmd.arg("--scenario").arg(s);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting worker {w} ({})", exe.display()))?;
        children.push(child);
    }
    let progress = ProgressBar::new(total);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} frames  {per_sec}  eta {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
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
            Ok(part) if status.success() => {
                summary.episodes += part.episodes;
                summary.frames += part.frames;
                summary.distance_m += part.distance_m;
                summary.off_road_events += part.off_road_events;
                summary.files.extend(part.files);
            }
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
