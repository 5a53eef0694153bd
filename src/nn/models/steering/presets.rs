//! The steering model's presets, by name: `pilotnet`, `lecture`, `navnet`, `cil`, `lanepose`;
//! and a preset with its map and speed head as a command or a Python call asks for them
//! ([`ModelConfig::from_preset`]). A new preset is a function here and a name in [`PRESETS`].

use crate::error::{Error, Result};
use crate::nn::models::layer_spec::LayerSpec;
use crate::nn::models::steering::config::{
    BackboneConfig, InputSpec, MapBranchConfig, ModelConfig, PRESETS, PoseHeadConfig,
    SteeringHeadConfig, Target,
};
use crate::nn::models::steering::speed::SpeedHeadConfig;
use crate::sim::map_input::{COMMANDS, MapMode, MapSpec};

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
            map: None,
            command_heads: 1,
            target: Target::Curvature,
            speed: None,
            pose: None,
        }
    }

    /// PilotNet's camera trunk with a map branch (three strided convolutions over the 64 × 64
    /// patch: 16, 32, 32 channels, 6 × 6 at the end) whose features join the camera's before
    /// a 100-50-10 head over a mixture of 5 components, room for one mode per exit of a
    /// 4-way junction and one to spare (Amini et al. 2019), and a speed head over the same
    /// features ([`SpeedHeadConfig::default`]). `mode` picks the map's channels.
    pub fn navnet(mode: MapMode) -> Self {
        let conv = |out_channels, kernel, stride| LayerSpec::Conv {
            out_channels,
            kernel,
            stride,
            padding: 0,
        };
        let mut config = Self::pilotnet();
        config.preset = "navnet".into();
        config.steering.components = 5;
        config.speed = Some(SpeedHeadConfig::default());
        if mode != MapMode::None {
            config.map = Some(MapBranchConfig {
                mode,
                spec: MapSpec::default(),
                layers: vec![conv(16, 5, 2), conv(32, 5, 2), conv(32, 3, 2)],
            });
        }
        config
    }

    /// Conditional imitation learning (Codevilla et al. 2018): PilotNet's trunk and one
    /// mixture head per high-level command (follow the road, left, straight, right at the
    /// next junction), the command choosing the head; and a speed head, as CILRS predicts
    /// speed beside its controls (Codevilla et al. 2019).
    pub fn cil() -> Self {
        let mut config = Self::pilotnet();
        config.preset = "cil".into();
        config.command_heads = COMMANDS;
        config.speed = Some(SpeedHeadConfig::default());
        config
    }

    /// A lane-pose sensor: PilotNet's trunk and a 3-component mixture over the car's offset
    /// from its lane's centre (metres), read from the camera alone. The car's localisation
    /// weighs candidate poses by it (`eval --localise`).
    pub fn lanepose() -> Self {
        let mut config = Self::pilotnet();
        config.preset = "lanepose".into();
        config.target = Target::LaneOffset;
        config.steering.components = 3;
        config.steering.curvature_scale_per_m = 1.0;
        config.steering.std_floor_per_m = 0.02;
        config
    }

    /// The lecture's classifier trunk: conv 32 3×3 + ReLU, max-pool 2, conv 64 3×3 + ReLU,
    /// max-pool 2; a 64-wide dense layer before the mixture.
    pub fn lecture() -> Self {
        Self {
            preset: "lecture".into(),
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
            // PilotNet's input, and like it no map, one head, curvature, no speed head.
            ..Self::pilotnet()
        }
    }

    /// A preset by name.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "pilotnet" => Some(Self::pilotnet()),
            "lecture" => Some(Self::lecture()),
            "navnet" => Some(Self::navnet(MapMode::Routed)),
            "cil" => Some(Self::cil()),
            "lanepose" => Some(Self::lanepose()),
            _ => None,
        }
    }
}

/// What a caller asks of a preset's speed and lane-pose heads (every field off: the preset's
/// own).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HeadChoice {
    /// Add a speed head where the preset has none (pilotnet, lecture).
    pub add: bool,
    /// Leave the speed head out.
    pub remove: bool,
    /// How much of the speed loss's gradient reaches the camera and map trunks, 0 to 1.
    pub trunk_gradient: Option<f64>,
    /// The head also reads the car's wheel speed.
    pub wheel_speed: bool,
    /// No camera trunk of the head's own.
    pub no_trunk: bool,
    /// How much more a braking frame weighs in the speed loss, 1 to 100.
    pub braking_weight: Option<f64>,
    /// Add a lane-pose head whose loss weighs this much ([`PoseHeadConfig`]).
    pub pose_weight: Option<f64>,
}

impl ModelConfig {
    /// The config of `preset`, its map set to `map` where given (a `navnet` reads a routed map
    /// unless told otherwise; [`MapMode::None`] is its camera-only baseline), its speed and
    /// lane-pose heads as `heads` asks. Errors name the option (as the command line spells it)
    /// and the fix.
    pub fn from_preset(preset: &str, map: Option<MapMode>, heads: &HeadChoice) -> Result<Self> {
        let invalid = |message: String| Error::InvalidArgument(message);
        let mut config = Self::preset(preset).ok_or_else(|| {
            invalid(format!(
                "unknown --preset {preset:?}; choose one of {}",
                PRESETS.join(", ")
            ))
        })?;
        match map {
            None => {}
            Some(mode) if preset == "navnet" => config = Self::navnet(mode),
            Some(_) => {
                return Err(invalid(format!(
                    "--map picks the map a navnet model reads; the {preset} preset reads none \
                     (use --preset navnet)"
                )));
            }
        }
        if heads.add {
            if !config.target.is_curvature() {
                return Err(invalid(format!(
                    "--speed-head: the {preset} preset is not a driving policy"
                )));
            }
            config.speed.get_or_insert_with(Default::default);
        }
        if heads.remove {
            config.speed = None;
        }
        if let Some(w) = heads.pose_weight {
            let pose = PoseHeadConfig::new(w);
            if let Some(problem) = pose.problem() {
                return Err(invalid(format!("--pose-head {w}: {problem}")));
            }
            if !config.target.is_curvature() {
                return Err(invalid(format!(
                    "--pose-head: the {preset} preset is not a driving policy"
                )));
            }
            config.pose = Some(pose);
        }
        let asked = [
            (heads.trunk_gradient.is_some(), "--speed-trunk-gradient"),
            (heads.wheel_speed, "--wheel-speed"),
            (heads.no_trunk, "--no-speed-trunk"),
            (heads.braking_weight.is_some(), "--speed-braking-weight"),
        ];
        let Some(head) = config.speed.as_mut() else {
            if let Some((_, flag)) = asked.iter().find(|(set, _)| *set) {
                return Err(invalid(format!(
                    "{flag}: the {preset} preset has no speed head (add --speed-head)"
                )));
            }
            return Ok(config);
        };
        if let Some(w) = heads.trunk_gradient {
            if !(0.0..=1.0).contains(&w) {
                return Err(invalid(format!(
                    "--speed-trunk-gradient {w}: must be within 0 to 1"
                )));
            }
            head.trunk_gradient = w;
        }
        head.reads_wheel_speed |= heads.wheel_speed;
        if heads.no_trunk {
            head.trunk.clear();
        }
        if let Some(w) = heads.braking_weight {
            if !(w.is_finite() && (1.0..=100.0).contains(&w)) {
                return Err(invalid(format!(
                    "--speed-braking-weight {w}: must be within 1 to 100"
                )));
            }
            head.braking_weight = w;
        }
        Ok(config)
    }
}
