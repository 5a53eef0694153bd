//! The semantic checks of a scenario: every problem named by its field, and the limits that
//! keep anything a file asks for bounded before it is built.

use super::{CameraRig, Placement, Scenario};
use crate::sim::track::Track;
use crate::sim::traffic::spec::TrafficSpec;

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

impl Scenario {
    /// Every semantic problem of the scenario, empty when it is sound.
    pub fn validate(&self) -> Vec<String> {
        self.problems(true)
    }

    /// Every problem but those found by building the track or network, which
    /// [`crate::sim::built::BuiltWorld::build_checked`] reports while it builds the world once.
    pub fn problems_besides_the_track(&self) -> Vec<String> {
        self.problems(false)
    }

    fn problems(&self, with_track: bool) -> Vec<String> {
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
        if with_track {
            p.extend(self.track_problems());
        }
        p.extend(self.buildings.problems());
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
}
