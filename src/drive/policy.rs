//! The learned driver: the steering network reads the camera frame and the action is taken
//! from its distribution (mode, mean or a sample). Speed is not the network's to choose: it
//! follows the expert's speed profile (a cruise controller that slows for curves), as PilotNet
//! controls steering only.

use crate::error::{Error, Result};
use crate::nn::ModelDir;
use crate::nn::dataset::frames_to_tensor;
use crate::nn::{Model, SteeringDistribution};
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

/// A steering model and how it acts.
pub struct Policy {
    pub model: Model,
    pub choice: Choice,
    rng: StdRng,
}

impl Policy {
    pub fn new(model: Model, choice: Choice, seed: u64) -> Self {
        Self {
            model,
            choice,
            rng: StdRng::seed_from_u64(seed ^ 0x5EED_0000_D21E_0001),
        }
    }

    /// Loads the model directory `dir`.
    pub fn load(dir: &Path, choice: Choice, seed: u64) -> Result<Self> {
        let model = Model::load(dir)?;
        Ok(Self::new(model, choice, seed))
    }

    /// The steering distribution for one camera frame.
    pub fn distribution(&self, frame: &Frame) -> Result<SteeringDistribution> {
        let input = self.model.config.input;
        if (frame.height as usize, frame.width as usize) != (input.height, input.width) {
            return Err(Error::InvalidArgument(format!(
                "the camera renders {}x{} frames but the model expects {}x{}: set the scenario's \
                 camera size to the model's input",
                frame.width, frame.height, input.width, input.height
            )));
        }
        let images = frames_to_tensor(&[frame])?;
        let mut all = self
            .model
            .predict(&images)
            .map_err(|e| e.context("policy inference"))?;
        Ok(all.remove(0))
    }

    /// The curvature chosen from `distribution`.
    pub fn curvature(&mut self, distribution: &SteeringDistribution) -> f64 {
        match self.choice {
            Choice::Mode => distribution.mode(),
            Choice::Mean => distribution.mean(),
            Choice::Sample => distribution.sample(&mut self.rng),
        }
    }

    /// The action for `frame`, at the expert's speed `speed_m_s`, and the distribution it
    /// came from.
    pub fn act(&mut self, frame: &Frame, speed_m_s: f64) -> Result<(Action, SteeringDistribution)> {
        let d = self.distribution(frame)?;
        Ok((Action::new(self.curvature(&d), speed_m_s), d))
    }
}
