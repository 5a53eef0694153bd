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
}

/// Totals of a recording run.
#[derive(Clone, Debug, Default, PartialEq)]
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
    let summary = record(args)?;
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

/// Records every requested episode.
pub fn record(args: &RecordArgs) -> Result<RecordSummary> {
    let mut scenarios: Vec<Scenario> = super::load_scenarios(&args.scenarios)?;
    if let Some(steps) = args.steps {
        scenarios.iter_mut().for_each(|s| s.episode_steps = steps);
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let total: u64 = scenarios
        .iter()
        .map(|s| (s.episode_steps as u64 + 1) * args.episodes as u64)
        .sum();
    let progress = ProgressBar::new(total);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} frames  {per_sec}  eta {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut summary = RecordSummary::default();
    let started = Instant::now();
    for scenario in scenarios {
        let name = scenario.name.clone();
        progress.set_message(format!("{name}: building the world"));
        let options = EnvOptions {
            labels: args.labels,
            ..EnvOptions::default()
        };
        let mut env = Env::new(scenario, options).with_context(|| format!("scenario {name}"))?;
        for episode in 0..args.episodes {
            let seed = episode_seed(args.seed, &name, episode);
            let path = args.out.join(format!("{name}_{episode:03}.mcap"));
            progress.set_message(format!("{name} episode {episode}"));
            let (frames, distance, off_road) =
                record_episode(&mut env, &path, seed, episode, args.noise, &progress)
                    .with_context(|| format!("recording {}", path.display()))?;
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
