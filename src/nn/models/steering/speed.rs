//! The speed head: beside the steering mixture, a Gaussian mixture over the target speed
//! (m/s) the car should drive at, read from the same features (the camera's, and the map's
//! where the model reads one). Its label is the expert's target speed
//! ([`crate::sim::Expert::labels`]: cruise speed, slowed for curves, and where the car ahead
//! (Intelligent Driver Model) or the junction rule would have the car a second from now), so
//! a policy that has one can brake for what it sees. A mixture, not a number: behind a car
//! that may pull away both "stand" and "go" are likely, and the mixture says how likely each
//! is (calibration scores it); the car is commanded its mean
//! ([`crate::drive::Policy::target_speed`]).

use crate::nn::models::layer_spec::LayerSpec;
use crate::nn::models::linear::Mlp;
use crate::nn::models::mixture::{MixtureBatch, MixtureScale};
use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// The speed head of a model config (`"speed"` in `config.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeedHeadConfig {
    /// Widths of the dense ReLU layers between the features and the mixture outputs.
    pub hidden: Vec<usize>,
    /// Mixture components; the last layer outputs 3 per component.
    pub components: usize,
    /// Speed (m/s) that one unit of the head's mean and scale outputs stands for.
    pub speed_scale_m_s: f64,
    /// Speed (m/s) a mean output of 0 stands for: a typical cruise speed, so that a new head
    /// starts near the speeds it learns.
    pub speed_offset_m_s: f64,
    /// Smallest standard deviation, m/s.
    pub std_floor_m_s: f64,
    /// How much of the speed loss's gradient reaches the camera and map trunks (0: it trains
    /// the speed head alone, on the features the steering loss shapes; 1: the trunks learn
    /// both losses alike). A routed navnet trained on the main job's 32 000 behaviour-cloning
    /// frames (2 epochs, same data and schedule), steering validation NLL / speed MAE: no
    /// speed head −2.888; 0: −2.817 / 1.09 m/s; 0.1: −2.656 / 1.26 m/s; 1: −2.633 / 1.18 m/s.
    #[serde(default)]
    pub trunk_gradient: f64,
    /// The head also reads the car's wheel speed (its speedometer, measured with the wheel
    /// sensors' errors: [`crate::sim::odometry::Odometry`]), not the simulation's speed. From
    /// one frame a car 8 m ahead means "brake" at 9 m/s and "keep going" at 3 m/s. Off in the
    /// presets: in the main job a navnet that read it slowed to a standstill before empty
    /// junctions and stood there (standing, it read 0 and asked for about 0: the inertia
    /// CILRS reports), 2.9 m/s under the expert's target on average in one held-out town,
    /// where the same model without it was 0.9 m/s under.
    #[serde(default)]
    pub reads_wheel_speed: bool,
    /// The head's own convolutional trunk on the camera image (each convolution followed by a
    /// ReLU; empty: none). Its features join the shared ones, and only the speed loss trains
    /// it: the steering trunk learns what steering needs, which need not include how far
    /// ahead the next car is. Empty in configs written before it was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trunk: Vec<LayerSpec>,
    /// How much more a training frame where the expert brakes ([`BRAKING_M_S`] or more below
    /// the wheel speed) weighs in the speed loss than any other. They are 8 % of the expert's
    /// drives and a quarter of a learner's that drives too fast, and the frames where a
    /// missed car costs a collision. 1 (no weighting) in configs written before it was.
    #[serde(default = "one")]
    pub braking_weight: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for SpeedHeadConfig {
    /// 100-50 dense layers and two components (stand or go, most often), in units of 5 m/s
    /// about 6 m/s, no narrower than 0.25 m/s, none of its gradient reaching the trunks,
    /// not reading the wheel speed, with a trunk of its own: four small stride-2 convolutions (8,
    /// 16, 32, 32 channels; under a fifth of PilotNet's multiply-adds on a 200×66 frame).
    fn default() -> Self {
        let conv = |out_channels, kernel| LayerSpec::Conv {
            out_channels,
            kernel,
            stride: 2,
            padding: 0,
        };
        Self {
            hidden: vec![100, 50],
            components: 2,
            speed_scale_m_s: 5.0,
            speed_offset_m_s: 6.0,
            std_floor_m_s: 0.25,
            trunk_gradient: 0.0,
            reads_wheel_speed: false,
            trunk: vec![conv(8, 5), conv(16, 5), conv(32, 3), conv(32, 3)],
            braking_weight: 4.0,
        }
    }
}

impl SpeedHeadConfig {
    /// How the head's raw outputs become a mixture.
    pub fn scale(&self) -> MixtureScale {
        MixtureScale {
            components: self.components,
            scale: self.speed_scale_m_s,
            offset: self.speed_offset_m_s,
            std_floor: self.std_floor_m_s,
            std_scale: 1.0,
        }
    }

    /// Every reason the head cannot be built, naming its field.
    pub fn problems(&self) -> Option<String> {
        if self.components == 0 || self.components > 64 {
            return Some("speed.components: must be 1 to 64".into());
        }
        // Their widths are bounded by the model's limit on parameters.
        if self.hidden.contains(&0) || self.hidden.len() > 16 {
            return Some("speed.hidden: at most 16 layers, each at least 1 wide".into());
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !(positive(self.speed_scale_m_s) && positive(self.std_floor_m_s)) {
            return Some(
                "speed: speed_scale_m_s and std_floor_m_s must be positive and finite".into(),
            );
        }
        if !(self.braking_weight.is_finite() && (1.0..=100.0).contains(&self.braking_weight)) {
            return Some("speed: braking_weight must be within 1 to 100".into());
        }
        if !(0.0..=1.0).contains(&self.trunk_gradient) {
            return Some("speed: trunk_gradient must be within 0 to 1".into());
        }
        if !(self.speed_offset_m_s.is_finite() && self.speed_offset_m_s.abs() <= 100.0) {
            return Some("speed: speed_offset_m_s must be within ±100".into());
        }
        None
    }

    /// Shape (C, H, W) of its own trunk's feature map on `input` (`None`: it has none), or
    /// why a layer does not fit.
    pub fn trunk_shape(
        &self,
        input: (usize, usize, usize),
    ) -> std::result::Result<Option<(usize, usize, usize)>, String> {
        if self.trunk.is_empty() {
            return Ok(None);
        }
        if self.trunk.len() > 16 {
            return Err("speed.trunk: at most 16 layers".into());
        }
        let mut shape = input;
        for (n, layer) in self.trunk.iter().enumerate() {
            shape = layer
                .output(shape)
                .map_err(|e| format!("speed.trunk[{n}]: {e}"))?;
        }
        Ok(Some(shape))
    }

    /// Weights of the head on `features` shared inputs, its own trunk on `input` (and the
    /// wheel speed where it reads it).
    pub fn parameters(&self, features: f64, input: (usize, usize, usize)) -> f64 {
        let own = match self.trunk_shape(input) {
            Ok(Some((c, h, w))) => c as f64 * h as f64 * w as f64,
            _ => 0.0,
        };
        let mut width = features + own + f64::from(u8::from(self.reads_wheel_speed));
        let mut total = crate::nn::models::layer_spec::conv_parameters(input.0, &self.trunk);
        for &h in &self.hidden {
            total += width * h as f64 + h as f64;
            width = h as f64;
        }
        total + width * 3.0 * self.components as f64 + 3.0 * self.components as f64
    }
}

/// Dense layers over the features, then 3 outputs per component.
pub struct SpeedHead {
    scale: MixtureScale,
    mlp: Mlp,
    trunk_gradient: f64,
    reads_wheel_speed: bool,
}

impl SpeedHead {
    /// Builds `dense{i}` layers under `vb` on `features` inputs (the shared features and its
    /// own trunk's, which the network computes).
    pub fn new(config: &SpeedHeadConfig, features: usize, vb: VarBuilder) -> Result<Self> {
        let mut widths = vec![features + usize::from(config.reads_wheel_speed)];
        widths.extend(&config.hidden);
        widths.push(3 * config.components);
        Ok(Self {
            scale: config.scale(),
            mlp: Mlp::new(&widths, vb)?,
            trunk_gradient: config.trunk_gradient,
            reads_wheel_speed: config.reads_wheel_speed,
        })
    }

    /// Shared features `(B, F)`, its own trunk's `(B, G)` where it has one, and wheel speeds
    /// `(B, 1)`, m/s, where the head reads them → mixtures over target speed (m/s). The
    /// gradient flowing back into the shared features is scaled by the config's
    /// `trunk_gradient` (the values are the features' own); the wheel speed enters in the
    /// head's own units (`(v − offset) / scale`).
    pub fn forward(
        &self,
        features: &Tensor,
        own: Option<&Tensor>,
        wheel_speeds: Option<&Tensor>,
    ) -> Result<MixtureBatch> {
        let w = self.trunk_gradient;
        let features = match w {
            1.0 => features.clone(),
            0.0 => features.detach(),
            _ => {
                let held = features.detach();
                (&held + ((features - &held)? * w)?)?
            }
        };
        let features = match own {
            Some(own) => Tensor::cat(&[&features, own], 1)?,
            None => features,
        };
        let features = match (self.reads_wheel_speed, wheel_speeds) {
            (false, _) => features,
            (true, Some(v)) => {
                let units = v.affine(
                    1.0 / self.scale.scale,
                    -self.scale.offset / self.scale.scale,
                )?;
                Tensor::cat(&[&features, &units.to_dtype(features.dtype())?], 1)?
            }
            (true, None) => candle_core::bail!(
                "this model's speed head reads the car's wheel speed but none was given"
            ),
        };
        MixtureBatch::from_raw(&self.mlp.forward(&features)?, &self.scale)
    }
}

/// A frame where the expert's target speed is at least this far below the car's speed is one
/// where it brakes, m/s.
pub const BRAKING_M_S: f64 = 1.0;

/// How far the speed a head commands (its mixture's mean) is from the expert's target speed,
/// over every frame and over the frames where the expert brakes ([`BRAKING_M_S`]): most frames
/// are free driving, where any head that learnt the cruise and curve speeds scores well, and
/// the braking ones are where a car ahead is seen or missed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SpeedScore {
    pub frames: u64,
    abs_error_m_s: f64,
    pub braking_frames: u64,
    braking_abs_error_m_s: f64,
    /// Braking frames where the head asked for more than the car's speed.
    pub braking_asked_faster: u64,
}

impl SpeedScore {
    /// Scores the mixture `d` of a frame whose expert target was `target_m_s` with the car at
    /// `car_m_s` (the recorded speed: scoring, like the label, may know it).
    pub fn add(
        &mut self,
        d: &crate::nn::models::distribution::SpeedDistribution,
        target_m_s: f64,
        car_m_s: f64,
    ) {
        let commanded = d.mean();
        let error = (commanded - target_m_s).abs();
        self.frames += 1;
        self.abs_error_m_s += error;
        if target_m_s <= car_m_s - BRAKING_M_S {
            self.braking_frames += 1;
            self.braking_abs_error_m_s += error;
            self.braking_asked_faster += u64::from(commanded > car_m_s);
        }
    }

    /// Mean |commanded − expert target| over every frame, m/s.
    pub fn mean_abs_error_m_s(&self) -> Option<f64> {
        (self.frames > 0).then(|| self.abs_error_m_s / self.frames as f64)
    }

    /// The same over the braking frames, m/s.
    pub fn braking_mean_abs_error_m_s(&self) -> Option<f64> {
        (self.braking_frames > 0).then(|| self.braking_abs_error_m_s / self.braking_frames as f64)
    }
}
