//! The learned driver: the steering network reads the camera frame and the action is taken
//! from its distribution (mode, mean or a sample). Speed is not the network's to choose: it
//! follows the expert's speed profile (a cruise controller that slows for curves), as PilotNet
//! controls steering only.

use crate::error::{Error, Result};
use crate::nn::ModelDir;
use crate::nn::dataset::{commands_to_tensor, frames_to_tensor, maps_to_tensor};
use crate::nn::steering::Inputs;
use crate::nn::{Model, SteeringDistribution};
use crate::sim::map_input::{Command, MapOptions};
use crate::sim::{Action, Frame};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::Path;

/// How the action is read off the steering distribution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Choice {
    /// The mean of the most likely component.
    #[default]
    Mode,
    /// The mixture's mean.
    Mean,
    /// A draw from the mixture (seeded).
    Sample,
}

/// What a policy reads at a tick.
#[derive(Clone, Copy, Debug)]
pub struct Seen<'a> {
    pub frame: &'a Frame,
    /// The map patch at the believed pose (when the world cuts one).
    pub map: Option<&'a Frame>,
    /// The navigation command (`Follow` away from junctions and off towns).
    pub command: Command,
}

impl<'a> Seen<'a> {
    /// A camera frame alone.
    pub fn camera(frame: &'a Frame) -> Self {
        Self {
            frame,
            map: None,
            command: Command::Follow,
        }
    }
}

/// The command the car's navigation system gives (`Follow` where the world cuts no map: off
/// towns, or for a model that reads neither map nor command).
pub fn command_of(map: Option<&crate::sim::map_input::MapObservation>) -> Command {
    map.map_or(Command::Follow, |m| m.command)
}

/// A steering model and how it acts.
pub struct Policy {
    pub model: Model,
    /// The model's [`Model::fingerprint`], recorded with the ticks it drives.
    pub fingerprint: String,
    pub choice: Choice,
    seed: u64,
    rng: StdRng,
    /// The curvature chosen at the last tick.
    last: Option<f64>,
}

impl Policy {
    pub fn new(model: Model, choice: Choice, seed: u64) -> Result<Self> {
        Ok(Self {
            fingerprint: model.fingerprint()?,
            model,
            choice,
            seed,
            rng: StdRng::seed_from_u64(seed ^ 0x5EED_0000_D21E_0001),
            last: None,
        })
    }

    /// The same model, choice and seed, as it was before it drove: each drive of an
    /// evaluation starts from one, so that its result depends on its scenario alone.
    pub fn fresh(&self) -> Result<Self> {
        let model = self
            .model
            .share()
            .map_err(|e| e.context("sharing the policy's model"))?;
        Ok(Self {
            model,
            fingerprint: self.fingerprint.clone(),
            choice: self.choice,
            seed: self.seed,
            rng: StdRng::seed_from_u64(self.seed ^ 0x5EED_0000_D21E_0001),
            last: None,
        })
    }

    /// Loads the model directory `dir`.
    pub fn load(dir: &Path, choice: Choice, seed: u64) -> Result<Self> {
        let model = Model::load(dir)?;
        Self::new(model, choice, seed)
    }

    /// The steering distribution for what the car sees: its camera frame, and the map patch
    /// and navigation command when the model reads them.
    pub fn distribution(&self, seen: &Seen) -> Result<SteeringDistribution> {
        let config = &self.model.config;
        let input = config.input;
        let frame = seen.frame;
        if (frame.height as usize, frame.width as usize) != (input.height, input.width) {
            return Err(Error::InvalidArgument(format!(
                "the camera renders {}x{} frames but the model expects {}x{}: set the scenario's \
                 camera size to the model's input",
                frame.width, frame.height, input.width, input.height
            )));
        }
        let maps = match (config.map_channels(), seen.map) {
            (0, _) => None,
            (channels, Some(map)) => Some(maps_to_tensor(&[map], channels)?),
            (_, None) => {
                return Err(Error::InvalidArgument(
                    "the model reads a map beside the camera, but the world cuts none (drive \
                     it with the model's map options: eval, dagger and sim set them from the \
                     model's config)"
                        .into(),
                ));
            }
        };
        let commands = if config.reads_commands() {
            Some(commands_to_tensor(&[seen.command])?)
        } else {
            None
        };
        let inputs = Inputs {
            images: frames_to_tensor(&[frame])?,
            maps,
            commands,
        };
        let mut all = self
            .model
            .predict(&inputs)
            .map_err(|e| e.context("policy inference"))?;
        Ok(all.remove(0))
    }

    /// The map options a world must give this policy (`None`: it reads neither a map nor a
    /// navigation command). A model that reads commands gets them from the same navigation
    /// system that cuts map patches.
    pub fn map_options(&self) -> Option<MapOptions> {
        let config = &self.model.config;
        match &config.map {
            Some(m) => Some(MapOptions {
                spec: m.spec,
                ..MapOptions::default()
            }),
            None if config.reads_commands() => Some(MapOptions::default()),
            None => None,
        }
    }

    /// The curvature chosen from `distribution`. A navigation model not told the route offers
    /// a mode per exit at a junction, often of equal weight; by mode it keeps to the mode
    /// nearest its last choice ([`SteeringDistribution::mode_near`]), as a driver keeps to the road it took.
    pub fn curvature(&mut self, distribution: &SteeringDistribution) -> f64 {
        let chosen = match (self.choice, self.last) {
            (Choice::Mode, Some(last)) if self.model.config.chooses_roads() => {
                distribution.mode_near(last)
            }
            (Choice::Mode, _) => distribution.mode(),
            (Choice::Mean, _) => distribution.mean(),
            (Choice::Sample, _) => distribution.sample(&mut self.rng),
        };
        self.last = Some(chosen);
        chosen
    }

    /// The action for what the car sees, at the expert's speed `speed_m_s`, and the
    /// distribution it came from.
    pub fn act(&mut self, seen: &Seen, speed_m_s: f64) -> Result<(Action, SteeringDistribution)> {
        let d = self.distribution(seen)?;
        Ok((Action::new(self.curvature(&d), speed_m_s), d))
    }
}
