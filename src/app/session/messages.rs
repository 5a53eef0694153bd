//! What crosses the queues between the window and its source (a live session or a replay):
//! the [`Command`]s the window sends and the [`Snapshot`]s it shows. Plain data, so that a
//! replay publishes the same snapshots as a live session and the HUD draws either.

use crate::drive::Metrics;
use crate::nn::SteeringDistribution;
use crate::nn::models::detect::boxes::Detection;
use crate::sim::simulation::AgentState;
use crate::sim::{Action, Frame, Scenario};
use std::path::PathBuf;
use std::sync::Arc;

/// Who drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    pub(super) fn recorded(&self) -> &'static str {
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
    /// In a town: take this manoeuvre at the next junction.
    ChooseTurn(crate::sim::network::Turn),
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
    /// When the policy sets the speed: its mixture over target speed and the speed it chose
    /// (m/s).
    pub speed: Option<(crate::nn::SpeedDistribution, f64)>,
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
    /// The scenario's world as its source built it (the live session's environment, or the
    /// replayed episode's), so that the window draws it without building it again; why it
    /// could not be built otherwise.
    pub built: Result<Arc<crate::sim::built::BuiltWorld>, Arc<String>>,
    pub state: AgentState,
    /// The traffic cars of a town (live sessions only).
    pub traffic: Arc<Vec<crate::sim::VehicleState>>,
    /// The network's camera frame of this tick.
    pub frame: Arc<Frame>,
    /// The map patch the policy reads (navigation models), cut at the car's believed pose.
    pub map: Option<Arc<Frame>>,
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
