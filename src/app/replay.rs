//! The replay viewer's source: an episode played back at its own tick rate (or faster or
//! slower), paused, stepped and scrubbed, each frame published as a [`Snapshot`] with the
//! recorded action, the expert's label and the recorded distribution. Frames stay PNG-encoded
//! in memory and are decoded when shown.

use crate::app::session::{Command, Driver, Link, PolicyView, Snapshot};
use crate::nn::SteeringDistribution;
use crate::record::{EpisodeReader, Step};
use crate::sim::simulation::AgentState;
use crate::sim::vehicle::VehicleState;
use crate::sim::{Frame, Vec2};
use anyhow::{Context, Result, bail};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Starts playing `path` on its own thread.
pub fn start(path: &Path) -> Result<Link> {
    let path = path.to_path_buf();
    Link::spawn("steerlab-replay", move |commands, snapshots| {
        Player::open(&path)?.run(&commands, &snapshots)
    })
}

struct Player {
    episode: EpisodeReader,
    steps: Vec<Step>,
    scenario: Arc<crate::sim::Scenario>,
    /// The recorded scenario's world, built once for the window.
    built: Result<Arc<crate::sim::built::BuiltWorld>, Arc<String>>,
    index: usize,
    playing: bool,
    speed: f64,
    message: Option<String>,
}

fn driver(name: &str) -> Driver {
    match name {
        "keyboard" => Driver::Manual,
        "policy" => Driver::Policy,
        _ => Driver::Expert,
    }
}

impl Player {
    fn open(path: &Path) -> Result<Self> {
        let episode = EpisodeReader::open(path)?;
        let mut iter = episode.steps(false)?;
        let steps: Vec<Step> = iter.by_ref().filter(|s| s.png.is_some()).collect();
        let message = iter
            .outcome()
            .cut
            .clone()
            .map(|c| format!("file cut short: {c}"));
        if steps.is_empty() {
            bail!("{}: no camera frames to play", path.display());
        }
        Ok(Self {
            built: crate::sim::built::BuiltWorld::build(&episode.scenario)
                .map_err(|e| Arc::new(e.to_string())),
            scenario: Arc::new(episode.scenario.clone()),
            episode,
            steps,
            index: 0,
            playing: true,
            speed: 1.0,
            message,
        })
    }

    fn run(mut self, commands: &Receiver<Command>, snapshots: &Sender<Snapshot>) -> Result<()> {
        let dt = self.scenario.dt_s;
        let mut next = Instant::now();
        if !self.publish(snapshots)? {
            return Ok(());
        }
        loop {
            let wait = if self.playing {
                next.saturating_duration_since(Instant::now())
            } else {
                Duration::from_millis(50)
            };
            let last = self.steps.len() - 1;
            let before = (self.index, self.playing, self.speed);
            match commands.recv_timeout(wait) {
                Ok(Command::Quit) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
                Ok(Command::TogglePause) => self.playing = !self.playing,
                Ok(Command::Step) => {
                    self.playing = false;
                    self.index = (self.index + 1).min(last);
                }
                Ok(Command::Seek(n)) => {
                    self.index = if n == i64::MIN {
                        0
                    } else {
                        (self.index as i64 + n).clamp(0, last as i64) as usize
                    };
                }
                Ok(Command::SeekTo(i)) => self.index = i.min(last),
                Ok(Command::Speed(f)) => self.speed = (self.speed * f).clamp(1.0 / 16.0, 16.0),
                Ok(Command::Reset) => self.index = 0,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    if self.playing && Instant::now() >= next {
                        if self.index == last {
                            self.playing = false;
                        } else {
                            self.index += 1;
                        }
                        next =
                            (next + Duration::from_secs_f64(dt / self.speed)).max(Instant::now());
                    }
                }
            }
            if (self.index, self.playing, self.speed) != before && !self.publish(snapshots)? {
                return Ok(());
            }
        }
    }

    /// Sends the current frame; false when the window has gone.
    fn publish(&mut self, snapshots: &Sender<Snapshot>) -> Result<bool> {
        let step = &self.steps[self.index];
        let png = step
            .png
            .as_deref()
            .expect("steps without frames were left out");
        let frame = Frame::from_png(png, step.tick, 0).with_context(|| {
            format!(
                "{}: frame of tick {}",
                self.episode.path.display(),
                step.tick
            )
        })?;
        let s = &step.state;
        let state = AgentState {
            tick: step.tick,
            vehicle: VehicleState {
                position: Vec2::new(s.x_m, s.y_m),
                heading: s.heading_rad,
                speed_m_s: s.speed_m_s,
                steer_rad: s.steer_rad,
            },
            s_m: s.s_m,
            lateral_offset_m: s.lateral_offset_m,
            heading_error_rad: s.heading_error_rad,
            ..AgentState::default()
        };
        let policy = step
            .distribution
            .as_ref()
            .and_then(|m| SteeringDistribution::from_msg(m).ok())
            .map(|distribution| PolicyView {
                chosen_per_m: step
                    .action
                    .map_or(distribution.mode(), |a| a.curvature_per_m),
                speed: step
                    .speed_distribution
                    .as_ref()
                    .and_then(|m| SteeringDistribution::from_msg(m).ok())
                    .map(|d| {
                        let chosen = step.action.map_or(d.mode(), |a| a.speed_m_s);
                        (d, chosen)
                    }),
                distribution,
                live: None,
            });
        let snapshot = Snapshot {
            world_id: 0,
            scenario: self.scenario.clone(),
            built: self.built.clone(),
            state,
            traffic: Arc::new(
                step.traffic
                    .as_ref()
                    .map(|t| t.states())
                    .unwrap_or_default(),
            ),
            frame: Arc::new(frame),
            // The recorded map patch, when the drive cut one.
            map: step
                .map_png
                .as_deref()
                .and_then(|png| Frame::from_png(png, step.tick, 0).ok())
                .map(Arc::new),
            expert: step.expert_action,
            applied: step.action,
            driver: driver(&step.driver),
            policy,
            detections: None,
            metrics: None,
            paused: !self.playing,
            recording: None,
            message: self.message.clone(),
            playback: Some((self.index, self.steps.len(), self.speed)),
        };
        // Blocking: a replay has nothing better to do than wait for the window.
        Ok(snapshots.send(snapshot).is_ok())
    }
}
