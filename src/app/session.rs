//! The live driving session behind the window, on its own thread: it owns the headless [`Env`]
//! (so the frame shown in the window's inset is byte for byte the frame the network reads),
//! steps it in real time at the scenario's tick, lets the chosen driver act (keyboard, expert
//! or policy), counts interventions, records on request, and publishes a [`Snapshot`] per
//! tick. The window sends [`Command`]s and shows snapshots; neither waits for the other.

use crate::app::inference::{Inferred, Steering, Worker, detector_worker, policy_worker};
use crate::drive::{InterventionRule, Metrics, Policy, Supervision, Tally, TickOutcome, Verdict};
use crate::nn::ModelDir;
use crate::nn::SteeringDistribution;
use crate::nn::boxes::Detection;
use crate::nn::detect::Detector;
use crate::record::schema::{ActionMsg, DriverMsg};
use crate::record::{EpisodeMeta, Recorder, StepRecord};
use crate::sim::simulation::AgentState;
use crate::sim::{Action, Frame, Scenario};
use crate::world::{Env, EnvOptions, Observation};
use anyhow::{Context, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded, unbounded};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Who drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Driver {
    /// The keyboard (arrows or WASD).
    Manual,
    /// The privileged expert (pure pursuit on the centreline).
    Expert,
    /// The trained policy, from the camera frame.
    Policy,
}

impl Driver {
    pub fn name(&self) -> &'static str {
        match self {
            Driver::Manual => "manual",
            Driver::Expert => "expert",
            Driver::Policy => "policy",
        }
    }

    /// The name episodes record for this driver.
    fn recorded(&self) -> &'static str {
        match self {
            Driver::Manual => "keyboard",
            Driver::Expert => "expert",
            Driver::Policy => "policy",
        }
    }
}

/// What the window asks of a session (or of a replay).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Command {
    SetDriver(Driver),
    CycleDriver,
    /// Keyboard state: steering −1 (right) … 1 (left), throttle −1 (brake) … 1.
    Manual {
        steer: f64,
        throttle: f64,
    },
    TogglePause,
    /// One tick while paused (one frame of a replay).
    Step,
    /// Frames to move a paused or playing replay by (negative: back).
    Seek(i64),
    /// The replay frame to show (clamped to the last).
    SeekTo(usize),
    /// Replay speed factor to multiply by.
    Speed(f64),
    Reset,
    NextScenario,
    ToggleRecording,
    Quit,
}

/// The policy's side of a tick, as the HUD shows it.
#[derive(Clone, Debug)]
pub struct PolicyView {
    pub distribution: SteeringDistribution,
    /// The curvature the policy chose, 1/m.
    pub chosen_per_m: f64,
    /// How inference is keeping up (live sessions only).
    pub live: Option<LiveInference>,
}

/// How the inference thread keeps up with the frames.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LiveInference {
    /// Ticks between the frame the action came from and the tick it was applied at.
    pub frame_lag: u64,
    pub latency_ms: f64,
    pub offered: u64,
    pub skipped: u64,
}

/// The detector's boxes for the frame shown (from the newest frame it has finished).
#[derive(Clone, Debug)]
pub struct DetectionsView {
    /// Each detection, best first, with its class name.
    pub boxes: Vec<(Detection, String)>,
    /// The detector's classes (box colours follow their order).
    pub classes: Vec<String>,
    pub latency_ms: f64,
    /// Ticks between the frame detected and the tick shown.
    pub frame_lag: u64,
}

/// One tick as the window shows it.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Changes whenever the world changes (another scenario); the window rebuilds on a change.
    pub world_id: u64,
    pub scenario: Arc<Scenario>,
    pub state: AgentState,
    /// The network's camera frame of this tick.
    pub frame: Arc<Frame>,
    pub expert: Action,
    /// The action applied from this tick on.
    pub applied: Option<Action>,
    pub driver: Driver,
    pub policy: Option<PolicyView>,
    pub detections: Option<DetectionsView>,
    /// The drive so far (live sessions only).
    pub metrics: Option<Metrics>,
    pub paused: bool,
    /// The file being recorded, with frames so far.
    pub recording: Option<(PathBuf, u64)>,
    /// A line for the HUD (the last file written, an error…).
    pub message: Option<String>,
    /// For a replay: frame index, frame count and speed.
    pub playback: Option<(usize, usize, f64)>,
}

/// How a live session is set up.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    pub scenarios: Vec<Scenario>,
    pub model: Option<PathBuf>,
    /// A detector (`train-detector`) whose boxes are drawn over the network's frame.
    pub detector: Option<PathBuf>,
    pub driver: Driver,
    pub seed: u64,
    /// Where window recordings go.
    pub record_dir: PathBuf,
    pub rule: InterventionRule,
}

/// The two ends the window holds.
pub struct Link {
    pub commands: Sender<Command>,
    pub snapshots: Receiver<Snapshot>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl Link {
    /// Waits for the source's first snapshot; a source that fails before it gives its error.
    pub fn first(&mut self, timeout: Duration) -> Result<Snapshot> {
        match self.snapshots.recv_timeout(timeout) {
            Ok(s) => Ok(s),
            Err(_) => {
                let outcome = self.thread.take().map(|t| t.join());
                match outcome {
                    Some(Ok(Err(e))) => Err(e),
                    Some(Err(_)) => anyhow::bail!("the session thread panicked"),
                    _ => anyhow::bail!("no frame from the session within {timeout:?}"),
                }
            }
        }
    }

    /// Asks the source to stop and waits for it (recordings are finished on the way out).
    pub fn close(self) -> Result<()> {
        let Link {
            commands,
            snapshots,
            thread,
        } = self;
        let _ = commands.send(Command::Quit);
        // A source blocked on a full queue wakes up to a closed one.
        drop(snapshots);
        match thread.map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => anyhow::bail!("the session thread panicked"),
            None => Ok(()),
        }
    }

    /// Spawns `body` on its own thread with a fresh pair of queues.
    pub fn spawn(
        name: &str,
        body: impl FnOnce(Receiver<Command>, Sender<Snapshot>) -> Result<()> + Send + 'static,
    ) -> Result<Self> {
        let (commands, command_rx) = unbounded();
        // Two snapshots at most in flight: a window that falls behind sees newer ones later.
        let (snapshot_tx, snapshots) = bounded(2);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || body(command_rx, snapshot_tx))
            .context("starting a thread")?;
        Ok(Self {
            commands,
            snapshots,
            thread: Some(thread),
        })
    }
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
    last: Option<Inferred<Steering>>,
    detector: Option<(Worker<Vec<Detection>>, Vec<String>)>,
    boxes: Option<Inferred<Vec<Detection>>>,
    manual: (f64, f64),
    manual_speed: f64,
    tally: Tally,
    paused: bool,
    recorder: Option<(Recorder, PathBuf, u64)>,
    message: Option<String>,
    applied: Option<Action>,
    /// Ticks between the frame the policy's last action came from and the tick it acted at.
    lag: u64,
}

impl Session {
    fn new(options: SessionOptions) -> Result<Self> {
        let worker = match &options.model {
            Some(dir) => Some(policy_worker(Policy::load(
                dir,
                crate::drive::Choice::Mode,
                options.seed,
            )?)?),
            None => None,
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
        let (env, mut obs) = Self::build(&scenario, options.seed)?;
        let frame = obs.frame.take().map(Arc::new);
        Ok(Self {
            manual_speed: scenario.vehicle.speed_m_s,
            scenario: Arc::new(scenario),
            index: 0,
            world_id: 0,
            env,
            obs,
            frame,
            driver,
            worker,
            last: None,
            detector,
            boxes: None,
            manual: (0.0, 0.0),
            tally: Tally::new(Supervision::SafetyDriver(options.rule)),
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

    fn build(scenario: &Scenario, seed: u64) -> Result<(Env, Observation)> {
        let mut env = Env::new(scenario.clone(), EnvOptions::default())
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
            Command::Reset => {
                let obs = self.env.reset(self.options.seed)?.remove(0);
                self.observe(obs);
                self.tally = Tally::new(Supervision::SafetyDriver(self.options.rule));
                self.manual_speed = self.scenario.vehicle.speed_m_s;
                self.last = None;
            }
            Command::NextScenario => {
                self.stop_recording();
                self.index = (self.index + 1) % self.options.scenarios.len();
                let scenario = self.options.scenarios[self.index].clone();
                // A world that fails to build leaves the current one driving.
                match Self::build(&scenario, self.options.seed) {
                    Ok((env, obs)) => {
                        self.env = env;
                        self.observe(obs);
                        self.scenario = Arc::new(scenario);
                        self.world_id += 1;
                        self.tally = Tally::new(Supervision::SafetyDriver(self.options.rule));
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
        let meta = EpisodeMeta::new(&self.scenario, self.options.seed, 0, 0.0)?;
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

    /// The action of the current driver for the current observation.
    fn action(&mut self) -> Action {
        let expert = self.obs.info.expert_action;
        let dt = self.scenario.dt_s;
        match self.driver {
            Driver::Expert => expert,
            Driver::Manual => {
                let (steer, throttle) = self.manual;
                self.manual_speed =
                    (self.manual_speed + throttle * MANUAL_ACCEL * dt).clamp(0.0, MANUAL_MAX_SPEED);
                Action::new(steer * MANUAL_MAX_CURVATURE, self.manual_speed)
            }
            // The newest answer, whatever frame it came from (a car cannot wait either); straight
            // ahead until the first arrives. Speed follows the expert's profile, as in `drive`.
            Driver::Policy => Action::new(
                self.last.as_ref().map_or(0.0, |l| l.value.curvature_per_m),
                expert.speed_m_s,
            ),
        }
    }

    fn tick(&mut self) -> Result<()> {
        let tick = self.obs.state.tick;
        if let (Some(worker), Some(frame)) = (self.worker.as_mut(), &self.frame) {
            worker.offer(tick, frame.clone());
            // The policy acts on this frame when its answer comes within half a tick (it does
            // at a few ms per frame), else on the newest answer it has: a late answer costs a
            // tick of lag, never a stall.
            let deadline = Instant::now() + Duration::from_secs_f64(self.scenario.dt_s / 2.0);
            for answer in worker.answers_until(tick, deadline) {
                match answer {
                    Ok(a) => self.last = Some(a),
                    Err(e) => self.message = Some(format!("inference failed: {e}")),
                }
            }
        }
        if let Some((detector, _)) = self.detector.as_mut()
            && let Some(frame) = &self.frame
        {
            // Boxes are drawn, not acted on: the newest ready is enough.
            detector.offer(tick, frame.clone());
            for answer in detector.answers() {
                match answer {
                    Ok(a) => self.boxes = Some(a),
                    Err(e) => self.message = Some(format!("detection failed: {e}")),
                }
            }
        }
        if let Some(last) = &self.last {
            self.lag = tick.saturating_sub(last.frame_id);
        }
        let action = self.action();
        let label = self.obs.info.expert_action;
        let by_policy = self.driver == Driver::Policy;
        let distribution = self
            .last
            .as_ref()
            .filter(|_| by_policy)
            .map(|l| l.value.distribution.clone());
        if let Some((recorder, _, frames)) = self.recorder.as_mut() {
            let record = StepRecord {
                tick,
                frame: self.frame.as_deref().cloned(),
                state: (&self.obs.state).into(),
                action: Some(ActionMsg::new(tick, action)),
                expert_action: ActionMsg::new(tick, label),
                driver: DriverMsg {
                    tick,
                    driver: self.driver.recorded().into(),
                },
                distribution: distribution.as_ref().map(|d| d.to_msg(tick)),
                labels: None,
            };
            if let Err(e) = recorder.record(record) {
                self.message = Some(format!("recording failed: {e}"));
                self.recorder = None;
            } else {
                *frames += 1;
            }
        }
        let before = self.obs.state.stats.distance_m;
        let obs = self.env.step(action)?;
        self.observe(obs);
        let s = &self.obs.state;
        // Autonomy is the policy's: ticks driven by the keyboard or the expert are not scored.
        let intervene = by_policy
            && self.tally.tick(&TickOutcome {
                dt_s: self.scenario.dt_s,
                distance_m: s.stats.distance_m - before,
                lateral_offset_m: s.lateral_offset_m,
                heading_error_rad: s.heading_error_rad,
                crash: s.crash,
                applied_curvature_per_m: action.curvature_per_m,
                expert_curvature_per_m: label.curvature_per_m,
                distribution: distribution.as_ref(),
            }) == Verdict::Intervene;
        // The safety driver takes over from the policy only; a person at the keyboard may
        // leave the lane.
        if intervene && by_policy {
            let obs = self.env.recentre(0)?.remove(0);
            self.observe(obs);
        }
        if self.obs.done {
            let obs = self.env.reset(self.options.seed)?.remove(0);
            self.observe(obs);
            self.message = Some("end of the episode: started again".into());
        }
        self.applied = Some(action);
        Ok(())
    }

    fn publish(&mut self, snapshots: &Sender<Snapshot>) {
        let Some(frame) = self.frame.clone() else {
            return;
        };
        let policy = match (&self.worker, &self.last) {
            (Some(worker), Some(last)) => {
                let (offered, skipped) = worker.counts();
                Some(PolicyView {
                    distribution: last.value.distribution.clone(),
                    chosen_per_m: last.value.curvature_per_m,
                    live: Some(LiveInference {
                        frame_lag: self.lag,
                        latency_ms: last.latency.as_secs_f64() * 1e3,
                        offered,
                        skipped,
                    }),
                })
            }
            _ => None,
        };
        let detections = match (&self.detector, &self.boxes) {
            (Some((_, classes)), Some(b)) => Some(DetectionsView {
                boxes: b
                    .value
                    .iter()
                    .map(|d| (*d, classes[d.class].clone()))
                    .collect(),
                classes: classes.clone(),
                latency_ms: b.latency.as_secs_f64() * 1e3,
                frame_lag: self.obs.state.tick.saturating_sub(b.frame_id),
            }),
            _ => None,
        };
        let snapshot = Snapshot {
            world_id: self.world_id,
            scenario: self.scenario.clone(),
            state: self.obs.state.clone(),
            frame,
            expert: self.obs.info.expert_action,
            applied: self.applied,
            driver: self.driver,
            policy,
            detections,
            // Only once the policy has driven: autonomy is the policy's.
            metrics: Some(self.tally.metrics()).filter(|m| m.ticks > 0),
            paused: self.paused,
            recording: self.recorder.as_ref().map(|(_, p, n)| (p.clone(), *n)),
            message: self.message.clone(),
            playback: None,
        };
        // A window that is behind gets the next one.
        let _ = snapshots.try_send(snapshot);
    }
}
