//! The steering model's configuration: a serde type saved as a checkpoint's `config.json` (its
//! named presets are in `presets.rs`).

pub use crate::nn::models::layer_spec::{LayerSpec, MAX_KERNEL, MAX_WIDTH, conv_parameters};
pub use crate::nn::models::steering::speed::SpeedHeadConfig;
use crate::sim::map_input::{COMMANDS, MapMode, MapSpec};
use serde::{Deserialize, Serialize};

/// The image the network reads: `channels`×`height`×`width`, values 0–1 in RGB order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
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
    /// (temperature scaling; [`crate::nn::metrics::calibration::fit_std_scale`]); 1 as trained.
    #[serde(default = "one")]
    pub std_scale: f64,
}

fn one() -> f64 {
    1.0
}

/// The map branch of a navigation network (Amini et al. 2019): a small CNN over the map
/// patch whose features join the camera's before the steering head.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapBranchConfig {
    /// Unrouted (the drivable area) or routed (and the route ahead).
    pub mode: MapMode,
    pub spec: MapSpec,
    pub layers: Vec<LayerSpec>,
}

impl MapBranchConfig {
    /// The input the branch reads: the mode's channels of a `size × size` patch.
    pub fn input(&self) -> InputSpec {
        InputSpec {
            channels: self.mode.channels(),
            height: self.spec.size,
            width: self.spec.size,
        }
    }
}

/// A whole model: input, backbone and steering head; for navigation, a map branch, or one
/// head per high-level command (conditional imitation, Codevilla et al. 2018).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The preset this configuration started from (informational).
    pub preset: String,
    pub input: InputSpec,
    pub backbone: BackboneConfig,
    pub steering: SteeringHeadConfig,
    /// The map branch (`None`: the camera alone).
    #[serde(default)]
    pub map: Option<MapBranchConfig>,
    /// Steering heads, one per command (follow, left, straight, right) when 4; 1 for a
    /// single head.
    #[serde(default = "one_head")]
    pub command_heads: usize,
    /// What the mixture is over: the expert's curvature (a driving policy), or the car's
    /// offset from its lane's centre (a lane-pose model, a localisation sensor).
    #[serde(default, skip_serializing_if = "Target::is_curvature")]
    pub target: Target,
    /// A mixture over target speed beside the steering mixture (`None`: the model steers and
    /// the car drives at the expert's speed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<SpeedHeadConfig>,
    /// A lane-pose head beside the steering head, trained only (`None`: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pose: Option<PoseHeadConfig>,
}

/// An auxiliary head that learns, from the camera's features alone, where the car is on its
/// route's lane or turn path: its offset from the path and its heading against it, the
/// simulator's free labels. Driving never reads it; its loss makes the camera trunk the
/// steering shares locate the car on the path it must follow (where the steering label alone
/// mixes that with the turn's size, and the map, cut at a wrong fix, cannot tell it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoseHeadConfig {
    /// Widths of the dense ReLU layers before the two outputs.
    pub hidden: Vec<usize>,
    /// The weight of its loss against the steering NLL.
    pub weight: f64,
}

impl PoseHeadConfig {
    /// The range of `weight` a caller may set.
    pub const WEIGHT_RANGE: (f64, f64) = (0.0, 100.0);

    pub fn new(weight: f64) -> Self {
        Self {
            hidden: vec![100],
            weight,
        }
    }

    /// What is wrong with the head, naming the field.
    pub fn problem(&self) -> Option<String> {
        let (lo, hi) = Self::WEIGHT_RANGE;
        if !(self.weight.is_finite() && self.weight > lo && self.weight <= hi) {
            return Some(format!(
                "pose.weight: {} must be over {lo} and at most {hi}",
                self.weight
            ));
        }
        if self.hidden.len() > 16 || self.hidden.iter().any(|&h| h == 0 || h > MAX_WIDTH) {
            return Some(format!(
                "pose.hidden: at most 16 layers, each 1 to {MAX_WIDTH} wide"
            ));
        }
        None
    }

    /// Weights of the head reading `features` inputs.
    fn parameters(&self, features: f64) -> f64 {
        let mut width = features;
        let mut total = 0.0;
        for &h in self.hidden.iter().chain(&[POSE_OUTPUTS]) {
            total += width * h as f64 + h as f64;
            width = h as f64;
        }
        total
    }
}

/// What the lane-pose head outputs: the offset from the path (in [`POSE_OFFSET_UNIT_M`]) and
/// the heading against it (in [`POSE_HEADING_UNIT_RAD`]).
pub const POSE_OUTPUTS: usize = 2;
/// Metres of offset that one unit of the head's first output stands for.
pub const POSE_OFFSET_UNIT_M: f64 = 1.0;
/// Radians of heading error that one unit of its second output stands for.
pub const POSE_HEADING_UNIT_RAD: f64 = 0.1;
/// Labels are clipped to this many units: a car far off its route (lost in a junction) is
/// told "far", not how far.
pub const POSE_CLIP_UNITS: f64 = 3.0;

/// The quantity a model's mixture is over, and its label in recorded episodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The expert's curvature, 1/m (a policy).
    #[default]
    Curvature,
    /// The car's signed offset from its lane's centre, metres (positive: left): seen by the
    /// camera, labelled free by the simulator, and what the car's own localisation matches
    /// against the map.
    LaneOffset,
}

impl Target {
    pub fn is_curvature(&self) -> bool {
        *self == Target::Curvature
    }
}

fn one_head() -> usize {
    1
}

impl InputSpec {
    /// Refuses an empty input, or one over 16 channels or [`MAX_INPUT_PX`] a side.
    pub fn check(&self) -> Result<(), String> {
        let i = self;
        if i.channels == 0 || i.height == 0 || i.width == 0 {
            return Err("input: channels, height and width must be at least 1".into());
        }
        if i.channels > 16 || i.height > MAX_INPUT_PX || i.width > MAX_INPUT_PX {
            return Err(format!(
                "input: at most 16 channels and {MAX_INPUT_PX} pixels a side, got {}x{}x{}",
                i.channels, i.height, i.width
            ));
        }
        Ok(())
    }
}

/// Refuses a model of about `parameters` weights when that is over [`MAX_PARAMETERS`], before
/// any is allocated.
pub fn check_parameters(parameters: f64) -> Result<(), String> {
    if parameters > MAX_PARAMETERS as f64 {
        return Err(format!(
            "the model would have about {parameters:.3e} parameters; the limit is \
             {MAX_PARAMETERS:.0e} (narrower layers, or a smaller input or feature map)"
        ));
    }
    Ok(())
}

/// Preset names a config may carry ([`ModelConfig::preset`] builds each).
pub const PRESETS: [&str; 5] = ["pilotnet", "lecture", "navnet", "cil", "lanepose"];

/// Largest side of an input image, pixels.
pub const MAX_INPUT_PX: usize = 4096;
/// Most weights a model may have (400 MB of f32).
pub const MAX_PARAMETERS: u64 = 100_000_000;

impl ModelConfig {
    /// Shape (C, H, W) of the backbone's feature map, or every reason the config is unusable.
    pub fn feature_shape(&self) -> Result<(usize, usize, usize), String> {
        if !PRESETS.contains(&self.preset.as_str()) {
            return Err(format!(
                "preset: {:?} is not one of {}",
                self.preset,
                PRESETS.join(", ")
            ));
        }
        let i = self.input;
        i.check()?;
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
        if s.components > 64 || s.hidden.len() > 16 || s.hidden.iter().any(|&h| h > MAX_WIDTH) {
            return Err(format!(
                "steering: at most 64 components and 16 hidden layers of at most {MAX_WIDTH}"
            ));
        }
        if !(s.std_scale.is_finite() && s.std_scale > 0.0) {
            return Err("steering: std_scale must be positive and finite".into());
        }
        if !(s.curvature_scale_per_m > 0.0 && s.std_floor_per_m > 0.0) {
            return Err(
                "steering: curvature_scale_per_m and std_floor_per_m must be positive".into(),
            );
        }
        if ![1, COMMANDS].contains(&self.command_heads) {
            return Err(format!(
                "command_heads: {} must be 1 or {COMMANDS} (follow, left, straight, right)",
                self.command_heads
            ));
        }
        if let Some(speed) = &self.speed {
            if let Some(problem) = speed.problems() {
                return Err(problem);
            }
            speed.trunk_shape((i.channels, i.height, i.width))?;
        }
        if self.speed.is_some() && !self.target.is_curvature() {
            return Err("speed: only a driving policy (target curvature) has a speed head".into());
        }
        if let Some(pose) = &self.pose {
            if let Some(problem) = pose.problem() {
                return Err(problem);
            }
            if !self.target.is_curvature() {
                return Err(
                    "pose: only a driving policy (target curvature) has a pose head".into(),
                );
            }
        }
        let map = self.map_feature_shape()?;
        check_parameters(self.parameter_estimate(shape, map))?;
        Ok(shape)
    }

    /// Weights of the whole model (counted in f64: a hostile config must not overflow).
    fn parameter_estimate(
        &self,
        features: (usize, usize, usize),
        map: Option<(usize, usize, usize)>,
    ) -> f64 {
        let convs = conv_parameters;
        let volume = |(c, h, w): (usize, usize, usize)| c as f64 * h as f64 * w as f64;
        let camera = volume(features);
        let mut total = convs(self.input.channels, &self.backbone.layers);
        if let Some(m) = &self.map {
            total += convs(m.mode.channels(), &m.layers);
        }
        let mut width = volume(features) + map.map_or(0.0, volume);
        let mut head = 0.0;
        for &h in &self.steering.hidden {
            head += width * h as f64 + h as f64;
            width = h as f64;
        }
        head += width * 3.0 * self.steering.components as f64;
        let features = volume(features) + map.map_or(0.0, volume);
        let input = (self.input.channels, self.input.height, self.input.width);
        let speed = self
            .speed
            .as_ref()
            .map_or(0.0, |s| s.parameters(features, input));
        let pose = self.pose.as_ref().map_or(0.0, |p| p.parameters(camera));
        total + head * self.command_heads as f64 + speed + pose
    }

    /// Shape (C, H, W) of the map branch's feature map (`None` without a map branch).
    pub fn map_feature_shape(&self) -> Result<Option<(usize, usize, usize)>, String> {
        let Some(map) = &self.map else {
            return Ok(None);
        };
        if map.mode == MapMode::None {
            return Err("map.mode: a map branch reads unrouted or routed maps".into());
        }
        let problems = map.spec.problems();
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        let i = map.input();
        let mut shape = (i.channels, i.height, i.width);
        for (n, layer) in map.layers.iter().enumerate() {
            shape = layer
                .output(shape)
                .map_err(|e| format!("map.layers[{n}]: {e}"))?;
        }
        Ok(Some(shape))
    }

    /// Channels of the map patch the model reads (0: no map).
    pub fn map_channels(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.mode.channels())
    }

    /// Whether the model reads a navigation command (one head per command).
    pub fn reads_commands(&self) -> bool {
        self.command_heads > 1
    }

    /// Whether the model reads the car's wheel speed (its speed head does).
    pub fn reads_wheel_speed(&self) -> bool {
        self.speed.as_ref().is_some_and(|s| s.reads_wheel_speed)
    }

    /// Whether the model is told the route: a routed map or a command.
    pub fn reads_route(&self) -> bool {
        self.reads_commands() || self.map.as_ref().is_some_and(|m| m.mode == MapMode::Routed)
    }

    /// Whether the model navigates towns without being told the route (a navnet with an
    /// unrouted map or none): at a junction it offers a mode per exit and its driver picks one.
    pub fn chooses_roads(&self) -> bool {
        !self.reads_route() && (self.preset == "navnet" || self.map.is_some())
    }

    /// Features the steering head reads: the camera's and the map's, flattened.
    pub fn head_features(&self) -> Result<usize, String> {
        let (c, h, w) = self.feature_shape()?;
        let map = self.map_feature_shape()?.map_or(0, |(c, h, w)| c * h * w);
        Ok(c * h * w + map)
    }
}

impl SteeringHeadConfig {
    pub(crate) fn default_with(hidden: Vec<usize>) -> Self {
        Self {
            hidden,
            components: 3,
            curvature_scale_per_m: 0.05,
            std_floor_per_m: 1e-5,
            std_scale: 1.0,
        }
    }
}
