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
    /// Solid lines along both edges.
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

    /// Every semantic problem of the scenario, empty when it is sound.
    pub fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        let mut check = |ok: bool, msg: String| {
            if !ok {
                p.push(msg);
            }
        };
        check(
            !self.name.trim().is_empty(),
            "name: must not be empty".into(),
        );
        // The name becomes file names (episodes, reports): no folders, nothing hidden.
        check(
            self.name.trim().is_empty() || safe_file_stem(&self.name),
            format!(
                "name: {:?} must be at most 100 letters, digits, spaces or `_-.+()`, not \
                 starting with a dot (it names the files written for this scenario)",
                self.name
            ),
        );
        check(
            self.dt_s.is_finite() && self.dt_s > 0.0 && self.dt_s <= 0.5,
            format!("dt_s: {} must be in (0, 0.5] seconds", self.dt_s),
        );
        check(
            self.episode_steps > 0,
            "episode_steps: must be positive".into(),
        );
        let road = &self.road;
        check(
            road.width_m.is_finite() && road.width_m > 0.0 && road.width_m <= 60.0,
            format!("road.width_m: {} must be in (0, 60] metres", road.width_m),
        );
        let lm = &road.lane_markings;
        check(
            lm.line_width_m.is_finite()
                && lm.line_width_m > 0.0
                && lm.line_width_m < road.width_m / 4.0,
            format!(
                "road.lane_markings.line_width_m: {} must be positive and under a quarter of the road width",
                lm.line_width_m
            ),
        );
        check(
            lm.dash_m.is_finite() && lm.dash_m > 0.0 && lm.gap_m.is_finite() && lm.gap_m >= 0.0,
            "road.lane_markings: dash_m must be positive and gap_m non-negative".into(),
        );
        let l = &self.lighting;
        check(
            (0.0..=90.0).contains(&l.sun_elevation_deg),
            format!(
                "lighting.sun_elevation_deg: {} must be in [0, 90]",
                l.sun_elevation_deg
            ),
        );
        check(
            l.sun_azimuth_deg.is_finite(),
            "lighting.sun_azimuth_deg: must be finite".into(),
        );
        check(
            (0.0..=4.0).contains(&l.sun_intensity),
            format!(
                "lighting.sun_intensity: {} must be in [0, 4]",
                l.sun_intensity
            ),
        );
        check(
            (0.0..=4.0).contains(&l.ambient_intensity),
            format!(
                "lighting.ambient_intensity: {} must be in [0, 4]",
                l.ambient_intensity
            ),
        );
        for (name, c) in [
            ("sky_colour", l.sky_colour),
            ("ground_colour", l.ground_colour),
        ] {
            check(
                c.iter().all(|v| (0.0..=1.0).contains(v)),
                format!("lighting.{name}: components must be in [0, 1]"),
            );
        }
        if let Some(fog) = &l.fog {
            check(
                fog.colour.iter().all(|v| (0.0..=1.0).contains(v)),
                "lighting.fog.colour: components must be in [0, 1]".into(),
            );
            check(
                fog.start_m.is_finite()
                    && fog.start_m >= 0.0
                    && fog.end_m.is_finite()
                    && fog.end_m > fog.start_m,
                format!(
                    "lighting.fog: need 0 <= start_m < end_m, got start_m {} and end_m {}",
                    fog.start_m, fog.end_m
                ),
            );
        }
        let c = &self.camera;
        let in_range = |v: f64, (lo, hi): (f64, f64)| v.is_finite() && v >= lo && v <= hi;
        for (field, value, (lo, hi)) in [
            ("width_px", c.width_px, CameraRig::WIDTH_RANGE),
            ("height_px", c.height_px, CameraRig::HEIGHT_RANGE),
        ] {
            check(
                (lo..=hi).contains(&value),
                format!("camera.{field}: {value} must be in {:?}", (lo, hi)),
            );
        }
        for (field, value, range) in [
            (
                "horizontal_fov_deg",
                c.horizontal_fov_deg,
                CameraRig::FOV_RANGE_DEG,
            ),
            (
                "mount_height_m",
                c.mount_height_m,
                CameraRig::HEIGHT_M_RANGE,
            ),
            ("pitch_deg", c.pitch_deg, CameraRig::PITCH_RANGE_DEG),
            ("yaw_deg", c.yaw_deg, CameraRig::YAW_RANGE_DEG),
        ] {
            check(
                in_range(value, range),
                format!("camera.{field}: {value} must be in {range:?}"),
            );
        }
        check(
            c.mount_forward_m.is_finite() && c.mount_forward_m.abs() <= 10.0,
            format!(
                "camera.mount_forward_m: {} must be within ±10 m",
                c.mount_forward_m
            ),
        );
        let v = &self.vehicle;
        let positive = |x: f64| x.is_finite() && x > 0.0;
        check(
            positive(v.wheelbase_m),
            format!("vehicle.wheelbase_m: {} must be positive", v.wheelbase_m),
        );
        check(
            v.max_steer_deg > 0.0 && v.max_steer_deg < 80.0,
            format!(
                "vehicle.max_steer_deg: {} must be in (0, 80)",
                v.max_steer_deg
            ),
        );
        check(
            positive(v.max_steer_rate_deg_s),
            "vehicle.max_steer_rate_deg_s: must be positive".into(),
        );
        check(
            positive(v.speed_m_s) && v.speed_m_s <= 60.0,
            format!("vehicle.speed_m_s: {} must be in (0, 60]", v.speed_m_s),
        );
        check(
            positive(v.max_accel_m_s2),
            "vehicle.max_accel_m_s2: must be positive".into(),
        );
        check(
            positive(v.length_m) && positive(v.width_m),
            "vehicle.length_m and width_m: must be positive".into(),
        );
        let within = |v: f64, limit: f64| v.is_finite() && v.abs() <= limit;
        for (i, prop) in self.props.iter().enumerate() {
            let inside = match prop.at {
                Placement::Track { s_m, offset_m } => {
                    within(s_m, WORLD_LIMIT_M) && within(offset_m, PROP_OFFSET_LIMIT_M)
                }
                Placement::Absolute { x, y } => {
                    within(x, WORLD_LIMIT_M) && within(y, WORLD_LIMIT_M)
                }
            };
            check(
                inside,
                format!(
                    "props[{i}].at: coordinates must be finite, within ±{WORLD_LIMIT_M} m (an \
                     offset from the road within ±{PROP_OFFSET_LIMIT_M} m)"
                ),
            );
            check(
                within(prop.yaw_deg, 360.0 * 1000.0),
                format!("props[{i}].yaw_deg: must be finite"),
            );
            if let Some(r) = &prop.repeat {
                check(
                    r.count >= 1 && r.count <= 10_000 && within(r.spacing_m, PROP_OFFSET_LIMIT_M),
                    format!(
                        "props[{i}].repeat: count must be in 1..=10000 and spacing_m finite, \
                         within ±{PROP_OFFSET_LIMIT_M} m"
                    ),
                );
                check(
                    matches!(prop.at, Placement::Track { .. }),
                    format!("props[{i}].repeat: only props placed along the track can repeat"),
                );
            }
        }
        p.extend(self.track_problems());
        if self.traffic.cars > 0 || self.traffic != TrafficSpec::default() {
            p.extend(self.traffic.problems());
            if self.track.network().is_none() {
                p.push("traffic: cars drive road networks; give the track as `Network(...)` or `Town(...)`".into());
            }
        }
        p
    }

    fn track_problems(&self) -> Vec<String> {
        let mut p = self.track.problems();
        if !p.is_empty() || self.road.width_m.is_nan() || self.road.width_m <= 0.0 {
            return p;
        }
        if self.track.network().is_some() {
            // A route crosses itself at junctions: the network's own checks apply instead.
            if let Err(problems) = self.track.build_network(self.road.width_m) {
                p.extend(problems);
            }
            return p;
        }
        match Track::from_spec(&self.track, self.road.width_m) {
            Ok(track) => p.extend(track.problems(self.road.width_m)),
            Err(e) => p.push(format!("track: {e}")),
        }
        p
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

    /// One-line human summary.
    pub fn summary(&self, track: &Track) -> String {
        let kind = match &self.track {
            TrackSpec::ControlPoints { points } => format!("{} control points", points.len() - 1),
            TrackSpec::Procedural {
                seed, curviness, ..
            } => format!("procedural seed {seed} curviness {curviness}"),
            TrackSpec::Network { .. } | TrackSpec::Town { .. } => {
                match self.track.build_network(self.road.width_m) {
                    Ok(Some((network, route))) => format!(
                        "route through {} junctions; {}",
                        route.junctions(&network).len(),
                        network.summary()
                    ),
                    _ => "network".into(),
                }
            }
        };
        format!(
            "{}: {:.0} m track ({kind}; tightest bend radius {:.0} m), road {:.1} m, {} props, camera {}x{} @ {:.0}° fov, {:.1} m/s, dt {:.3} s, {} steps{}",
            self.name,
            track.length_m(),
            1.0 / track.max_abs_curvature_per_m().max(1e-6),
            self.road.width_m,
            self.expanded_prop_count(),
            self.camera.width_px,
            self.camera.height_px,
            self.camera.horizontal_fov_deg,
            self.vehicle.speed_m_s,
            self.dt_s,
            self.episode_steps,
            if self.lighting.fog.is_some() {
                ", fog"
            } else {
                ""
            }
        )
    }

    /// Number of props after expanding repeats.
    pub fn expanded_prop_count(&self) -> usize {
        self.props
            .iter()
            .map(|p| p.repeat.as_ref().map_or(1, |r| r.count as usize))
            .sum()
    }
}

/// Largest distance from the origin of anything placed in a scenario, metres.
pub const WORLD_LIMIT_M: f64 = 1.0e6;
/// Largest offset of a prop from the road, and spacing of a repeated prop, metres.
pub const PROP_OFFSET_LIMIT_M: f64 = 1.0e4;

/// Whether `name` is safe as the stem of a file name: at most 100 letters, digits, spaces or
/// `_-.+()`, not starting with a dot (so no folders, no `..`, nothing hidden).
pub fn safe_file_stem(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || " _-.+()".contains(c))
}

/// Parses the built-in scenarios ([`BUILTIN`]).
pub fn builtin() -> Result<Vec<Scenario>> {
    BUILTIN
        .iter()
        .map(|(file, text)| Scenario::from_ron(text, &format!("scenarios/{file}")))
        .collect()
}
