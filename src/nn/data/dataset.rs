//! Training data from recorded episodes: the expert's curvature at each recorded frame is the
//! label, so nothing is labelled by hand. Frames stay PNG-compressed in memory (about 1 KB each)
//! and are decoded, augmented and batched on worker threads behind bounded channels, in a fixed
//! order that depends only on the seed, the epoch and the position in the epoch.

use crate::error::{Error, Result};
pub use crate::nn::data::augment::{Augment, Jitter};
use crate::nn::data::route_blind::AnchoredTargets;
use crate::nn::data::tensors::append_chw;
pub use crate::nn::data::tensors::{commands_to_tensor, frames_to_tensor, maps_to_tensor};
use crate::nn::device;
use crate::nn::models::steering::Inputs;
use crate::nn::models::steering::config::InputSpec;
use crate::record::EpisodeReader;
use crate::record::schema::RouteMsg;
use crate::sim::Frame;
use crate::sim::map_input::Command;
use crate::sim::network::Turn;
use candle_core::Tensor;
use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use rand::{RngExt, SeedableRng, rngs::StdRng, seq::SliceRandom};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use crate::nn::data::episode_files::episode_files;
pub use crate::nn::data::sample::{EXITS_PARTED_PER_M, Sample};
use std::time::{Duration, Instant};

/// Edges (1/m) of the bands of |curvature| that balanced training draws from: straight
/// driving (radius over 100 m), gentle, medium and sharp turns (radius under 16 m).
pub const CURVATURE_BANDS_PER_M: [f64; 3] = [0.01, 0.03, 0.0625];

/// Every labelled frame of a set of episode files.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    pub samples: Vec<Sample>,
    pub episodes: Vec<PathBuf>,
    /// The scenario each episode was recorded on (its name).
    pub episode_scenarios: Vec<String>,
    /// Frame size shared by every episode: (height, width).
    pub frame_size: Option<(usize, usize)>,
    /// Files that ended early (truncated), with what was cut; their intact ticks are used.
    pub warnings: Vec<String>,
}

impl Dataset {
    /// Reads every step that has a frame from the episode files under `paths`.
    pub fn load(paths: &[PathBuf]) -> Result<Self> {
        let mut data = Dataset::default();
        for path in episode_files(paths)? {
            let reader = EpisodeReader::open(&path)?;
            let episode = data.episodes.len();
            let mut steps = reader.steps(false)?;
            for step in steps.by_ref() {
                let Some(png) = step.png else { continue };
                if let Some(info) = &step.frame_info {
                    let size = (info.height as usize, info.width as usize);
                    match data.frame_size {
                        None => data.frame_size = Some(size),
                        Some(s) if s != size => {
                            return Err(Error::Episode {
                                path,
                                message: format!(
                                    "frames are {}x{} but earlier episodes have {}x{}; record all \
                                     training episodes with the same camera.width_px/height_px",
                                    size.1, size.0, s.1, s.0
                                ),
                            });
                        }
                        Some(_) => {}
                    }
                }
                data.samples.push(Sample {
                    png: png.into(),
                    curvature_per_m: step.expert_action.curvature_per_m as f32,
                    speed_m_s: step.expert_target_speed_m_s as f32,
                    lane_offset_m: step.state.lateral_offset_m as f32,
                    heading_error_rad: step.state.heading_error_rad as f32,
                    car_speed_m_s: step.state.speed_m_s as f32,
                    wheel_speed_m_s: step.odometry.as_ref().map(|o| o.speed_m_s as f32),
                    episode,
                    tick: step.tick,
                    map_png: step.map_png.map(Into::into),
                    // The command the car's navigation system gave (recorded with the map);
                    // the route's own in files recorded before it was.
                    command: match step.map_pose.as_ref().and_then(|m| m.command) {
                        Some(command) => command,
                        None => step
                            .route
                            .as_ref()
                            .map_or(Command::Follow, RouteMsg::command),
                    },
                    exits: step.route.as_ref().map_or_else(Vec::new, |r| {
                        r.exits
                            .iter()
                            .map(|e| (e.turn, e.curvature_per_m as f32))
                            .collect()
                    }),
                });
            }
            if let Some(cut) = &steps.outcome().cut {
                data.warnings
                    .push(format!("{}: {cut}; using its intact ticks", path.display()));
            }
            data.episodes.push(path);
            data.episode_scenarios.push(reader.scenario.name.clone());
        }
        if data.samples.is_empty() {
            // Damage before the first frame says so, rather than a guess at how they were made.
            return Err(Error::InvalidArgument(if data.warnings.is_empty() {
                "the episodes hold no camera frames (were they recorded with --no-frames?)".into()
            } else {
                format!(
                    "no intact camera frame in the episodes:\n  - {}",
                    data.warnings.join("\n  - ")
                )
            }));
        }
        Ok(data)
    }

    /// Checks that frames have the size a model reads.
    pub fn check_input(&self, input: &InputSpec) -> Result<()> {
        match self.frame_size {
            Some((h, w)) if (h, w) != (input.height, input.width) => {
                Err(Error::InvalidArgument(format!(
                    "episodes hold {w}x{h} frames but the model reads {}x{}; record with \
                 camera.width_px {} and camera.height_px {} in the scenario, or pick a matching preset",
                    input.width, input.height, input.width, input.height
                )))
            }
            _ => Ok(()),
        }
    }

    /// Splits by episode within each scenario, so that every scenario is seen in training
    /// and in validation: of a scenario's episodes, about `fraction` (at least one when it has
    /// two or more) go to validation, chosen by `seed`. A scenario recorded in a single
    /// episode is split in time instead, its last `fraction` of ticks held out, so
    /// neighbouring frames do not straddle the split.
    pub fn split(&self, fraction: f64, seed: u64) -> Split {
        let mut by_scenario: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (e, name) in self.episode_scenarios.iter().enumerate() {
            by_scenario.entry(name).or_default().push(e);
        }
        let mut rng = seeded_rng(&[b"split", &seed.to_le_bytes()]);
        let mut held_episode = vec![false; self.episodes.len()];
        let mut cut_in_time = Vec::new();
        for episodes in by_scenario.values_mut() {
            let n = episodes.len();
            if n == 1 {
                cut_in_time.push(episodes[0]);
                continue;
            }
            episodes.shuffle(&mut rng);
            let held =
                ((n as f64 * fraction).round() as usize).clamp(usize::from(fraction > 0.0), n - 1);
            for &e in &episodes[..held] {
                held_episode[e] = true;
            }
        }
        // The first tick of the held-out tail of each episode split in time.
        let mut tail_from = vec![u64::MAX; self.episodes.len()];
        for e in cut_in_time {
            let ticks: Vec<u64> = self
                .samples
                .iter()
                .filter(|s| s.episode == e)
                .map(|s| s.tick)
                .collect();
            let cut = ((ticks.len() as f64) * (1.0 - fraction)).round() as usize;
            tail_from[e] = ticks.get(cut).copied().unwrap_or(u64::MAX);
        }
        let mut split = Split::default();
        for (i, s) in self.samples.iter().enumerate() {
            if held_episode[s.episode] || s.tick >= tail_from[s.episode] {
                split.validation.push(i);
            } else {
                split.train.push(i);
            }
        }
        split
    }

    /// A fixed validation set: the episodes among `held_out` validate, every other trains.
    pub fn split_by_files(&self, held_out: &[PathBuf]) -> Result<Split> {
        let held: Vec<PathBuf> = episode_files(held_out)?
            .iter()
            .map(|f| std::fs::canonicalize(f).unwrap_or_else(|_| f.clone()))
            .collect();
        let is_held: Vec<bool> = self
            .episodes
            .iter()
            .map(|e| held.contains(&std::fs::canonicalize(e).unwrap_or_else(|_| e.clone())))
            .collect();
        let mut split = Split::default();
        for (i, s) in self.samples.iter().enumerate() {
            if is_held[s.episode] {
                split.validation.push(i);
            } else {
                split.train.push(i);
            }
        }
        Ok(split)
    }

    /// The sample order of one epoch: a seeded shuffle of `indices`; with `balance`, drawn
    /// (with replacement) from the bands of [`CURVATURE_BANDS_PER_M`], apart for three zones
    /// (the road away from junctions, the approach to and the turn through a junction, and the
    /// decision ticks around the start of a turn path where the exits' labels have parted),
    /// each band's share of the epoch in proportion to the square root of its size. Sharp turns and junctions, a
    /// few percent of any drive, are then seen several times as often as in the recordings,
    /// while no band of a handful of frames is repeated hundreds of times.
    pub fn epoch_order(
        &self,
        indices: &[usize],
        balance: bool,
        seed: u64,
        epoch: usize,
    ) -> Vec<usize> {
        let mut rng = seeded_rng(&[b"epoch", &seed.to_le_bytes(), &epoch.to_le_bytes()]);
        let per_zone = CURVATURE_BANDS_PER_M.len() + 1;
        let mut bands: Vec<Vec<usize>> = vec![Vec::new(); 3 * per_zone];
        for &i in indices {
            let sample = &self.samples[i];
            let k = sample.curvature_per_m.abs() as f64;
            let band = CURVATURE_BANDS_PER_M
                .iter()
                .filter(|&&edge| k >= edge)
                .count();
            let zone = match (sample.exits_parted(), sample.command != Command::Follow) {
                (true, _) => 2,
                (false, true) => 1,
                (false, false) => 0,
            };
            bands[band + per_zone * zone].push(i);
        }
        bands.retain(|b| !b.is_empty());
        let mut order = if balance && bands.len() > 1 {
            let n = indices.len();
            let roots: Vec<f64> = bands.iter().map(|b| (b.len() as f64).sqrt()).collect();
            let total: f64 = roots.iter().sum();
            let mut drawn = Vec::with_capacity(n);
            let mut cumulative = 0.0;
            for (band, root) in bands.iter().zip(&roots) {
                let start = (cumulative / total * n as f64).round() as usize;
                cumulative += root;
                let end = (cumulative / total * n as f64).round() as usize;
                drawn.extend((start..end).map(|_| band[rng.random_range(0..band.len())]));
            }
            drawn
        } else {
            indices.to_vec()
        };
        order.shuffle(&mut rng);
        order
    }
}

/// Sample indices of the training and validation sets.
#[derive(Clone, Debug, Default)]
pub struct Split {
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
}

/// A random generator seeded from the given parts (FNV-1a of them).
fn seeded_rng(parts: &[&[u8]]) -> StdRng {
    StdRng::seed_from_u64(crate::sim::math::fnv1a(parts))
}

/// A mini-batch: the network's inputs and targets `(B,)` (1/m); for a route-blind stream,
/// also every exit's label on the component of its manoeuvre (see [`crate::nn::data::route_blind`]);
/// for a model with a speed head, the expert's speeds `(B,)` (m/s); for a model with a
/// lane-pose head, the lane pose `(B, 2)` in the head's units, clipped.
pub struct Batch {
    pub inputs: Inputs,
    pub targets: Tensor,
    pub speeds: Option<Tensor>,
    pub poses: Option<Tensor>,
    /// Each sample's weight in the speed loss (see [`StreamSpec::braking_weight`]).
    pub speed_weights: Option<Tensor>,
    pub anchored: Option<AnchoredTargets>,
    pub size: usize,
}

/// How to stream one pass over a list of samples.
#[derive(Clone, Debug)]
pub struct StreamSpec {
    pub order: Vec<usize>,
    pub batch_size: usize,
    /// Batches to skip at the start (resuming mid-epoch).
    pub skip_batches: usize,
    pub augment: Option<Augment>,
    /// Seeds the augmentation of each sample together with `epoch` and its position.
    pub seed: u64,
    pub epoch: usize,
    pub workers: usize,
    /// Also batch each sample's map patch, with this many channels (0: none).
    pub map_channels: usize,
    /// Also batch each sample's command (one-hot).
    pub commands: bool,
    /// The model is not told the route (no routed map, no command): a sample near a junction
    /// is labelled with the curvature toward one of its exits drawn uniformly (seeded by
    /// `seed`, `epoch` and the sample), the route the car could as well have been on; the
    /// batch also holds every exit's label anchored on the model's `components`.
    pub route_blind: bool,
    /// The model's mixture components (for the anchored targets of a route-blind stream).
    pub components: usize,
    /// What each sample's target is.
    pub target: crate::nn::models::steering::config::Target,
    /// Also batch the expert's speed (a model with a speed head).
    pub speed: bool,
    /// Also batch the car's wheel speed (a speed head that reads it).
    pub wheel_speed: bool,
    /// With `speed`: weigh each sample's speed loss, this much for a frame where the expert
    /// brakes ([`crate::nn::models::steering::speed::BRAKING_M_S`] or more below the car's speed), 1 for others.
    pub braking_weight: Option<f64>,
    /// Also batch the lane pose (a model with a lane-pose head).
    pub pose: bool,
}

/// Batches in order, prepared by worker threads; at most `2 × workers` batches are in flight.
pub struct BatchStream {
    jobs: Sender<(usize, Vec<usize>)>,
    results: Receiver<(usize, Result<Batch>)>,
    pending: BTreeMap<usize, Result<Batch>>,
    plan: std::vec::IntoIter<(usize, Vec<usize>)>,
    next: usize,
    end: usize,
    /// Time the consumer spent waiting for a batch that was not ready.
    pub waited: Duration,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl BatchStream {
    pub fn new(data: Arc<Dataset>, spec: StreamSpec) -> Self {
        let batches: Vec<(usize, Vec<usize>)> = spec
            .order
            .chunks(spec.batch_size.max(1))
            .enumerate()
            .skip(spec.skip_batches)
            .map(|(i, c)| (i, c.to_vec()))
            .collect();
        let (first, end) = (spec.skip_batches, spec.skip_batches + batches.len());
        let (jobs, job_rx) = unbounded::<(usize, Vec<usize>)>();
        let workers = spec.workers.max(1);
        let (result_tx, results) = bounded(2 * workers);
        let handles = (0..workers)
            .map(|_| {
                let (job_rx, result_tx, data, spec) = (
                    job_rx.clone(),
                    result_tx.clone(),
                    data.clone(),
                    spec.clone(),
                );
                std::thread::spawn(move || {
                    for (number, indices) in job_rx {
                        let batch = make_batch(&data, &indices, &spec, number);
                        if result_tx.send((number, batch)).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        let mut stream = Self {
            jobs,
            results,
            pending: BTreeMap::new(),
            plan: batches.into_iter(),
            next: first,
            end,
            waited: Duration::ZERO,
            workers: handles,
        };
        for _ in 0..2 * workers {
            stream.issue();
        }
        stream
    }

    fn issue(&mut self) {
        if let Some(job) = self.plan.next() {
            let _ = self.jobs.send(job);
        }
    }

    /// Number of batches still to come.
    pub fn remaining(&self) -> usize {
        self.end - self.next
    }
}

impl Iterator for BatchStream {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.next >= self.end {
            return None;
        }
        let started = Instant::now();
        let mut blocked = false;
        let batch = loop {
            if let Some(b) = self.pending.remove(&self.next) {
                break b;
            }
            blocked = true;
            match self.results.recv() {
                Ok((n, b)) => {
                    self.pending.insert(n, b);
                }
                Err(_) => break Err(Error::Tensor("batch workers stopped".into())),
            }
        };
        if blocked {
            self.waited += started.elapsed();
        }
        self.next += 1;
        self.issue();
        Some(batch)
    }
}

impl Drop for BatchStream {
    fn drop(&mut self) {
        // Close the job queue and drain results so blocked workers can exit.
        let (closed, _) = unbounded();
        self.jobs = closed;
        for handle in self.workers.drain(..) {
            while !handle.is_finished() {
                while self.results.try_recv().is_ok() {}
                std::thread::sleep(Duration::from_millis(1));
            }
            let _ = handle.join();
        }
    }
}

fn make_batch(
    data: &Dataset,
    indices: &[usize],
    spec: &StreamSpec,
    number: usize,
) -> Result<Batch> {
    let (h, w) = data.frame_size.unwrap_or((0, 0));
    let mut images = Vec::with_capacity(indices.len() * 3 * h * w);
    let mut targets = Vec::with_capacity(indices.len());
    for (k, &i) in indices.iter().enumerate() {
        let sample = &data.samples[i];
        let frame = Frame::from_png(&sample.png, sample.tick, 0).map_err(|e| Error::Episode {
            path: data.episodes[sample.episode].clone(),
            message: format!("tick {}: {e}", sample.tick),
        })?;
        if (frame.height as usize, frame.width as usize) != (h, w) {
            return Err(Error::Episode {
                path: data.episodes[sample.episode].clone(),
                message: format!(
                    "tick {}: frame is {}x{}, expected {w}x{h}",
                    sample.tick, frame.width, frame.height
                ),
            });
        }
        let start = images.len();
        append_chw(&frame, &mut images);
        if let Some(augment) = &spec.augment {
            let position = number * spec.batch_size + k;
            let mut rng = seeded_rng(&[
                b"augment",
                &spec.seed.to_le_bytes(),
                &spec.epoch.to_le_bytes(),
                &position.to_le_bytes(),
            ]);
            augment.apply(&mut images[start..], &mut rng);
        }
        targets.push(match (&sample.exits[..], spec.route_blind) {
            _ if spec.target == crate::nn::models::steering::config::Target::LaneOffset => {
                sample.lane_offset_m
            }
            (exits, true) if !exits.is_empty() => {
                let mut rng = seeded_rng(&[
                    b"exit",
                    &spec.seed.to_le_bytes(),
                    &spec.epoch.to_le_bytes(),
                    &i.to_le_bytes(),
                ]);
                exits[rng.random_range(0..exits.len())].1
            }
            _ => sample.curvature_per_m,
        });
    }
    let size = indices.len();
    let maps = if spec.map_channels > 0 {
        let patches = indices
            .iter()
            .map(|&i| {
                let sample = &data.samples[i];
                let in_episode = |message: String| Error::Episode {
                    path: data.episodes[sample.episode].clone(),
                    message: format!("tick {}: {message}", sample.tick),
                };
                let png = sample.map_png.as_ref().ok_or_else(|| {
                    in_episode(
                        "no map patch recorded; record with a map (`--map`) to train a model \
                         that reads one"
                            .into(),
                    )
                })?;
                Frame::from_png(png, sample.tick, 0).map_err(|e| in_episode(e.to_string()))
            })
            .collect::<Result<Vec<Frame>>>()?;
        let refs: Vec<&Frame> = patches.iter().collect();
        Some(maps_to_tensor(&refs, spec.map_channels)?)
    } else {
        None
    };
    let commands = if spec.commands {
        let c: Vec<Command> = indices.iter().map(|&i| data.samples[i].command).collect();
        Some(commands_to_tensor(&c)?)
    } else {
        None
    };
    let anchored = if spec.route_blind {
        let exits: Vec<&[(Turn, f32)]> = indices
            .iter()
            .map(|&i| &data.samples[i].exits[..])
            .collect();
        Some(AnchoredTargets::new(&exits, spec.components)?)
    } else {
        None
    };
    let speeds = if spec.speed {
        let v: Vec<f32> = indices.iter().map(|&i| data.samples[i].speed_m_s).collect();
        Some(Tensor::from_vec(v, size, &device())?)
    } else {
        None
    };
    let speed_weights = match spec.braking_weight {
        Some(w) if spec.speed => {
            let weights: Vec<f32> = indices
                .iter()
                .map(|&i| {
                    let s = &data.samples[i];
                    let braking = (s.speed_m_s as f64)
                        <= s.car_speed_m_s as f64 - crate::nn::models::steering::speed::BRAKING_M_S;
                    if braking { w as f32 } else { 1.0 }
                })
                .collect();
            Some(Tensor::from_vec(weights, size, &device())?)
        }
        _ => None,
    };
    let wheel_speeds = if spec.wheel_speed {
        let v = indices
            .iter()
            .map(|&i| {
                let sample = &data.samples[i];
                sample.wheel_speed_m_s.ok_or_else(|| Error::Episode {
                    path: data.episodes[sample.episode].clone(),
                    message: format!(
                        "tick {}: no wheel speed recorded (the file predates `/odometry`); \
                         record it again to train a model that reads the wheel speed, or train \
                         without --wheel-speed",
                        sample.tick
                    ),
                })
            })
            .collect::<Result<Vec<f32>>>()?;
        Some(Tensor::from_vec(v, (size, 1), &device())?)
    } else {
        None
    };
    let poses = if spec.pose {
        let v: Vec<f32> = indices
            .iter()
            .flat_map(|&i| data.samples[i].pose_units())
            .collect();
        Some(Tensor::from_vec(v, (size, 2), &device())?)
    } else {
        None
    };
    Ok(Batch {
        speeds,
        speed_weights,
        poses,
        inputs: Inputs {
            images: Tensor::from_vec(images, (size, 3, h, w), &device())?,
            maps,
            commands,
            wheel_speeds,
        },
        targets: Tensor::from_vec(targets, size, &device())?,
        anchored,
        size,
    })
}
