//! Counterfactual re-simulation: an episode's recorded actions re-applied in a fresh world
//! built from its stored scenario and seed, re-rendered under the recorded camera (every frame
//! is checked against its recorded hash) or under another camera size or lighting.

use crate::error::{Error, Result};
use crate::record::{EpisodeReader, Step};
use crate::sim::Frame;
use crate::sim::scenario::Lighting;
use crate::sim::vehicle::Action;
use crate::world::{Env, EnvOptions};

/// What a re-simulation changes about the recorded view (nothing by default).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counterfactual {
    pub camera_width: Option<u32>,
    pub camera_height: Option<u32>,
    /// Lighting (sun, sky, fog) to render the drive under instead of the recorded one.
    pub lighting: Option<Lighting>,
}

/// Result of a re-simulation.
#[derive(Clone, Debug, PartialEq)]
pub struct Resimulation {
    pub frames: u64,
    /// Frames whose hash equals the recorded one (only counted when the camera is unchanged).
    pub matching: u64,
    pub compared: u64,
    /// Largest distance between a recorded and a re-simulated position, metres.
    pub max_position_error_m: f64,
    /// What the episode file lost at its end, when it was cut (the ticks before it were
    /// re-simulated).
    pub cut: Option<String>,
}

/// Re-runs an episode's recorded actions in a fresh world and hands every re-rendered frame
/// with its recorded step to `each`.
pub fn resimulate(
    episode: &EpisodeReader,
    view: &Counterfactual,
    each: &mut dyn FnMut(&Frame, &Step) -> Result<()>,
) -> Result<Resimulation> {
    let mut scenario = episode.scenario.clone();
    let recorded = scenario.clone();
    if let Some(w) = view.camera_width {
        scenario.camera.width_px = w;
    }
    if let Some(h) = view.camera_height {
        scenario.camera.height_px = h;
    }
    if let Some(lighting) = &view.lighting {
        scenario.lighting = lighting.clone();
    }
    // Hashes are comparable only when the picture should be the recorded one.
    let same_camera = scenario == recorded;
    let mut env = Env::new(scenario, EnvOptions::default())?;
    let mut obs = env.reset(episode.meta.seed)?.remove(0);
    let mut r = Resimulation {
        frames: 0,
        matching: 0,
        compared: 0,
        max_position_error_m: 0.0,
        cut: None,
    };
    let mut steps = episode.steps(false)?;
    let mut pending_action: Option<Action> = None;
    for step in steps.by_ref() {
        if let Some(action) = pending_action.take() {
            obs = env.step(action)?;
        }
        if obs.state.tick != step.tick {
            return Err(Error::Episode {
                path: episode.path.clone(),
                message: format!(
                    "recorded tick {} but the re-simulation is at tick {}",
                    step.tick, obs.state.tick
                ),
            });
        }
        let dx = obs.state.vehicle.position.x - step.state.x_m;
        let dy = obs.state.vehicle.position.y - step.state.y_m;
        r.max_position_error_m = r.max_position_error_m.max(dx.hypot(dy));
        if let Some(frame) = &obs.frame {
            r.frames += 1;
            if same_camera && let Some(info) = &step.frame_info {
                r.compared += 1;
                r.matching += (frame.content_hash() == info.content_hash) as u64;
            }
            each(frame, &step)?;
        }
        pending_action = step.action;
    }
    r.cut = steps.outcome().cut.as_ref().map(|cut| cut.to_string());
    Ok(r)
}
