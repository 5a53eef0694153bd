//! Model configuration: a serde type with named presets, saved as a checkpoint's `config.json`.

use crate::nn::ops::Conv2dSpec;
use serde::{Deserialize, Serialize};

/// The image the network reads: `channels`×`height`×`width`, values 0–1 in RGB order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// One backbone layer. Every convolution is followed by a ReLU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerSpec {
    Conv {
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    MaxPool {
        kernel: usize,
        stride: usize,
    },
}

impl LayerSpec {
    /// Output (C, H, W) of this layer for an input (C, H, W), or why it does not fit.
    pub fn output(
        &self,
        (c, h, w): (usize, usize, usize),
    ) -> Result<(usize, usize, usize), String> {
        let (kernel, stride, padding, channels) = match *self {
            LayerSpec::Conv {
                out_channels,
                kernel,
                stride,
                padding,
            } => (kernel, stride, padding, out_channels),
            LayerSpec::MaxPool { kernel, stride } => (kernel, stride, 0, c),
        };
        if kernel == 0 || stride == 0 || channels == 0 {
            return Err("kernel, stride and channels must be at least 1".into());
        }
        let (ph, pw) = (h + 2 * padding, w + 2 * padding);
        if ph < kernel || pw < kernel {
            return Err(format!(
                "a {kernel}x{kernel} window does not fit a {h}x{w} input"
            ));
        }
        Ok((
            channels,
            (ph - kernel) / stride + 1,
            (pw - kernel) / stride + 1,
        ))
    }

    pub fn conv_spec(&self) -> Option<Conv2dSpec> {
        match *self {
            LayerSpec::Conv {
                stride, padding, ..
            } => Some(Conv2dSpec { stride, padding }),
            LayerSpec::MaxPool { .. } => None,
        }
    }
}

/// The convolutional trunk shared by every head.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackboneConfig {
    /// Map inputs from 0–1 to −1–1 first (PilotNet's normalisation layer).
    pub normalise: bool,
    pub layers: Vec<LayerSpec>,
}

/// The Gaussian-mixture steering head (Amini et al. 2019).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SteeringHeadConfig {
    /// Widths of the dense ReLU layers between the flattened features and the mixture outputs.
    pub hidden: Vec<usize>,
    /// Mixture components K; the last layer outputs 3K values (logits, means, scales).
    pub components: usize,
    /// Curvature (1/m) that one unit of the head's mean and scale outputs stands for; keeps the
    /// outputs near unit size for curvatures of a few hundredths per metre.
    pub curvature_scale_per_m: f64,
    /// Smallest standard deviation (1/m): keeps the likelihood bounded. It must stay well
    /// under the policy's error (the expert's curvature is matched to a few 1e-4 1/m on
    /// straights), or every prediction is wider than its error and the policy under-confident.
    pub std_floor_per_m: f64,
    /// Factor on every standard deviation, fitted after training on the policy's own drives
    /// (temperature scaling; [`crate::nn::calibration::fit_std_scale`]); 1 as trained.
    #[serde(default = "one")]
    pub std_scale: f64,
}

fn one() -> f64 {
    1.0
}

/// A whole model: input, backbone and steering head.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The preset this configuration started from (informational).
    pub preset: String,
    pub input: InputSpec,
    pub backbone: BackboneConfig,
    pub steering: SteeringHeadConfig,
}

/// Preset names accepted by [`ModelConfig::preset`].
pub const PRESETS: [&str; 2] = ["pilotnet", "lecture"];

impl ModelConfig {
    /// Bojarski et al. 2016, "End to End Learning for Self-Driving Cars": normalisation, three
    /// 5×5 stride-2 convolutions (24, 36, 48), two 3×3 (64, 64), dense 100-50-10; 66×200 input.
    pub fn pilotnet() -> Self {
        let conv = |out_channels, kernel, stride| LayerSpec::Conv {
            out_channels,
            kernel,
            stride,
            padding: 0,
        };
        Self {
            preset: "pilotnet".into(),
            input: InputSpec {
                channels: 3,
                height: 66,
                width: 200,
            },
            backbone: BackboneConfig {
                normalise: true,
                layers: vec![
                    conv(24, 5, 2),
                    conv(36, 5, 2),
                    conv(48, 5, 2),
                    conv(64, 3, 1),
                    conv(64, 3, 1),
                ],
            },
            steering: SteeringHeadConfig::default_with(vec![100, 50, 10]),
        }
    }

    /// The lecture's classifier trunk: conv 32 3×3 + ReLU, max-pool 2, conv 64 3×3 + ReLU,
    /// max-pool 2; a 64-wide dense layer before the mixture.
    pub fn lecture() -> Self {
        Self {
            preset: "lecture".into(),
            input: InputSpec {
                channels: 3,
                height: 66,
                width: 200,
            },
            backbone: BackboneConfig {
                normalise: true,
                layers: vec![
                    LayerSpec::Conv {
                        out_channels: 32,
                        kernel: 3,
                        stride: 1,
                        padding: 0,
                    },
                    LayerSpec::MaxPool {
                        kernel: 2,
                        stride: 2,
                    },
                    LayerSpec::Conv {
                        out_channels: 64,
                        kernel: 3,
                        stride: 1,
                        padding: 0,
                    },
                    LayerSpec::MaxPool {
                        kernel: 2,
                        stride: 2,
                    },
                ],
            },
            steering: SteeringHeadConfig::default_with(vec![64]),
        }
    }

    /// A preset by name.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "pilotnet" => Some(Self::pilotnet()),
            "lecture" => Some(Self::lecture()),
            _ => None,
        }
    }

    /// Shape (C, H, W) of the backbone's feature map, or every reason the config is unusable.
    pub fn feature_shape(&self) -> Result<(usize, usize, usize), String> {
        let i = self.input;
        if i.channels == 0 || i.height == 0 || i.width == 0 {
            return Err("input: channels, height and width must be at least 1".into());
        }
        let mut shape = (i.channels, i.height, i.width);
        for (n, layer) in self.backbone.layers.iter().enumerate() {
            shape = layer
                .output(shape)
                .map_err(|e| format!("backbone.layers[{n}]: {e}"))?;
        }
        let s = &self.steering;
        if s.components == 0 {
            return Err("steering.components: must be at least 1".into());
        }
        if s.hidden.contains(&0) {
            return Err("steering.hidden: widths must be at least 1".into());
        }
        if !(s.std_scale.is_finite() && s.std_scale > 0.0) {
            return Err("steering: std_scale must be positive and finite".into());
        }
        if !(s.curvature_scale_per_m > 0.0 && s.std_floor_per_m > 0.0) {
            return Err(
                "steering: curvature_scale_per_m and std_floor_per_m must be positive".into(),
            );
        }
        Ok(shape)
    }
}

impl SteeringHeadConfig {
    fn default_with(hidden: Vec<usize>) -> Self {
        Self {
            hidden,
            components: 3,
            curvature_scale_per_m: 0.05,
            std_floor_per_m: 1e-5,
            std_scale: 1.0,
        }
    }
}
