//! `steerlab record`: the expert drives scenarios headlessly, one episode file per run
//! ([`crate::drive::collect`]); `--jobs N` shares the episodes out to N worker processes of
//! this executable.

use crate::drive::collect::{self, RecordOptions, RecordProgress, RecordSummary, Shard, ShardSpec};
use crate::drive::processes;
use crate::record::store::{self, Store};
use crate::sim::Scenario;
use crate::sim::map_input::{GpsNoise, MapOptions, MapSpec};
use crate::sim::randomise::Randomisation;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Output folder for the episode files, or an object store folder (`s3://bucket/prefix`,
    /// `gs://bucket/prefix`, `file:///folder`) each finished episode is uploaded to with its
    /// SHA-256 (credentials and endpoint from `AWS_*`/`GOOGLE_*` variables).
    #[arg(long, default_value = "runs/record")]
    pub out: PathBuf,
    /// DART noise on the expert's curvature, 1/m (the recorded label stays clean).
    #[arg(long, default_value_t = 0.0)]
    pub noise: f64,
    /// Correlation time of the DART noise, seconds: 0 draws it afresh each tick (white noise,
    /// which the expert corrects at once); about 1 s lets the car wander off its line the
    /// way a learner does before the expert brings it back, so the labels show recoveries.
    #[arg(long, default_value_t = 0.0, value_name = "SECONDS")]
    pub noise_correlation: f64,
    /// DART noise on the expert's speed, m/s, with the same correlation time: the car follows
    /// closer and faster, or further and slower, than the expert would, and the clean labels
    /// show how to brake and pull away (never added where the label brakes toward a stop).
    #[arg(long, default_value_t = 0.0, value_name = "M_S")]
    pub speed_noise: f64,
    /// Factor on the curvature noise inside a junction and on the last 10 m before one: the
    /// drives wander further where no paint marks the path, and the labels show the way back.
    #[arg(long, default_value_t = 1.0, value_name = "FACTOR", value_parser = crate::cli::inputs::parse_noise_factor)]
    pub junction_noise: f64,
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
    /// Record only shard I of N of the run (`I/N`, 0 ≤ I < N): episode k of the run (scenarios
    /// in order, then episodes) belongs to shard k mod N, so N independent machines split it
    /// with no overlap and no coordination, each episode with the seed and file name it has in
    /// one run. `auto` reads I from `JOB_COMPLETION_INDEX` (a Kubernetes Indexed Job) or
    /// `SLURM_ARRAY_TASK_ID` (less `SLURM_ARRAY_TASK_MIN`), and N from `STEERLAB_SHARDS` or
    /// `SLURM_ARRAY_TASK_COUNT`.
    #[arg(long, value_name = "I/N|auto", value_parser = parse_shard)]
    pub shard: Option<ShardSpec>,
    /// The share of the episodes this process records, "W/N": set by `--jobs` on its workers.
    #[arg(long, hide = true, value_parser = parse_worker)]
    pub worker: Option<(u32, u32)>,
}

fn parse_shard(s: &str) -> Result<ShardSpec, String> {
    s.parse()
}

fn parse_worker(s: &str) -> Result<(u32, u32), String> {
    crate::drive::collect::parse_shard_index(s)
}

pub fn run(args: &RecordArgs) -> Result<ExitCode> {
    if args.worker.is_some() {
        // A worker of `--jobs`: its totals go to the parent as one JSON line.
        processes::report_summary(&record(args)?)?;
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
    // Shard I of N split among W worker processes: worker w takes the episodes k with
    // k mod (N·W) = I + N·w.
    let (i, n) = match &args.shard {
        Some(spec) => spec.resolve(&|name| std::env::var(name).ok())?,
        None => (0, 1),
    };
    let (w, jobs) = args.worker.unwrap_or((0, 1));
    let shard = Shard {
        worker: i + n * w,
        workers: n * jobs,
    };
    Ok(RecordOptions {
        scenarios,
        episodes: args.episodes,
        out: staging(&args.out),
        noise: crate::sim::DartNoise {
            std_per_m: args.noise,
            correlation_s: args.noise_correlation,
            speed_m_s: args.speed_noise,
            junction_scale: args.junction_noise,
        },
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
            ..MapOptions::default()
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
    let store = remote(args)?;
    let mut current = None;
    let mut upload_failed = None;
    let summary = collect::record(&options, &mut |event| match event {
        RecordProgress::World { scenario } => {
            progress.set_message(format!("{scenario}: building the world"))
        }
        RecordProgress::Episode { scenario, episode } => {
            current = Some(collect::episode_path(&options.out, scenario, episode));
            progress.set_message(format!("{scenario} episode {episode}"))
        }
        RecordProgress::Tick => progress.inc(1),
        RecordProgress::Written(episode) => {
            // Each finished episode goes to the store at once, then leaves the staging folder.
            if let (Some(store), Some(file), None) = (&store, &current, &upload_failed) {
                match upload(store, file) {
                    Ok(line) => progress.suspend(|| println!("{line}")),
                    Err(e) => upload_failed = Some(e),
                }
            }
            // One line per episode for the parent's progress bar.
            if worker {
                processes::report_episode(episode.frames);
            }
        }
    });
    progress.finish_and_clear();
    if let Some(e) = upload_failed {
        return Err(e.context(format!(
            "the episodes uploaded before it are in {}; the rest are in {}",
            args.out.display(),
            options.out.display()
        )));
    }
    summary.map_err(Into::into)
}

/// The object store `--out` names, when it names one.
fn remote(args: &RecordArgs) -> Result<Option<Store>> {
    match args.out.to_str().filter(|s| store::is_url(s)) {
        Some(url) => Ok(Some(Store::open(url)?)),
        None => Ok(None),
    }
}

/// Where episodes wait for their upload when `--out` is an object store URL: a folder of the
/// temporary directory named after the URL (the same for every worker of the run).
fn staging(out: &std::path::Path) -> PathBuf {
    match out.to_str().filter(|s| store::is_url(s)) {
        Some(url) => store::cache_dir(&std::env::temp_dir().join("steerlab-upload"), url),
        None => out.to_path_buf(),
    }
}

/// Uploads the episode file `file` and removes it from the staging folder.
fn upload(store: &Store, file: &std::path::Path) -> Result<String> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let done = store.upload(file, &name)?;
    std::fs::remove_file(file).with_context(|| format!("removing {}", file.display()))?;
    Ok(format!(
        "uploaded {}: {} bytes in {:.3} s ({:.1} MB/s), sha256 {}",
        done.url,
        done.bytes,
        done.seconds,
        done.bytes as f64 / 1e6 / done.seconds.max(1e-9),
        &done.sha256[..16]
    ))
}

/// Runs `args.jobs` worker processes of this executable, each recording its share of the
/// episodes in a world of its own ([`processes::record_in_processes`]).
fn record_in_workers(args: &RecordArgs) -> Result<RecordSummary> {
    let exe = std::env::current_exe().context("finding this executable to start workers")?;
    let options = options(args)?;
    crate::files::create_dir_all(&options.out)?;
    let worker = |w: u32| {
        let mut cmd = std::process::Command::new(&exe);
        cmd.arg("record")
            .args(["--episodes", &args.episodes.to_string()])
            .args(["--noise", &args.noise.to_string()])
            .args(["--noise-correlation", &args.noise_correlation.to_string()])
            .args(["--speed-noise", &args.speed_noise.to_string()])
            .args(["--junction-noise", &args.junction_noise.to_string()])
            .args(["--seed", &args.seed.to_string()])
            .arg("--out")
            .arg(&args.out)
            .args(["--worker", &format!("{w}/{}", args.jobs)]);
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
        if let Some(shard) = &args.shard {
            cmd.args(["--shard", &shard.to_string()]);
        }
        if let Some(gps) = &args.gps_noise {
            cmd.args(["--gps-noise", &gps.to_string()]);
        }
        for s in &args.scenarios {
            cmd.arg("--scenario").arg(s);
        }
        cmd
    };
    // This process's shard of the run (all of it without --shard), before the workers split it.
    let progress = frames_bar(options.ticks());
    progress.set_message(format!("{} worker processes", args.jobs));
    let summary =
        processes::record_in_processes(args.jobs, &worker, &options.files(), &args.out, &|n| {
            progress.inc(n)
        });
    progress.finish_and_clear();
    Ok(summary?)
}
