//! Domain randomisation: ranges over how a scenario looks and drives (light, fog, road width
//! and paint, props, the camera's mount, speed, the curviness of generated tracks), and
//! scenarios drawn from them. A draw is a function of the base scenario, the ranges and a seed
//! alone, and the drawn scenario is a complete scenario: an episode recorded with it carries
//! it in its metadata, so it replays and re-simulates like any other.
//!
//! Ranges are RON files (`scenarios/randomise/*.ron`, every field optional):
//!
//! ```ron
//! Randomisation(
//!     sun_intensity: (0.02, 1.0),
//!     fog_probability: 0.3,
//!     centre_lines: [None, Dashed, Solid],
//! )
//! ```

use crate::error::{Error, Result};
use crate::sim::built::BuiltWorld;
use crate::sim::map_input::{Dropouts, GpsNoise};
use crate::sim::math::fnv1a;
use crate::sim::network::{RouteSpec, TownStyle};
use crate::sim::ron_file::{parse_ron, read_ron_file, valid};
use crate::sim::scenario::{CentreLine, Fog, Placement, Scenario};
use crate::sim::track::TrackSpec;
use crate::sim::traffic::soak::{cars_at_density, lane_km};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// The narrowest road drawn for a town (two lanes, one each way), metres.
pub const TOWN_MIN_ROAD_WIDTH_M: f64 = 6.0;

/// The ranges a scenario is drawn from. `(lo, hi)` ranges are drawn uniformly; offsets are
/// added to the base scenario's value, scales multiply it, the rest replace it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Randomisation {
    /// Sun height above the horizon, degrees (within 0..=90).
    pub sun_elevation_deg: (f64, f64),
    /// Direction the sunlight comes from, degrees.
    pub sun_azimuth_deg: (f64, f64),
    /// Direct and sky light (within 0..=4; near 0 is night-like). These two and the sky's
    /// brightness follow one light level per draw, log-uniformly within each range.
    pub sun_intensity: (f64, f64),
    pub ambient_intensity: (f64, f64),
    /// The sky colour times this (dark skies at the low end), clamped to [0, 1].
    pub sky_brightness_scale: (f64, f64),
    /// Each channel of the ground colour moves by up to ± this.
    pub ground_colour_shift: f64,
    /// Chance that the ground takes a colour of `ground_palette` (sRGB; grass, dry grass,
    /// sand, dirt, gravel, snow by default) instead of the scenario's, before the shift.
    pub ground_palette_probability: f64,
    pub ground_palette: Vec<[f64; 3]>,
    /// Chance of fog, and where it is opaque, metres (it starts at 0–50 % of that).
    pub fog_probability: f64,
    pub fog_end_m: (f64, f64),
    /// Asphalt width, metres.
    pub road_width_m: (f64, f64),
    /// Centre lines drawn from, equally likely.
    pub centre_lines: Vec<CentreLine>,
    /// Chance of painted edge lines.
    pub edge_line_probability: f64,
    /// Each repeated prop row's count times this (0 clears them).
    pub prop_density_scale: (f64, f64),
    /// Camera mount: height, pitch and yaw offsets, field-of-view offset (same frame size).
    pub camera_height_offset_m: (f64, f64),
    pub camera_pitch_offset_deg: (f64, f64),
    pub camera_yaw_offset_deg: (f64, f64),
    pub camera_fov_offset_deg: (f64, f64),
    /// Cruise speed times this.
    pub speed_scale: (f64, f64),
    /// Curviness of procedural tracks (0..=1); tracks of control points keep their shape.
    pub curviness: (f64, f64),
    /// A procedural track's length times this: shorter loops bend sharper.
    pub track_length_scale: (f64, f64),
    /// Whether a procedural track or a generated town gets a new generator seed per draw (a
    /// new shape, a new town and route, each episode). Drawn seeds are at least
    /// `FIRST_DRAWN_TRACK_SEED`; held-out tracks and towns use lower ones.
    pub new_track_shapes: bool,
    /// The car's localisation error, drawn per drive where the drive cuts map patches
    /// ([`Randomisation::draw_localisation`]): the GPS fix's position and heading error
    /// (standard deviations, metres and degrees) and its correlation time, seconds.
    pub gps_position_m: (f64, f64),
    pub gps_heading_deg: (f64, f64),
    pub gps_correlation_s: (f64, f64),
    /// Dropouts of the fix per minute, how long each lasts (seconds), and the chance that the
    /// map meanwhile is the last one (stale) rather than blank.
    pub map_dropouts_per_minute: (f64, f64),
    pub map_dropout_s: (f64, f64),
    pub map_dropout_stale_probability: f64,
    /// A generated town's layout, drawn with its new seed: how far junctions are off a
    /// right-angled grid (share of the spacing, within 0..=0.15) and the chance that a block
    /// gets a diagonal road (oblique and five- or six-way junctions; within 0..=0.5).
    pub town_jitter: (f64, f64),
    pub town_diagonals: (f64, f64),
    /// A town's buildings: the share of lots built on (within 0..=1), each draw with a layout
    /// of its own.
    pub building_density: (f64, f64),
    /// A town's traffic, drawn per drive: cars per km of road lane (within 0..=50; 3 is the
    /// traffic suite's regular level, 10 its dense one), replacing the scenario's number of
    /// cars; `None` keeps the scenario's traffic. So that a policy learns to stop, queue and
    /// pull away, its data must hold cars to stop for.
    pub traffic_cars_per_lane_km: Option<(f64, f64)>,
    /// Hard brakes for no reason seen, per traffic car and minute (with
    /// `traffic_cars_per_lane_km`).
    pub traffic_sudden_brakes_per_min: (f64, f64),
}

/// The lowest generator seed a draw gives a procedural track: held-out tracks and suites use
/// seeds below it, so no training draw can repeat one.
pub const FIRST_DRAWN_TRACK_SEED: u64 = 10_000;

/// Procedural tracks that no training scenario uses and no training draw can give: the first
/// procedural scenario (or the built-in one) with generator seeds derived from `seed`, all
/// below [`FIRST_DRAWN_TRACK_SEED`], skipping seeds the generator cannot build a valid track
/// from and seeds any training scenario uses.
pub fn held_out_tracks(training: &[Scenario], count: usize, seed: u64) -> Result<Vec<Scenario>> {
    let template = match training
        .iter()
        .find(|s| matches!(s.track, TrackSpec::Procedural { .. }))
    {
        Some(s) => s.clone(),
        None => crate::sim::scenario::builtin()?
            .into_iter()
            .find(|s| matches!(s.track, TrackSpec::Procedural { .. }))
            .ok_or_else(|| {
                crate::Error::InvalidArgument(
                    "no procedural scenario to derive held-out tracks from".into(),
                )
            })?,
    };
    let used: Vec<u64> = training
        .iter()
        .filter_map(|s| match s.track {
            TrackSpec::Procedural { seed, .. } => Some(seed),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    let mut k = 0u64;
    while out.len() < count {
        k += 1;
        if k > 1000 {
            return Err(crate::Error::InvalidArgument(format!(
                "could not generate {count} held-out tracks"
            )));
        }
        let track_seed =
            crate::sim::math::fnv1a(&[b"held-out", &seed.to_le_bytes(), &k.to_le_bytes()])
                % FIRST_DRAWN_TRACK_SEED;
        if used.contains(&track_seed) {
            continue;
        }
        let mut s = template.clone();
        if let TrackSpec::Procedural { seed, .. } = &mut s.track {
            *seed = track_seed;
        }
        s.name = format!("heldout_{track_seed}");
        s.description = format!("Held-out procedural track, generator seed {track_seed}");
        s.seed = track_seed;
        if s.validate().is_empty() {
            out.push(s);
        }
    }
    Ok(out)
}

impl Default for Randomisation {
    /// The ranges the main job trains with: from dusk-dark to bright, fog a third of the
    /// time, roads 4.5–9 m with any paint, a camera mounted ±0.3 m and ±3° off.
    fn default() -> Self {
        Self {
            sun_elevation_deg: (4.0, 75.0),
            sun_azimuth_deg: (0.0, 360.0),
            sun_intensity: (0.02, 1.0),
            ambient_intensity: (0.06, 0.5),
            sky_brightness_scale: (0.12, 1.1),
            ground_colour_shift: 0.12,
            ground_palette_probability: 0.5,
            ground_palette: vec![
                [0.25, 0.35, 0.20],
                [0.52, 0.50, 0.30],
                [0.78, 0.72, 0.55],
                [0.42, 0.33, 0.24],
                [0.55, 0.55, 0.52],
                [0.88, 0.89, 0.92],
            ],
            fog_probability: 0.3,
            fog_end_m: (35.0, 250.0),
            road_width_m: (4.5, 9.0),
            centre_lines: vec![CentreLine::None, CentreLine::Dashed, CentreLine::Solid],
            edge_line_probability: 0.7,
            prop_density_scale: (0.0, 1.5),
            camera_height_offset_m: (-0.3, 0.3),
            camera_pitch_offset_deg: (-3.0, 3.0),
            camera_yaw_offset_deg: (0.0, 0.0),
            camera_fov_offset_deg: (-5.0, 5.0),
            speed_scale: (0.85, 1.25),
            curviness: (0.15, 1.0),
            track_length_scale: (0.45, 1.2),
            new_track_shapes: true,
            gps_position_m: (0.0, 8.0),
            gps_heading_deg: (0.0, 5.0),
            gps_correlation_s: (5.0, 30.0),
            map_dropouts_per_minute: (0.0, 1.0),
            map_dropout_s: (1.0, 4.0),
            map_dropout_stale_probability: 0.5,
            town_jitter: (0.04, 0.14),
            town_diagonals: (0.0, 0.35),
            building_density: (0.0, 1.0),
            traffic_cars_per_lane_km: Some((0.0, 10.0)),
            traffic_sudden_brakes_per_min: (0.0, 0.5),
        }
    }
}

/// The named range sets `--randomise` takes besides a file.
pub const PRESETS: [&str; 1] = ["default"];

impl Randomisation {
    /// A preset by name, or the ranges of a RON file.
    pub fn named(name_or_file: &str) -> Result<Self> {
        match name_or_file {
            "default" => Ok(Self::default()),
            path => Self::load(Path::new(path)),
        }
    }

    /// Reads and checks a ranges file.
    pub fn load(path: &Path) -> Result<Self> {
        read_ron_file(path, Self::from_ron)
    }

    /// Parses and checks ranges; `file` names them in errors.
    pub fn from_ron(text: &str, file: &str) -> Result<Self> {
        let ranges: Self = parse_ron(text, file)?;
        let problems = ranges.problems();
        valid(ranges, file, problems)
    }

    /// Every problem of the ranges, each naming its field (empty when they can be drawn from).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let mut range = |name: &str, (lo, hi): (f64, f64), min: f64, max: f64| {
            if !lo.is_finite() || !hi.is_finite() {
                p.push(format!("{name}: ({lo}, {hi}) must be finite"));
            } else if lo > hi {
                p.push(format!(
                    "{name}: ({lo}, {hi}) is inverted: the first value is the lowest"
                ));
            } else if lo < min || hi > max {
                p.push(format!(
                    "{name}: ({lo}, {hi}) must lie within [{min}, {max}]"
                ));
            }
        };
        range("sun_elevation_deg", self.sun_elevation_deg, 0.0, 90.0);
        range("sun_azimuth_deg", self.sun_azimuth_deg, -720.0, 720.0);
        range("sun_intensity", self.sun_intensity, 0.0, 4.0);
        range("ambient_intensity", self.ambient_intensity, 0.0, 4.0);
        range("sky_brightness_scale", self.sky_brightness_scale, 0.0, 4.0);
        range("fog_end_m", self.fog_end_m, 5.0, 10_000.0);
        range("road_width_m", self.road_width_m, 2.5, 60.0);
        range("prop_density_scale", self.prop_density_scale, 0.0, 10.0);
        range(
            "camera_height_offset_m",
            self.camera_height_offset_m,
            -2.0,
            5.0,
        );
        range(
            "camera_pitch_offset_deg",
            self.camera_pitch_offset_deg,
            -30.0,
            30.0,
        );
        range(
            "camera_yaw_offset_deg",
            self.camera_yaw_offset_deg,
            -30.0,
            30.0,
        );
        range(
            "camera_fov_offset_deg",
            self.camera_fov_offset_deg,
            -60.0,
            60.0,
        );
        range("speed_scale", self.speed_scale, 0.1, 5.0);
        range("curviness", self.curviness, 0.0, 1.0);
        range("track_length_scale", self.track_length_scale, 0.1, 10.0);
        range("gps_position_m", self.gps_position_m, 0.0, 1000.0);
        range("gps_heading_deg", self.gps_heading_deg, 0.0, 180.0);
        range("gps_correlation_s", self.gps_correlation_s, 0.01, 1e6);
        range(
            "map_dropouts_per_minute",
            self.map_dropouts_per_minute,
            0.0,
            60.0,
        );
        range("map_dropout_s", self.map_dropout_s, 0.05, 600.0);
        range("town_jitter", self.town_jitter, 0.0, 0.15);
        range("town_diagonals", self.town_diagonals, 0.0, 0.5);
        range("building_density", self.building_density, 0.0, 1.0);
        if let Some(t) = self.traffic_cars_per_lane_km {
            range("traffic_cars_per_lane_km", t, 0.0, 50.0);
        }
        range(
            "traffic_sudden_brakes_per_min",
            self.traffic_sudden_brakes_per_min,
            0.0,
            60.0,
        );
        for (name, v) in [
            ("ground_colour_shift", self.ground_colour_shift),
            ("fog_probability", self.fog_probability),
            ("edge_line_probability", self.edge_line_probability),
            (
                "map_dropout_stale_probability",
                self.map_dropout_stale_probability,
            ),
            (
                "ground_palette_probability",
                self.ground_palette_probability,
            ),
        ] {
            if !(0.0..=1.0).contains(&v) {
                p.push(format!("{name}: {v} must be in [0, 1]"));
            }
        }
        for (i, c) in self.ground_palette.iter().enumerate() {
            if c.iter().any(|v| !(0.0..=1.0).contains(v)) {
                p.push(format!(
                    "ground_palette[{i}]: {c:?}: every channel must be in [0, 1]"
                ));
            }
        }
        if self.ground_palette.is_empty() && self.ground_palette_probability > 0.0 {
            p.push("ground_palette: is empty while ground_palette_probability is above 0".into());
        }
        if self.centre_lines.is_empty() {
            p.push("centre_lines: is empty: list at least one of None, Dashed, Solid".into());
        }
        p.iter().map(|m| format!("randomisation.{m}")).collect()
    }

    /// `base` with every randomised property drawn with `seed`, and its world (built once,
    /// which validates it); errors when the draw does not make a valid scenario (a camera
    /// pushed below the ground, say), naming the problem.
    pub fn draw(&self, base: &Scenario, seed: u64) -> Result<Drawn> {
        let mut rng = StdRng::seed_from_u64(fnv1a(&[b"randomise", &seed.to_le_bytes()]));
        let mut uniform = |(lo, hi): (f64, f64)| {
            if hi > lo {
                rng.random_range(lo..=hi)
            } else {
                lo
            }
        };
        let mut s = base.clone();
        let l = &mut s.lighting;
        l.sun_elevation_deg = uniform(self.sun_elevation_deg);
        l.sun_azimuth_deg = uniform(self.sun_azimuth_deg);
        // One light level for the scene, each intensity log-uniform from it with a little
        // jitter of its own: a dark sun comes with a dark sky, and dusk and night are drawn
        // as often as day (uniform draws made a night-like scene one draw in a hundred).
        let level = uniform((0.0, 1.0));
        let mut light = |range| log_between(range, level + uniform((-0.12, 0.12)));
        l.sun_intensity = light(self.sun_intensity);
        l.ambient_intensity = light(self.ambient_intensity);
        let sky = light(self.sky_brightness_scale);
        l.sky_colour = l.sky_colour.map(|c| (c * sky).clamp(0.0, 1.0));
        let shift = self.ground_colour_shift;
        for c in &mut l.ground_colour {
            *c = (*c + uniform((-shift, shift))).clamp(0.0, 1.0);
        }
        let fog = uniform((0.0, 1.0)) < self.fog_probability;
        let fog_end_m = uniform(self.fog_end_m);
        let fog_start = uniform((0.0, 0.5));
        let fog_grey = uniform((0.45, 0.85));
        l.fog = fog.then(|| Fog {
            colour: [fog_grey, fog_grey, fog_grey * 1.03].map(|c| c.min(1.0)),
            start_m: fog_start * fog_end_m,
            end_m: fog_end_m,
        });
        // A town's road holds a lane each way: its lanes keep at least the room of a narrow
        // urban lane.
        let widths = match s.track {
            TrackSpec::Town { .. } | TrackSpec::Network { .. } => {
                let (lo, hi) = self.road_width_m;
                (lo.max(TOWN_MIN_ROAD_WIDTH_M.min(hi)), hi)
            }
            _ => self.road_width_m,
        };
        let (old_half, width) = (s.road.width_m / 2.0, uniform(widths));
        s.road.width_m = width;
        // Props beside the road stay as far from its edge as they were.
        for prop in &mut s.props {
            if let Placement::Track { offset_m, .. } = &mut prop.at
                && offset_m.abs() >= old_half
            {
                *offset_m += offset_m.signum() * (width / 2.0 - old_half);
            }
        }
        let pick = uniform((0.0, self.centre_lines.len() as f64)) as usize;
        s.road.lane_markings.centre = self.centre_lines[pick.min(self.centre_lines.len() - 1)];
        s.road.lane_markings.edges = uniform((0.0, 1.0)) < self.edge_line_probability;
        let density = uniform(self.prop_density_scale);
        for prop in &mut s.props {
            if let Some(repeat) = &mut prop.repeat {
                repeat.count = (repeat.count as f64 * density).round() as u32;
            }
        }
        s.props
            .retain(|p| p.repeat.as_ref().is_none_or(|r| r.count > 0));
        let c = &mut s.camera;
        c.mount_height_m += uniform(self.camera_height_offset_m);
        c.pitch_deg += uniform(self.camera_pitch_offset_deg);
        c.horizontal_fov_deg += uniform(self.camera_fov_offset_deg);
        s.vehicle.speed_m_s *= uniform(self.speed_scale);
        let curviness = uniform(self.curviness);
        if let TrackSpec::Procedural { curviness: c, .. } = &mut s.track {
            *c = curviness;
        }
        // Drawn last so that adding them left every earlier draw of a seed as it was.
        s.camera.yaw_deg += uniform(self.camera_yaw_offset_deg);
        if !self.ground_palette.is_empty() && uniform((0.0, 1.0)) < self.ground_palette_probability
        {
            let pick = uniform((0.0, self.ground_palette.len() as f64)) as usize;
            let base = self.ground_palette[pick.min(self.ground_palette.len() - 1)];
            for (c, b) in s.lighting.ground_colour.iter_mut().zip(base) {
                *c = (b + uniform((-shift, shift))).clamp(0.0, 1.0);
            }
        }
        let length_scale = uniform(self.track_length_scale);
        let track_seed = uniform((FIRST_DRAWN_TRACK_SEED as f64, u32::MAX as f64)) as u64;
        if let TrackSpec::Procedural { seed, length_m, .. } = &mut s.track {
            *length_m *= length_scale;
            if self.new_track_shapes {
                *seed = track_seed;
            }
            // Rows of props keep their density along the shorter or longer loop.
            for prop in &mut s.props {
                if let Some(repeat) = &mut prop.repeat {
                    repeat.count = (repeat.count as f64 * length_scale).round() as u32;
                }
            }
            s.props
                .retain(|p| p.repeat.as_ref().is_none_or(|r| r.count > 0));
        }
        // A generated town gets a town, a layout and a route of its own (the layout drawn
        // last, so that adding it left every earlier draw of a seed as it was).
        let style = TownStyle {
            jitter: uniform(self.town_jitter),
            diagonals: uniform(self.town_diagonals),
        };
        if let TrackSpec::Town {
            seed,
            route,
            style: s_style,
            ..
        } = &mut s.track
            && self.new_track_shapes
        {
            *seed = track_seed;
            *s_style = style;
            if let RouteSpec::Random { seed, .. } = route {
                *seed = track_seed + 1;
            }
        }
        // Buildings, drawn last for the same reason.
        s.buildings.density = uniform(self.building_density);
        s.buildings.seed = uniform((0.0, u32::MAX as f64)) as u64;
        // Traffic, drawn last for the same reason: its density over the drawn town's lanes.
        let density = self.traffic_cars_per_lane_km.map(&mut uniform);
        let brakes = uniform(self.traffic_sudden_brakes_per_min);
        s.description = format!(
            "{} (randomised, draw seed {seed})",
            base.description.trim_end_matches('.')
        );
        let name = format!("{} randomised with seed {seed}", base.name);
        // The world does not depend on the traffic: built (and its track or network checked)
        // once, before the traffic's density is put on its lanes.
        let world = match BuiltWorld::build_checked(&s) {
            Ok(world) => world,
            Err(mut problems) => {
                problems.extend(s.problems_besides_the_track());
                return Err(invalid(name, problems));
            }
        };
        if let (Some(density), Some(network)) = (density, world.network()) {
            s.traffic.cars = cars_at_density(lane_km(network), density)?;
            s.traffic.sudden_brakes_per_min = brakes;
        }
        let problems = s.problems_besides_the_track();
        if !problems.is_empty() {
            return Err(invalid(name, problems));
        }
        Ok(Drawn { scenario: s, world })
    }
}

/// A scenario drawn from ranges, with its world.
#[derive(Clone, Debug)]
pub struct Drawn {
    pub scenario: Scenario,
    /// The drawn scenario's world, built once ([`crate::world::Env::in_world`] drives in it).
    pub world: Arc<BuiltWorld>,
}

fn invalid(file: String, problems: Vec<String>) -> Error {
    Error::ScenarioInvalid { file, problems }
}

impl Randomisation {
    /// The localisation error of one drive, drawn with `seed` from its own stream (the
    /// scenario drawn with the same seed is unchanged): the GPS fix's error and its dropouts.
    pub fn draw_localisation(&self, seed: u64) -> (GpsNoise, Option<Dropouts>) {
        let mut rng = StdRng::seed_from_u64(fnv1a(&[b"localisation", &seed.to_le_bytes()]));
        let mut uniform = |(lo, hi): (f64, f64)| {
            if hi > lo {
                rng.random_range(lo..=hi)
            } else {
                lo
            }
        };
        let gps = GpsNoise {
            position_m: uniform(self.gps_position_m),
            heading_deg: uniform(self.gps_heading_deg),
            correlation_s: uniform(self.gps_correlation_s),
        };
        let per_minute = uniform(self.map_dropouts_per_minute);
        let dropouts = (per_minute > 0.0).then_some(Dropouts {
            per_minute,
            duration_s: self.map_dropout_s,
            stale_probability: self.map_dropout_stale_probability,
        });
        (gps, dropouts)
    }
}

/// The value at quantile `q` (clamped to 0..=1) of a log-uniform draw over `(lo, hi)`; a
/// linear one where `lo` is not above zero.
fn log_between((lo, hi): (f64, f64), q: f64) -> f64 {
    let q = q.clamp(0.0, 1.0);
    if lo > 0.0 {
        lo * (hi / lo).powf(q)
    } else {
        lo + (hi - lo) * q
    }
}
