//! The steering network: backbone plus a Gaussian-mixture head over curvature, as in Amini et
//! al. 2019, "Variational End-to-End Navigation and Localization" (its loss, the negative
//! log-likelihood of the expert's curvature, is [`crate::nn::models::mixture`]'s), and for a policy that
//! sets its own speed a speed head beside it ([`crate::nn::models::steering::speed`]).

pub mod config;
pub mod presets;
pub mod speed;

use crate::error::Result as CrateResult;
use crate::nn::device;
use crate::nn::models::backbone::Backbone;
use crate::nn::models::checkpoint::{ModelDir, load_varmap, model_err, varmap_tensors};
use crate::nn::models::distribution::{SpeedDistribution, SteeringDistribution};
use crate::nn::models::linear::Mlp;
pub use crate::nn::models::mixture::{MixtureBatch, MixtureScale, softplus};
use crate::nn::models::steering::config::{ModelConfig, SteeringHeadConfig};
use crate::nn::models::steering::speed::SpeedHead;
use candle_core::DType;
use candle_core::{Module, Result, Tensor, bail};
use candle_nn::{VarBuilder, VarMap};
use std::collections::HashMap;
use std::path::Path;

/// Dense ReLU layers, then 3K outputs: mixture logits, means and raw scales; with several
/// commands, one such branch per command and the command picks the branch's outputs.
pub struct SteeringHead {
    scale: MixtureScale,
    branches: Vec<Mlp>,
}

impl SteeringHeadConfig {
    pub fn scale(&self) -> MixtureScale {
        MixtureScale {
            components: self.components,
            scale: self.curvature_scale_per_m,
            offset: 0.0,
            std_floor: self.std_floor_per_m,
            std_scale: self.std_scale,
        }
    }
}

impl SteeringHead {
    /// Builds `dense{i}` layers under `vb` (under `branch{b}` for each of `branches` > 1),
    /// the last one being the mixture output.
    pub fn new(
        config: &SteeringHeadConfig,
        features: usize,
        branches: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let mut widths = vec![features];
        widths.extend(&config.hidden);
        widths.push(3 * config.components);
        let branches = match branches {
            1 => vec![Mlp::new(&widths, vb)?],
            n => (0..n)
                .map(|b| Mlp::new(&widths, vb.pp(format!("branch{b}"))))
                .collect::<Result<_>>()?,
        };
        Ok(Self {
            scale: config.scale(),
            branches,
        })
    }

    /// Features `(B, F)` → mixtures; `commands (B, N)` one-hot picks each sample's branch
    /// when there are N > 1.
    pub fn forward(&self, features: &Tensor, commands: Option<&Tensor>) -> Result<MixtureBatch> {
        let x = match (&self.branches[..], commands) {
            ([one], _) => one.forward(features)?, // (B, F) → (B, 3K)
            (many, Some(onehot)) => {
                let outs: Vec<Tensor> = many
                    .iter()
                    .map(|m| m.forward(features))
                    .collect::<Result<_>>()?;
                let all = Tensor::stack(&outs, 1)?; // (B, N, 3K)
                all.broadcast_mul(&onehot.unsqueeze(2)?)?.sum(1)?
            }
            (many, None) => bail!(
                "steering head: {} command branches but no commands given",
                many.len()
            ),
        };
        MixtureBatch::from_raw(&x, &self.scale)
    }
}

/// What a steering network reads for a batch, all f32: camera images `(B, 3, H, W)` 0–1, and
/// as its config asks, map patches `(B, C, S, S)` 0–1, commands one-hot `(B, N)` and the car's
/// wheel speeds `(B, 1)`, m/s.
pub struct Inputs {
    pub images: Tensor,
    pub maps: Option<Tensor>,
    pub commands: Option<Tensor>,
    pub wheel_speeds: Option<Tensor>,
}

impl Inputs {
    /// Camera images alone.
    pub fn camera(images: Tensor) -> Self {
        Self {
            images,
            maps: None,
            commands: None,
            wheel_speeds: None,
        }
    }

    /// The inputs of samples `start..start + len`.
    pub fn narrow(&self, start: usize, len: usize) -> Result<Self> {
        let part = |t: &Tensor| t.narrow(0, start, len);
        Ok(Self {
            images: part(&self.images)?,
            maps: self.maps.as_ref().map(part).transpose()?,
            commands: self.commands.as_ref().map(part).transpose()?,
            wheel_speeds: self.wheel_speeds.as_ref().map(part).transpose()?,
        })
    }

    /// The same inputs cut off from the graph (no gradient flows back into them).
    pub fn detach(&self) -> Self {
        Self {
            images: self.images.detach(),
            maps: self.maps.as_ref().map(Tensor::detach),
            commands: self.commands.as_ref().map(Tensor::detach),
            wheel_speeds: self.wheel_speeds.as_ref().map(Tensor::detach),
        }
    }
}

/// Backbone plus steering head; for navigation, a map branch beside the backbone; for full
/// control, a speed head beside the steering head.
pub struct SteeringNet {
    pub backbone: Backbone,
    pub map: Option<Backbone>,
    pub head: SteeringHead,
    /// The mixture over target speed (`None`: the model steers only), and its own camera
    /// trunk where it has one.
    pub speed: Option<(SpeedHead, Option<Backbone>)>,
    /// The lane-pose head on the camera's features, trained only
    /// ([`crate::nn::models::steering::config::PoseHeadConfig`]).
    pub pose: Option<Mlp>,
}

impl SteeringNet {
    /// Builds the network under `vb` (`backbone.*`, `map.*`, `steering.*`, `speed.*`); weights start at
    /// zero, so call [`crate::nn::models::checkpoint::initialise`] or load a checkpoint.
    pub fn new(config: &ModelConfig, vb: VarBuilder) -> Result<Self> {
        let features = match config.head_features() {
            Ok(n) => n,
            Err(e) => bail!("model config: {e}"),
        };
        let backbone = Backbone::new(&config.backbone, config.input, vb.pp("backbone"))?;
        let map = match &config.map {
            Some(m) => Some(Backbone::new(
                &crate::nn::models::steering::config::BackboneConfig {
                    normalise: false,
                    layers: m.layers.clone(),
                },
                m.input(),
                vb.pp("map"),
            )?),
            None => None,
        };
        let head = SteeringHead::new(
            &config.steering,
            features,
            config.command_heads,
            vb.pp("steering"),
        )?;
        let speed = match &config.speed {
            Some(s) => {
                let input = config.input;
                let own = match s.trunk_shape((input.channels, input.height, input.width)) {
                    Ok(shape) => shape.map_or(0, |(c, h, w)| c * h * w),
                    Err(e) => bail!("model config: {e}"),
                };
                let trunk = match s.trunk.is_empty() {
                    true => None,
                    false => Some(Backbone::new(
                        &crate::nn::models::steering::config::BackboneConfig {
                            normalise: true,
                            layers: s.trunk.clone(),
                        },
                        input,
                        vb.pp("speed").pp("trunk"),
                    )?),
                };
                Some((SpeedHead::new(s, features + own, vb.pp("speed"))?, trunk))
            }
            None => None,
        };
        let pose = match &config.pose {
            Some(p) => {
                let camera = match config.feature_shape() {
                    Ok((c, h, w)) => c * h * w,
                    Err(e) => bail!("model config: {e}"),
                };
                let mut widths = vec![camera];
                widths.extend(&p.hidden);
                widths.push(crate::nn::models::steering::config::POSE_OUTPUTS);
                Some(Mlp::new(&widths, vb.pp("pose"))?)
            }
            None => None,
        };
        Ok(Self {
            backbone,
            map,
            head,
            speed,
            pose,
        })
    }

    /// Inputs → mixtures.
    pub fn forward(&self, inputs: &Inputs) -> Result<MixtureBatch> {
        let camera = self.camera_features(&inputs.images)?;
        self.forward_features(&camera, inputs.maps.as_ref(), inputs.commands.as_ref())
    }

    /// The backbone's features of camera images `(B, 3, H, W)`, flattened: `(B, F)`.
    pub fn camera_features(&self, images: &Tensor) -> Result<Tensor> {
        self.backbone.forward(images)?.flatten_from(1)
    }

    /// Mixtures from camera features `(B, F)` and the rest of the inputs; camera features of
    /// one image `(1, F)` are shared by every map patch `(N, C, S, S)` (many candidate poses
    /// seen through one camera frame, as localisation asks).
    pub fn forward_features(
        &self,
        camera: &Tensor,
        maps: Option<&Tensor>,
        commands: Option<&Tensor>,
    ) -> Result<MixtureBatch> {
        self.head.forward(&self.joined(camera, maps)?, commands)
    }

    /// Inputs → the steering mixtures and, for a model with a speed head, the mixtures over
    /// target speed, both from the same features; for a model with a lane-pose head, the lane
    /// pose from the camera's features alone.
    pub fn forward_all(&self, inputs: &Inputs) -> Result<Outputs> {
        let camera = self.camera_features(&inputs.images)?;
        let features = self.joined(&camera, inputs.maps.as_ref())?;
        Ok(Outputs {
            steering: self.head.forward(&features, inputs.commands.as_ref())?,
            speed: match &self.speed {
                Some((head, trunk)) => {
                    let own = match trunk {
                        Some(t) => Some(t.forward(&inputs.images)?.flatten_from(1)?),
                        None => None,
                    };
                    Some(head.forward(&features, own.as_ref(), inputs.wheel_speeds.as_ref())?)
                }
                None => None,
            },
            pose: self.pose.as_ref().map(|p| p.forward(&camera)).transpose()?,
        })
    }

    /// The features the heads read: the camera's, and the map branch's beside them.
    fn joined(&self, camera: &Tensor, maps: Option<&Tensor>) -> Result<Tensor> {
        Ok(match (&self.map, maps) {
            (None, _) => camera.clone(),
            (Some(branch), Some(maps)) => {
                let map = branch.forward(maps)?.flatten_from(1)?;
                let camera = match (camera.dim(0)?, map.dim(0)?) {
                    (1, n) if n > 1 => camera.broadcast_as((n, camera.dim(1)?))?.contiguous()?,
                    _ => camera.clone(),
                };
                Tensor::cat(&[&camera, &map], 1)?
            }
            (Some(_), None) => bail!("this model reads a map beside the camera but none was given"),
        })
    }
}

/// What a network outputs for a batch: steering mixtures, mixtures over target speed (m/s)
/// when it has a speed head, and the lane pose `(B, 2)` in the head's units when it has one.
pub struct Outputs {
    pub steering: MixtureBatch,
    pub speed: Option<MixtureBatch>,
    pub pose: Option<Tensor>,
}

/// A steering model: its config, its variables and the network built on them.
pub struct Model {
    pub config: ModelConfig,
    pub varmap: VarMap,
    pub net: SteeringNet,
}

impl ModelDir for Model {
    type Config = ModelConfig;

    fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    fn zeroed(config: ModelConfig, path: &Path) -> CrateResult<Self> {
        config.feature_shape().map_err(|e| model_err(path, e))?;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device());
        let net = SteeringNet::new(&config, vb).map_err(|e| model_err(path, e))?;
        Ok(Self {
            config,
            varmap,
            net,
        })
    }
}

impl Model {
    /// Another network on the same variables (no copy): a second driver of the same weights,
    /// for another thread.
    pub fn share(&self) -> CrateResult<Model> {
        let vb = VarBuilder::from_varmap(&self.varmap, DType::F32, &device());
        Ok(Self {
            config: self.config.clone(),
            varmap: self.varmap.clone(),
            net: SteeringNet::new(&self.config, vb)?,
        })
    }

    /// The variables by name (for saving and comparing).
    pub fn tensors(&self) -> CrateResult<HashMap<String, Tensor>> {
        varmap_tensors(&self.varmap)
    }

    /// Replaces every variable with the tensor of the same name in a safetensors file, after
    /// checking that names, shapes and types all match the config.
    pub fn load_weights(&self, path: &Path) -> CrateResult<()> {
        load_varmap(&self.varmap, path, None)
    }

    /// What identifies these weights: the first 16 hex digits of the SHA-256 of every
    /// variable's name and values, in name order. Recorded with every tick a policy drove, so
    /// that a reader can tell which model's actions an episode holds.
    pub fn fingerprint(&self) -> CrateResult<String> {
        use sha2::{Digest, Sha256};
        let tensors = self.tensors()?;
        let mut names: Vec<&String> = tensors.keys().collect();
        names.sort();
        let mut hash = Sha256::new();
        for name in names {
            hash.update(name.as_bytes());
            let values = tensors[name].flatten_all()?.to_vec1::<f32>()?;
            for v in values {
                hash.update(v.to_le_bytes());
            }
        }
        Ok(hash
            .finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect())
    }

    /// Steering distributions for a batch of inputs.
    pub fn predict(&self, inputs: &Inputs) -> CrateResult<Vec<SteeringDistribution>> {
        Ok(self.net.forward(inputs)?.to_distributions()?)
    }

    /// Steering distributions and, for a model with a speed head, distributions over target
    /// speed (m/s), for a batch of inputs.
    pub fn predict_all(
        &self,
        inputs: &Inputs,
    ) -> CrateResult<(Vec<SteeringDistribution>, Option<Vec<SpeedDistribution>>)> {
        let out = self.net.forward_all(inputs)?;
        let speed = match &out.speed {
            Some(s) => Some(s.to_distributions()?),
            None => None,
        };
        Ok((out.steering.to_distributions()?, speed))
    }
}
