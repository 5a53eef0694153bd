//! Expert episode collection: the expert drives scenarios headlessly, one episode file per
//! drive. A run is split into shards (worker `w` of `n` records the episodes whose index, in
//! the order scenarios then episodes, is `w` modulo `n`), so worker processes need no
//! coordinator, and the episodes, their seeds and their file names do not depend on how many
//! workers share them.

use crate::drive::{DriveOptions, InterventionRule, Pilot, Supervision, drive};
use crate::error::{Error, Result};
use crate::sim::built::BuiltWorld;
use crate::sim::map_input::MapOptions;
use crate::sim::randomise::Randomisation;
use crate::sim::{DartNoise, Scenario};
use crate::world::{Env, EnvOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What a recording run records.
#[derive(Clone, Debug)]
pub struct RecordOptions {
    /// The scenarios, each driven for its `episode_steps` ticks.
    pub scenarios: Vec<Scenario>,
    /// Episodes per scenario.
    pub episodes: u32,
    /// Output folder for the episode files (created when missing).
    pub out: PathBuf,
    /// DART noise on what the expert applies (the recorded labels stay clean).
    pub noise: DartNoise,
    /// Base seed; each episode's seed is derived from it, the scenario and the episode number.
    pub seed: u64,
    /// Also record each frame's labels: the class mask and the boxes of visible objects.
    pub labels: bool,
    /// The share of the episodes this process records.
    pub shard: Shard,
    /// Draw each episode's scenario from these ranges, seeded by the episode's seed (its
    /// file then holds the drawn scenario).
    pub randomise: Option<Randomisation>,
    /// Also cut and record each tick's map patch (the navigation network's map input).
    pub map: Option<MapOptions>,
}

/// One worker's share of a run: episode `i` of the run (scenarios in order, then episodes)
/// belongs to worker `i mod workers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub worker: u32,
    pub workers: u32,
}

impl Default for Shard {
    /// The whole run in one process.
    fn default() -> Self {
        Self {
            worker: 0,
            workers: 1,
        }
    }
}

impl Shard {
    /// Whether episode `episode` of the `scenario`-th scenario, in a run of `episodes` per
    /// scenario, is this shard's.
    pub fn owns(&self, scenario: usize, episode: u32, episodes: u32) -> bool {
        let index = scenario as u64 * episodes as u64 + episode as u64;
        index % self.workers.max(1) as u64 == self.worker as u64
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

impl RecordSummary {
    /// Adds another shard's episodes, frames, distance, events and files (not its time).
    pub fn add(&mut self, other: RecordSummary) {
        self.episodes += other.episodes;
        self.frames += other.frames;
        self.distance_m += other.distance_m;
        self.off_road_events += other.off_road_events;
        self.files.extend(other.files);
    }
}

/// What one recorded episode holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecordedEpisode {
    pub frames: u64,
    pub distance_m: f64,
    pub off_road_events: u32,
}

/// What [`record`] is doing, for a progress display.
#[derive(Clone, Copy, Debug)]
pub enum RecordProgress<'a> {
    /// Building the world of a scenario.
    World { scenario: &'a str },
    /// Starting an episode.
    Episode { scenario: &'a str, episode: u32 },
    /// One recorded tick.
    Tick,
    /// An episode file was written.
    Written(&'a RecordedEpisode),
}

/// The seed of episode `episode` of `scenario` in a run with base seed `base` (FNV-1a).
pub fn episode_seed(base: u64, scenario: &str, episode: u32) -> u64 {
    crate::sim::math::fnv1a(&[
        &base.to_le_bytes(),
        scenario.as_bytes(),
        &episode.to_le_bytes(),
    ])
}

/// The file episode `episode` of `scenario` is recorded into.
pub fn episode_path(out: &Path, scenario: &str, episode: u32) -> PathBuf {
    out.join(format!("{scenario}_{episode:03}.mcap"))
}

impl RecordOptions {
    /// Ticks this shard records: the first of each episode, then one per step.
    pub fn ticks(&self) -> u64 {
        self.scenarios
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mine = (0..self.episodes)
                    .filter(|&e| self.shard.owns(i, e, self.episodes))
                    .count() as u64;
                mine * (s.episode_steps as u64 + 1)
            })
            .sum()
    }

    /// The files of the whole run (every shard's), in the order one process writes them.
    pub fn files(&self) -> Vec<PathBuf> {
        self.scenarios
            .iter()
            .flat_map(|s| (0..self.episodes).map(|e| episode_path(&self.out, &s.name, e)))
            .collect()
    }
}

/// Records one expert episode into `path` (the whole episode, no safety driver);
/// `on_tick` is called for every recorded tick.
pub fn record_episode(
    env: &mut Env,
    path: &Path,
    seed: u64,
    episode: u32,
    noise: DartNoise,
    on_tick: &mut dyn FnMut(),
) -> Result<RecordedEpisode> {
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
        localise: None,
    };
    // The first tick is recorded before the first step.
    on_tick();
    let d = drive(env, &mut Pilot::Expert(noise), &options, &mut |_, _| {
        on_tick()
    })?;
    Ok(RecordedEpisode {
        frames: d.frames,
        distance_m: d.metrics.distance_km * 1000.0,
        off_road_events: d.metrics.crashes,
    })
}

/// Records this shard's episodes, one world per scenario, into `options.out`.
pub fn record(
    options: &RecordOptions,
    progress: &mut dyn FnMut(RecordProgress),
) -> Result<RecordSummary> {
    crate::files::create_dir_all(&options.out)?;
    let (episodes, shard) = (options.episodes, options.shard);
    let mut summary = RecordSummary::default();
    let started = Instant::now();
    for (index, scenario) in options.scenarios.iter().enumerate() {
        let mine: Vec<u32> = (0..episodes)
            .filter(|&e| shard.owns(index, e, episodes))
            .collect();
        if mine.is_empty() {
            continue;
        }
        let name = scenario.name.as_str();
        progress(RecordProgress::World { scenario: name });
        let env_options = EnvOptions {
            labels: options.labels,
            map: options.map,
            ..EnvOptions::default()
        };
        // One world for the scenario, or one per episode when each draws its own.
        let mut world: Option<Env> = None;
        for episode in mine {
            let seed = episode_seed(options.seed, name, episode);
            let path = episode_path(&options.out, name, episode);
            progress(RecordProgress::Episode {
                scenario: name,
                episode,
            });
            if options.randomise.is_some() {
                world = None;
            }
            if world.is_none() {
                let (drawn, built) = match &options.randomise {
                    Some(ranges) => {
                        let d = ranges.draw(scenario, seed)?;
                        (d.scenario, d.world)
                    }
                    None => (scenario.clone(), BuiltWorld::validated(scenario)?),
                };
                // A randomised episode draws its localisation error too, unless one was given.
                let mut env_options = env_options.clone();
                if let (Some(ranges), Some(map)) = (&options.randomise, env_options.map.as_mut())
                    && map.gps.is_none()
                {
                    let (gps, dropouts) = ranges.draw_localisation(seed);
                    map.gps = Some(gps);
                    map.dropouts = dropouts;
                }
                let env = Env::in_world(drawn, built, env_options)
                    .map_err(|e| e.context(format!("scenario {name}, episode {episode}")))?;
                world = Some(env);
            }
            let Some(env) = world.as_mut() else { continue };
            let recorded = record_episode(env, &path, seed, episode, options.noise, &mut || {
                progress(RecordProgress::Tick)
            })
            .map_err(|e| e.context(format!("recording {}", path.display())))?;
            progress(RecordProgress::Written(&recorded));
            summary.add(RecordSummary {
                episodes: 1,
                frames: recorded.frames,
                distance_m: recorded.distance_m,
                off_road_events: recorded.off_road_events,
                files: vec![path],
                seconds: 0.0,
            });
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_share_every_episode_out_exactly_once() {
        for workers in 1..5 {
            for scenario in 0..3 {
                for episode in 0..4 {
                    let owners = (0..workers)
                        .filter(|&worker| Shard { worker, workers }.owns(scenario, episode, 4))
                        .count();
                    assert_eq!(owners, 1, "{workers} workers, episode {scenario}/{episode}");
                }
            }
        }
    }
}

/// Which shard a recording process takes: a fixed one, or one read from the cluster's
/// environment when the run starts (a Kubernetes Indexed Job, a Slurm job array).
#[derive(Clone, Debug, PartialEq)]
pub enum ShardSpec {
    Fixed(u32, u32),
    Auto,
}

impl std::fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShardSpec::Fixed(i, n) => write!(f, "{i}/{n}"),
            ShardSpec::Auto => f.write_str("auto"),
        }
    }
}

impl std::str::FromStr for ShardSpec {
    type Err = String;

    /// `I/N` (0 ≤ I < N) or `auto`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s == "auto" {
            return Ok(ShardSpec::Auto);
        }
        parse_shard_index(s)
            .map(|(i, n)| ShardSpec::Fixed(i, n))
            .map_err(|_| format!("expected I/N with 0 <= I < N, or auto; got {s:?}"))
    }
}

impl ShardSpec {
    /// The shard (index, count) this process records; `env` reads an environment variable.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<(u32, u32)> {
        let (i, n) = match self {
            ShardSpec::Fixed(i, n) => return Ok((*i, *n)),
            ShardSpec::Auto => (
                env("JOB_COMPLETION_INDEX").or_else(|| {
                    let id: i64 = env("SLURM_ARRAY_TASK_ID")?.parse().ok()?;
                    let min: i64 = env("SLURM_ARRAY_TASK_MIN")
                        .and_then(|m| m.parse().ok())
                        .unwrap_or(0);
                    Some((id - min).to_string())
                }),
                env("STEERLAB_SHARDS").or_else(|| env("SLURM_ARRAY_TASK_COUNT")),
            ),
        };
        let invalid = |m: String| Error::InvalidArgument(m);
        let Some(i) = i else {
            return Err(invalid(
                "--shard auto: no shard index in the environment; set JOB_COMPLETION_INDEX (a \
                 Kubernetes Indexed Job sets it) or SLURM_ARRAY_TASK_ID (a Slurm job array), or \
                 give --shard I/N"
                    .into(),
            ));
        };
        let Some(n) = n else {
            return Err(invalid(
                "--shard auto: no shard count in the environment; set STEERLAB_SHARDS to the \
                 number of shards (the Job's completions), or give --shard I/N"
                    .into(),
            ));
        };
        parse_shard_index(&format!("{}/{}", i.trim(), n.trim())).map_err(|e| {
            invalid(format!(
                "--shard auto read index {i:?} and count {n:?}: {e}"
            ))
        })
    }
}

/// `W/N` with W < N: a shard (or worker) index and the count.
pub fn parse_shard_index(s: &str) -> std::result::Result<(u32, u32), String> {
    let parsed = s
        .split_once('/')
        .and_then(|(w, n)| Some((w.parse::<u32>().ok()?, n.parse::<u32>().ok()?)));
    match parsed {
        Some((w, n)) if w < n => Ok((w, n)),
        _ => Err(format!("expected W/N with W < N, got {s:?}")),
    }
}
