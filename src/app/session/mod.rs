//! The live driving session behind the window, on its own thread: it owns the headless [`Env`]
//! (so the frame shown in the window's inset is byte for byte the frame the network reads),
//! steps it in real time at the scenario's tick, lets the chosen driver act (keyboard, expert
//! or policy), counts interventions, records on request, and publishes a [`Snapshot`] per
//! tick. The window sends [`Command`]s and shows snapshots; neither waits for the other.

mod link;
mod messages;
mod tick;

pub use link::Link;
pub use messages::{Command, DetectionsView, Driver, LiveInference, PolicyView, Snapshot};

use crate::app::inference::{Inferred, Steering, Worker, detector_worker, policy_worker};
use crate::drive::{DriveSums, InterventionRule, Policy, Supervision};
use crate::nn::ModelDir;
use crate::nn::models::detect::Detector;
use crate::nn::models::detect::boxes::Detection;
use crate::record::{EpisodeMeta, Recorder};
use crate::sim::map_input::MapOptions;
use crate::sim::{Action, Frame, Scenario};
use crate::world::{Env, EnvOptions, Observation};
use anyhow::{Context, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a live session is set up.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    pub scenarios: Vec<Scenario>,
    pub model: Option<PathBuf>,
    /// A detector (`train-detector`) whose boxes are drawn over the network's frame.
    pub detector: Option<PathBuf>,
    /// The policy drives at the expert's speed even when its model has a speed head.
    pub expert_speed: bool,
    pub driver: Driver,
    pub seed: u64,
    /// Where window recordings go.
    pub record_dir: PathBuf,
    pub rule: InterventionRule,
}

/// Starts a live session on its own thread.
pub fn start(options: SessionOptions) -> Result<Link> {
    anyhow::ensure!(!options.scenarios.is_empty(), "no scenario to drive");
    Link::spawn("steerlab-session", move |commands, snapshots| {
        Session::new(options)?.run(&commands, &snapshots)
    })
}

/// Largest keyboard curvature, 1/m, and acceleration, m/s².
const MANUAL_MAX_CURVATURE: f64 = 0.15;
const MANUAL_ACCEL: f64 = 3.0;
const MANUAL_MAX_SPEED: f64 = 25.0;

struct Session {
    options: SessionOptions,
    /// The map the policy reads (navigation models), cut by every world built.
    map: Option<MapOptions>,
    index: usize,
    world_id: u64,
    env: Env,
    scenario: Arc<Scenario>,
    /// The observation shown, its camera frame taken out into `frame` (shared with the
    /// inference threads and the window without copies).
    obs: Observation,
    frame: Option<Arc<Frame>>,
    driver: Driver,
    worker: Option<Worker<Steering>>,
    /// The fingerprint of the policy's model, recorded with the ticks it drives.
    fingerprint: Option<String>,
    last: Option<Inferred<Steering>>,
    detector: Option<(Worker<Vec<Detection>>, Vec<String>)>,
    boxes: Option<Inferred<Vec<Detection>>>,
    manual: (f64, f64),
    manual_speed: f64,
    tally: DriveSums,
    paused: bool,
    recorder: Option<(Recorder, PathBuf, u64)>,
    message: Option<String>,
    applied: Option<Action>,
    /// Ticks between the frame the policy's last action came from and the tick it acted at.
    lag: u64,
}

impl Session {
    fn new(options: SessionOptions) -> Result<Self> {
        let (worker, map, fingerprint) = match &options.model {
            Some(dir) => {
                let policy = Policy::load(dir, crate::drive::Choice::Mode, options.seed)?
                    .with_expert_speed(options.expert_speed);
                let map = policy.map_options();
                let fingerprint = policy.fingerprint.clone();
                (Some(policy_worker(policy)?), map, Some(fingerprint))
            }
            None => (None, None, None),
        };
        let detector = match &options.detector {
            Some(dir) => {
                let detector = Detector::load(dir)?;
                let classes = detector.config.classes.clone();
                Some((detector_worker(detector)?, classes))
            }
            None => None,
        };
        let driver = if worker.is_none() && options.driver == Driver::Policy {
            Driver::Expert
        } else {
            options.driver
        };
        let scenario = options.scenarios[0].clone();
        let (env, mut obs) = Self::build(&scenario, options.seed, map)?;
        let frame = obs.frame.take().map(Arc::new);
        Ok(Self {
            manual_speed: scenario.vehicle.speed_m_s,
            scenario: Arc::new(scenario),
            index: 0,
            map,
            world_id: 0,
            env,
            obs,
            frame,
            driver,
            worker,
            fingerprint,
            last: None,
            detector,
            boxes: None,
            manual: (0.0, 0.0),
            tally: DriveSums::new(Supervision::SafetyDriver(options.rule)),
            paused: false,
            recorder: None,
            applied: None,
            lag: 0,
            message: (options.model.is_none() && options.driver == Driver::Policy)
                .then(|| "no --model given: the expert drives".to_string()),
            options,
        })
    }

    /// Shows `obs` from now on.
    fn observe(&mut self, mut obs: Observation) {
        self.frame = obs.frame.take().map(Arc::new);
        self.obs = obs;
    }

    fn build(
        scenario: &Scenario,
        seed: u64,
        map: Option<MapOptions>,
    ) -> Result<(Env, Observation)> {
        let options = EnvOptions {
            map,
            ..EnvOptions::default()
        };
        let mut env = Env::new(scenario.clone(), options)
            .with_context(|| format!("building the world of scenario {}", scenario.name))?;
        let obs = env.reset(seed)?.remove(0);
        Ok((env, obs))
    }

    fn run(mut self, commands: &Receiver<Command>, snapshots: &Sender<Snapshot>) -> Result<()> {
        let dt = Duration::from_secs_f64(self.scenario.dt_s);
        let mut next = Instant::now();
        self.publish(snapshots);
        loop {
            let wait = next.saturating_duration_since(Instant::now());
            let mut step = false;
            match commands.recv_timeout(if self.paused { dt } else { wait }) {
                Ok(Command::Quit) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(c) => {
                    step = self.command(c)?;
                    // Pausing, a new driver, a recording: shown at once, even while paused.
                    self.publish(snapshots);
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if self.paused && !step {
                continue;
            }
            if !step && Instant::now() < next {
                continue;
            }
            self.tick()?;
            self.publish(snapshots);
            // Real time, without bursts to catch up after a slow tick.
            next = (next + dt).max(Instant::now());
        }
        self.stop_recording();
        Ok(())
    }

    /// Applies a command; true when it asks for one tick now.
    fn command(&mut self, c: Command) -> Result<bool> {
        match c {
            Command::SetDriver(d) => self.set_driver(d),
            Command::CycleDriver => self.set_driver(match self.driver {
                Driver::Manual => Driver::Expert,
                Driver::Expert => Driver::Policy,
                Driver::Policy => Driver::Manual,
            }),
            Command::Manual { steer, throttle } => self.manual = (steer, throttle),
            Command::TogglePause => self.paused = !self.paused,
            Command::Step => return Ok(true),
            Command::ChooseTurn(turn) => {
                self.message = Some(match self.env.choose_turn(turn) {
                    Ok(()) => format!("next junction: {turn:?}"),
                    Err(e) => e.to_string(),
                });
            }
            Command::Reset => {
                let obs = self.env.reset(self.options.seed)?.remove(0);
                self.observe(obs);
                self.tally = DriveSums::new(Supervision::SafetyDriver(self.options.rule));
                self.manual_speed = self.scenario.vehicle.speed_m_s;
                self.last = None;
            }
            Command::NextScenario => {
                self.stop_recording();
                self.index = (self.index + 1) % self.options.scenarios.len();
                let scenario = self.options.scenarios[self.index].clone();
                // A world that fails to build leaves the current one driving.
                match Self::build(&scenario, self.options.seed, self.map) {
                    Ok((env, obs)) => {
                        self.env = env;
                        self.observe(obs);
                        self.scenario = Arc::new(scenario);
                        self.world_id += 1;
                        self.tally = DriveSums::new(Supervision::SafetyDriver(self.options.rule));
                        self.manual_speed = self.scenario.vehicle.speed_m_s;
                        self.last = None;
                        self.applied = None;
                    }
                    Err(e) => self.message = Some(format!("{e:#}")),
                }
            }
            Command::ToggleRecording => {
                if self.recorder.is_some() {
                    self.stop_recording();
                } else if let Err(e) = self.start_recording() {
                    self.message = Some(format!("{e:#}"));
                }
            }
            Command::Seek(_) | Command::SeekTo(_) | Command::Speed(_) | Command::Quit => {}
        }
        Ok(false)
    }

    fn set_driver(&mut self, d: Driver) {
        if d == Driver::Policy && self.worker.is_none() {
            self.message = Some("no policy: start with --model DIR".into());
            return;
        }
        if d == Driver::Manual {
            self.manual_speed = self.obs.state.vehicle.speed_m_s;
        }
        self.driver = d;
    }

    fn start_recording(&mut self) -> Result<()> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let path = self
            .options
            .record_dir
            .join(format!("{}_{stamp}.mcap", self.scenario.name));
        std::fs::create_dir_all(&self.options.record_dir)
            .with_context(|| format!("creating {}", self.options.record_dir.display()))?;
        let meta = EpisodeMeta::new(
            &self.scenario,
            self.options.seed,
            0,
            crate::sim::DartNoise::NONE,
        )?;
        let recorder = Recorder::start(&path, &self.scenario, &meta)
            .with_context(|| format!("starting a recording at {}", path.display()))?;
        self.message = Some(format!("recording to {}", path.display()));
        self.recorder = Some((recorder, path, 0));
        Ok(())
    }

    fn stop_recording(&mut self) {
        if let Some((recorder, path, _)) = self.recorder.take() {
            self.message = Some(match recorder.finish() {
                Ok(frames) => format!("recorded {frames} frames to {}", path.display()),
                Err(e) => format!("recording {} failed: {e}", path.display()),
            });
        }
    }
}
