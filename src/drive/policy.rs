//! The learned driver: the steering network reads the camera frame and the action is taken
//! from its distribution (mode, mean or a sample). A model with a speed head also sets the
//! car's speed from its mixture over target speed; a model without one (PilotNet controls
//! steering only), or a policy told to (`--expert-speed`), follows the expert's speed profile.

use crate::error::{Error, Result};
use crate::nn::ModelDir;
use crate::nn::data::dataset::{commands_to_tensor, frames_to_tensor, maps_to_tensor};
use crate::nn::models::steering::Inputs;
use crate::nn::{Model, SpeedDistribution, SteeringDistribution};
use crate::sim::map_input::{Command, MapOptions};
use crate::sim::{Action, Frame};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::Path;

/// How the action is read off the steering distribution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum Choice {
    /// The mean of the most likely component.
    #[default]
    Mode,
    /// The mixture's mean.
    Mean,
    /// A draw from the mixture (seeded).
    Sample,
}

/// Where the speed of a policy's car comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpeedSource {
    /// The model's speed head: its mixture over target speed, read as the steering is.
    Policy,
    /// The privileged expert's speed profile (cruise, curves, the car ahead, junctions).
    Expert,
    /// A controller's own action (a scripted test, a keyboard).
    Controller,
}

impl SpeedSource {
    /// How reports say it.
    pub fn describe(self) -> &'static str {
        match self {
            SpeedSource::Policy => "the policy's own (its speed head, from what it sees)",
            SpeedSource::Expert => {
                "the expert's profile (privileged: it knows the track, the car ahead and the \
                 junction rule)"
            }
            SpeedSource::Controller => "the controller's own",
        }
    }
}

/// What a policy chose at a tick, and the distributions it chose from.
#[derive(Clone, Debug)]
pub struct Acted {
    pub action: Action,
    pub steering: SteeringDistribution,
    /// The mixture over target speed, when the policy set the speed.
    pub speed: Option<SpeedDistribution>,
}

/// What a policy reads at a tick.
#[derive(Clone, Copy, Debug)]
pub struct PolicyInputs<'a> {
    pub frame: &'a Frame,
    /// The map patch at the believed pose (when the world cuts one).
    pub map: Option<&'a Frame>,
    /// The navigation command (`Follow` away from junctions and off towns).
    pub command: Command,
    /// The car's wheel speed, m/s (its odometry's reading: a speedometer, not the simulation's
    /// speed).
    pub wheel_speed_m_s: f64,
}

impl<'a> PolicyInputs<'a> {
    /// A camera frame alone (a car standing still).
    pub fn camera(frame: &'a Frame) -> Self {
        Self {
            frame,
            map: None,
            command: Command::Follow,
            wheel_speed_m_s: 0.0,
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
    /// Where the car's speed comes from ([`SpeedSource::Policy`] whenever the model has a
    /// speed head, unless [`Policy::with_expert_speed`]).
    pub speed: SpeedSource,
    seed: u64,
    rng: StdRng,
    /// The curvature chosen at the last tick.
    last: Option<f64>,
}

impl Policy {
    pub fn new(model: Model, choice: Choice, seed: u64) -> Result<Self> {
        Ok(Self {
            fingerprint: model.fingerprint()?,
            speed: match model.config.speed {
                Some(_) => SpeedSource::Policy,
                None => SpeedSource::Expert,
            },
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
            speed: self.speed,
            seed: self.seed,
            rng: StdRng::seed_from_u64(self.seed ^ 0x5EED_0000_D21E_0001),
            last: None,
        })
    }

    /// The same policy driving at the expert's speed (`--expert-speed`), whether or not its
    /// model has a speed head.
    pub fn with_expert_speed(mut self, expert: bool) -> Self {
        if expert {
            self.speed = SpeedSource::Expert;
        }
        self
    }

    /// Loads the model directory `dir`.
    pub fn load(dir: &Path, choice: Choice, seed: u64) -> Result<Self> {
        let model = Model::load(dir)?;
        Self::new(model, choice, seed)
    }

    /// The steering distribution for what the car sees: its camera frame, and the map patch
    /// and navigation command when the model reads them.
    pub fn distribution(&self, seen: &PolicyInputs) -> Result<SteeringDistribution> {
        let mut all = self
            .model
            .predict(&self.inputs(seen)?)
            .map_err(|e| e.context("policy inference"))?;
        Ok(all.remove(0))
    }

    /// The steering distribution and, when the policy sets the speed, the mixture over target
    /// speed, for what the car sees (the speed head is not run when the policy does not).
    pub fn distributions(
        &self,
        seen: &PolicyInputs,
    ) -> Result<(SteeringDistribution, Option<SpeedDistribution>)> {
        if self.speed == SpeedSource::Expert {
            return Ok((self.distribution(seen)?, None));
        }
        let (mut steering, speed) = self
            .model
            .predict_all(&self.inputs(seen)?)
            .map_err(|e| e.context("policy inference"))?;
        Ok((steering.remove(0), speed.map(|mut s| s.remove(0))))
    }

    /// The network's inputs for what the car sees, checked against what the model reads.
    fn inputs(&self, seen: &PolicyInputs) -> Result<Inputs> {
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
        let wheel_speeds = if config.reads_wheel_speed() {
            Some(candle_core::Tensor::from_vec(
                vec![seen.wheel_speed_m_s as f32],
                (1, 1),
                &crate::nn::device(),
            )?)
        } else {
            None
        };
        Ok(Inputs {
            images: frames_to_tensor(&[frame])?,
            maps,
            commands,
            wheel_speeds,
        })
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

    /// The target speed chosen from a speed mixture, never below standing: its mean (for
    /// the mode and mean choices), or a sample. Not the mode: standing at an empty junction
    /// a navnet gave "stand" 79 % and "go at 8 m/s" 21 %, and its mode held the car for good
    /// (the frame never changes while it stands); the mean creeps on at 1.7 m/s, the frame
    /// changes and the car goes, while a car close ahead makes "stand" near certain.
    pub fn target_speed(&mut self, distribution: &SpeedDistribution) -> f64 {
        let v = match self.choice {
            Choice::Mode | Choice::Mean => distribution.mean(),
            Choice::Sample => distribution.sample(&mut self.rng),
        };
        v.max(0.0)
    }

    /// The action for what the car sees, and the distributions it came from: the speed from
    /// the policy's speed mixture, or the expert's `expert_speed_m_s` when the policy does
    /// not set it.
    pub fn act(&mut self, seen: &PolicyInputs, expert_speed_m_s: f64) -> Result<Acted> {
        let (steering, speed) = self.distributions(seen)?;
        let curvature = self.curvature(&steering);
        let v = match &speed {
            Some(d) => self.target_speed(d),
            None => expert_speed_m_s,
        };
        Ok(Acted {
            action: Action::new(curvature, v),
            steering,
            speed,
        })
    }
}
