//! Scenario files: RON descriptions of a track, its road, props, lighting, camera rig and
//! vehicle. Parsing rejects unknown fields with the file, line, column and field path;
//! [`Scenario::validate`] then reports every semantic problem at once.

use crate::error::{Error, Result};
use crate::sim::ron_file::{parse_ron, read_ron_file, valid};
use crate::sim::shipped::BUILTIN;
use crate::sim::track::Track;
pub use crate::sim::track::{MAX_TRACK_LENGTH_M, TrackSpec};
use crate::sim::traffic::spec::TrafficSpec;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub mod checks;

/// A complete driving scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name used in summaries and output folders.
    pub name: String,
    /// One line for people reading the file.
    #[serde(default)]
    pub description: String,
    /// Seed of the episode: start pose, expert noise. `Env::reset(seed)` overrides it.
    pub seed: u64,
    /// Simulation tick in seconds (default 1/20 s).
    #[serde(default = "default_dt_s")]
    pub dt_s: f64,
    /// Ticks per episode.
    #[serde(default = "default_episode_steps")]
    pub episode_steps: u32,
    /// The closed centreline of the track.
    pub track: TrackSpec,
    #[serde(default)]
    pub road: Road,
    #[serde(default)]
    pub props: Vec<Prop>,
    #[serde(default)]
    pub lighting: Lighting,
    #[serde(default)]
    pub camera: CameraRig,
    #[serde(default)]
    pub vehicle: VehicleSpec,
    /// A crash (off the paved area, a prop or a car touched) ends the episode.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub end_on_crash: bool,
    /// The buildings beside a town's roads (towns only; `density: 0.0` for open land).
    #[serde(default)]
    pub buildings: crate::sim::network::buildings::Buildings,
    /// Other cars driving the road network (towns only).
    #[serde(default, skip_serializing_if = "TrafficSpec::is_none")]
    pub traffic: TrafficSpec,
}

fn default_dt_s() -> f64 {
    0.05
}

fn default_episode_steps() -> u32 {
    1200
}

/// Road surface and paint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Road {
    /// Full width of the asphalt, metres.
    pub width_m: f64,
    pub lane_markings: LaneMarkings,
}

impl Default for Road {
    fn default() -> Self {
        Self {
            width_m: 7.0,
            lane_markings: LaneMarkings::default(),
        }
    }
}

/// Painted lines on the road.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LaneMarkings {
    pub centre: CentreLine,
    /// Solid lines along both edges (in a town, round the corners of its junctions too).
    pub edges: bool,
    /// Width of every painted line, metres.
    pub line_width_m: f64,
    /// Length of a dash and of the gap after it, metres (dashed centre line only).
    pub dash_m: f64,
    pub gap_m: f64,
}

impl Default for LaneMarkings {
    fn default() -> Self {
        Self {
            centre: CentreLine::Dashed,
            edges: true,
            line_width_m: 0.15,
            dash_m: 3.0,
            gap_m: 6.0,
        }
    }
}

/// The line painted along the centre of the road.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CentreLine {
    None,
    Dashed,
    Solid,
}

/// A static object in the world.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prop {
    pub kind: PropKind,
    pub at: Placement,
    /// Extra rotation about the vertical axis, degrees (counter-clockwise).
    #[serde(default)]
    pub yaw_deg: f64,
    /// Repeat the prop `count` times, `spacing_m` further along the track each time
    /// (track placements only).
    #[serde(default)]
    pub repeat: Option<Repeat>,
}

/// Prop classes; each is drawn with its own colour and shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PropKind {
    Cone,
    Barrier,
    ParkedCar,
    Tree,
    Sign,
    Pedestrian,
}

impl PropKind {
    pub const ALL: [PropKind; 6] = [
        PropKind::Cone,
        PropKind::Barrier,
        PropKind::ParkedCar,
        PropKind::Tree,
        PropKind::Sign,
        PropKind::Pedestrian,
    ];
}

/// Where a prop stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Placement {
    /// `s_m` metres along the centreline, `offset_m` to its left (negative: right).
    Track { s_m: f64, offset_m: f64 },
    /// Absolute ground position.
    Absolute { x: f64, y: f64 },
}

/// Repetition of a track-placed prop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repeat {
    pub count: u32,
    pub spacing_m: f64,
}

/// Sun, sky and fog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lighting {
    /// Sun height above the horizon, degrees (0..=90).
    pub sun_elevation_deg: f64,
    /// Compass direction the sunlight comes from, degrees counter-clockwise from east.
    pub sun_azimuth_deg: f64,
    /// Strength of direct sunlight: a white surface facing the sun shows
    /// `sun_intensity + ambient_intensity` of full white (0..=4).
    pub sun_intensity: f64,
    /// Strength of the uniform sky light on every surface (0..=4).
    pub ambient_intensity: f64,
    /// Sky colour, sRGB in [0, 1].
    pub sky_colour: [f64; 3],
    /// Colour of the ground beside the road, sRGB in [0, 1].
    pub ground_colour: [f64; 3],
    pub fog: Option<Fog>,
}

impl Default for Lighting {
    fn default() -> Self {
        Self {
            sun_elevation_deg: 50.0,
            sun_azimuth_deg: 30.0,
            sun_intensity: 0.75,
            ambient_intensity: 0.35,
            sky_colour: [0.53, 0.72, 0.92],
            ground_colour: [0.33, 0.52, 0.25],
            fog: None,
        }
    }
}

/// Linear distance fog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fog {
    /// sRGB in [0, 1].
    pub colour: [f64; 3],
    /// Distance where fog starts and where it is opaque, metres.
    pub start_m: f64,
    pub end_m: f64,
}

/// The hood-mounted camera of every car.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CameraRig {
    /// Frame size in pixels (PilotNet uses 200×66).
    pub width_px: u32,
    pub height_px: u32,
    /// Horizontal field of view, degrees.
    pub horizontal_fov_deg: f64,
    /// Height of the lens above the ground, metres.
    pub mount_height_m: f64,
    /// Distance of the lens ahead of the rear axle, metres.
    pub mount_forward_m: f64,
    /// Tilt, degrees; negative looks down.
    pub pitch_deg: f64,
    /// Turn from the car's heading, degrees; positive looks left.
    pub yaw_deg: f64,
}

impl Default for CameraRig {
    fn default() -> Self {
        Self {
            width_px: 200,
            height_px: 66,
            horizontal_fov_deg: 90.0,
            mount_height_m: 1.4,
            mount_forward_m: 1.8,
            pitch_deg: -6.0,
            yaw_deg: 0.0,
        }
    }
}

impl CameraRig {
    pub const WIDTH_RANGE: (u32, u32) = (16, 2048);
    pub const HEIGHT_RANGE: (u32, u32) = (16, 2048);
    pub const FOV_RANGE_DEG: (f64, f64) = (20.0, 150.0);
    pub const HEIGHT_M_RANGE: (f64, f64) = (0.3, 5.0);
    pub const PITCH_RANGE_DEG: (f64, f64) = (-45.0, 30.0);
    pub const YAW_RANGE_DEG: (f64, f64) = (-45.0, 45.0);
}

/// Kinematic-bicycle parameters of the car.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VehicleSpec {
    /// Distance between the axles, metres.
    pub wheelbase_m: f64,
    /// Largest front-wheel angle, degrees.
    pub max_steer_deg: f64,
    /// Largest change of the wheel angle per second, degrees/s.
    pub max_steer_rate_deg_s: f64,
    /// Cruise speed the expert aims for, m/s.
    pub speed_m_s: f64,
    /// Largest acceleration and braking, m/s².
    pub max_accel_m_s2: f64,
    /// Body size for drawing, metres.
    pub length_m: f64,
    pub width_m: f64,
}

impl Default for VehicleSpec {
    fn default() -> Self {
        Self {
            wheelbase_m: 2.7,
            max_steer_deg: 32.0,
            max_steer_rate_deg_s: 120.0,
            speed_m_s: 10.0,
            max_accel_m_s2: 3.0,
            length_m: 4.4,
            width_m: 1.8,
        }
    }
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario> {
        read_ron_file(path, Self::from_ron)
    }

    /// Parses and validates scenario text; `file` names it in errors.
    pub fn from_ron(text: &str, file: &str) -> Result<Scenario> {
        let scenario = Self::parse(text, file)?;
        let problems = scenario.validate();
        valid(scenario, file, problems)
    }

    /// Parses without semantic checks.
    pub fn parse(text: &str, file: &str) -> Result<Scenario> {
        parse_ron(text, file)
    }

    /// The road network and the route of this scenario, when its track is a network.
    pub fn build_network(
        &self,
    ) -> Result<
        Option<(
            crate::sim::network::Network,
            crate::sim::network::route::Route,
        )>,
    > {
        self.track
            .build_network(self.road.width_m)
            .map_err(|problems| Error::ScenarioInvalid {
                file: self.name.clone(),
                problems,
            })
    }

    /// Builds the track this scenario describes.
    pub fn build_track(&self) -> Result<Track> {
        Track::from_spec(&self.track, self.road.width_m).map_err(|e| Error::ScenarioInvalid {
            file: self.name.clone(),
            problems: vec![format!("track: {e}")],
        })
    }

    /// Number of props after expanding repeats.
    pub fn expanded_prop_count(&self) -> usize {
        self.props
            .iter()
            .map(|p| p.repeat.as_ref().map_or(1, |r| r.count as usize))
            .sum()
    }
}

/// Parses the built-in scenarios ([`BUILTIN`]).
pub fn builtin() -> Result<Vec<Scenario>> {
    BUILTIN
        .iter()
        .map(|(file, text)| Scenario::from_ron(text, &format!("scenarios/{file}")))
        .collect()
}
