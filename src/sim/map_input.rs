//! The map a navigation network reads beside the camera (Amini et al. 2019): an ego-centred,
//! heading-aligned raster of the roads around the pose the car *believes* it has. Red is the
//! drivable area (the unrouted map), green the route ahead along the middle of its roads (with
//! red: the routed map). The belief is the true pose, or a GPS fix whose error wanders slowly as
//! a real receiver's does (a first-order Gauss–Markov process: white noise averages away, a
//! drifting fix does not), dead-reckoned on noisy odometry through dropouts.
//!
//! What a car knows is kept apart from the simulation state by type: a [`Navigator`] is the
//! car's navigation system. Its GPS receiver and odometry are the only parts that read the true
//! motion (with their errors); the believed pose, the route progress (map-matched from the
//! believed pose, never taken from the simulation), the command and the patch follow from their
//! readings and the map alone.

use crate::sim::expert::standard_normal;
use crate::sim::frame::Frame;
use crate::sim::math::{Vec2, fnv1a, wrap_angle};
use crate::sim::network::raster::DrivableMap;
use crate::sim::network::{LaneKind, Turn};
use crate::sim::odometry::{Odometry, OdometryNoise, OdometryReading};
use crate::sim::simulation::Simulation;
use crate::sim::track::Track;
use crate::sim::vehicle::VehicleState;
use rand::{RngExt, SeedableRng, rngs::Xoshiro256PlusPlus as SensorRng};
use serde::{Deserialize, Serialize};

/// Size and reach of the map patch.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapSpec {
    /// Pixels per side.
    pub size: usize,
    /// Metres from the car to each edge: the patch covers ±this ahead/behind and left/right.
    pub half_extent_m: f64,
}

impl Default for MapSpec {
    /// 64 × 64 over ±40 m: 1.25 m a pixel, a junction's exits visible 40 m ahead.
    fn default() -> Self {
        Self {
            size: 64,
            half_extent_m: 40.0,
        }
    }
}

impl MapSpec {
    /// Every problem of the spec, each naming its field.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !(8..=256).contains(&self.size) {
            p.push(format!(
                "map.size: {} must be in [8, 256] pixels",
                self.size
            ));
        }
        if !(self.half_extent_m.is_finite() && (5.0..=500.0).contains(&self.half_extent_m)) {
            p.push(format!(
                "map.half_extent_m: {} must be in [5, 500] metres",
                self.half_extent_m
            ));
        }
        p
    }

    /// Metres per pixel.
    pub fn pixel_m(&self) -> f64 {
        2.0 * self.half_extent_m / self.size as f64
    }
}

/// What the map shows the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum MapMode {
    /// No map: the camera alone.
    #[default]
    None,
    /// The drivable area only: at a junction every exit is open.
    Unrouted,
    /// The drivable area and the route ahead.
    Routed,
}

impl MapMode {
    /// Channels of the map patch the network reads (red; red and green).
    pub fn channels(self) -> usize {
        match self {
            MapMode::None => 0,
            MapMode::Unrouted => 1,
            MapMode::Routed => 2,
        }
    }
}

/// How wrong the GPS fix is: standard deviations of its position and heading errors, and
/// how long an error takes to be forgotten (its correlation time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpsNoise {
    pub position_m: f64,
    pub heading_deg: f64,
    pub correlation_s: f64,
}

/// Correlation time of the fix's error when none is given, seconds.
pub const GPS_CORRELATION_S: f64 = 10.0;

impl std::str::FromStr for GpsNoise {
    type Err = String;

    /// `σ_pos,σ_heading` (metres, degrees), optionally `,τ` (seconds; 10 when left out).
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let values: Vec<f64> = text
            .split(',')
            .map(|v| v.trim().parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| {
                format!("{text:?}: {e}; write σ_pos,σ_heading in metres and degrees, e.g. 10,5")
            })?;
        let noise = match values[..] {
            [p, h] => GpsNoise {
                position_m: p,
                heading_deg: h,
                correlation_s: GPS_CORRELATION_S,
            },
            [p, h, t] => GpsNoise {
                position_m: p,
                heading_deg: h,
                correlation_s: t,
            },
            _ => {
                return Err(format!(
                    "{text:?}: write σ_pos,σ_heading (and optionally the correlation time in seconds), e.g. 10,5"
                ));
            }
        };
        let ok = |v: f64, max: f64| v.is_finite() && (0.0..=max).contains(&v);
        if !(ok(noise.position_m, 1000.0)
            && ok(noise.heading_deg, 180.0)
            && noise.correlation_s.is_finite()
            && (0.01..=1e6).contains(&noise.correlation_s))
        {
            return Err(format!(
                "{text:?}: σ_pos must be in [0, 1000] m, σ_heading in [0, 180]°, the correlation time in [0.01, 1e6] s"
            ));
        }
        Ok(noise)
    }
}

impl std::fmt::Display for GpsNoise {
    /// The form [`GpsNoise::from_str`] reads: `σ_pos,σ_heading,τ`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{},{},{}",
            self.position_m, self.heading_deg, self.correlation_s
        )
    }
}

/// A GPS receiver's fix of one car: the true pose plus an error that wanders.
#[derive(Clone, Debug)]
pub struct GpsFix {
    noise: GpsNoise,
    rng: SensorRng,
    /// Current error: east, north (metres) and heading (radians).
    error: [f64; 3],
}

impl GpsFix {
    /// A receiver whose first error is drawn from the stationary distribution, seeded.
    pub fn new(noise: GpsNoise, seed: u64) -> GpsFix {
        let mut fix = GpsFix {
            noise,
            rng: SensorRng::seed_from_u64(fnv1a(&[b"gps", &seed.to_le_bytes()])),
            error: [0.0; 3],
        };
        let sigma = fix.sigmas();
        for (e, s) in fix.error.iter_mut().zip(sigma) {
            *e = s * standard_normal(&mut fix.rng);
        }
        fix
    }

    /// A receiver whose current error is `error` (east and north metres, heading radians),
    /// wandering on from there.
    pub fn with_error(noise: GpsNoise, seed: u64, error: [f64; 3]) -> GpsFix {
        GpsFix {
            error,
            ..GpsFix::new(noise, seed)
        }
    }

    /// The current error: east and north (metres) and heading (radians).
    pub fn error(&self) -> [f64; 3] {
        self.error
    }

    /// Sets the current error (a replay of a recorded receiver), which wanders on from there.
    pub fn set_error(&mut self, error: [f64; 3]) {
        self.error = error;
    }

    fn sigmas(&self) -> [f64; 3] {
        let p = self.noise.position_m;
        [p, p, self.noise.heading_deg.to_radians()]
    }

    /// Advances the error by `dt_s`: `e ← a·e + √(1 − a²)·σ·n` with `a = exp(−dt/τ)`, which
    /// keeps its standard deviation at σ.
    pub fn step(&mut self, dt_s: f64) {
        let a = (-dt_s / self.noise.correlation_s.max(1e-9)).exp();
        let b = (1.0 - a * a).sqrt();
        let sigma = self.sigmas();
        for (e, s) in self.error.iter_mut().zip(sigma) {
            *e = a * *e + b * s * standard_normal(&mut self.rng);
        }
    }

    /// The pose the receiver reports for the true `state`: position and heading.
    pub fn fix(&self, state: &VehicleState) -> (Vec2, f64) {
        (
            state.position + Vec2::new(self.error[0], self.error[1]),
            wrap_angle(state.heading + self.error[2]),
        )
    }
}

/// Occasional losses of the fix (tunnels, urban canyons): the map is blank or stale meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dropouts {
    /// How often a dropout starts, per minute of driving.
    pub per_minute: f64,
    /// How long one lasts, seconds (drawn uniformly from this range).
    pub duration_s: (f64, f64),
    /// The chance that the map shown meanwhile is the last one (stale) rather than blank.
    pub stale_probability: f64,
}

impl Dropouts {
    /// Every value out of range, each naming its field.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !(self.per_minute.is_finite() && (0.0..=60.0).contains(&self.per_minute)) {
            p.push(format!(
                "dropouts.per_minute: {} must be in [0, 60]",
                self.per_minute
            ));
        }
        let (lo, hi) = self.duration_s;
        if !(lo.is_finite() && hi.is_finite() && 0.0 < lo && lo <= hi && hi <= 600.0) {
            p.push(format!(
                "dropouts.duration_s: ({lo}, {hi}) must satisfy 0 < lo ≤ hi ≤ 600 seconds"
            ));
        }
        if !(0.0..=1.0).contains(&self.stale_probability) {
            p.push(format!(
                "dropouts.stale_probability: {} must be in [0, 1]",
                self.stale_probability
            ));
        }
        p
    }
}

/// One stretch of the route: a lane of the network (or the whole loop of a track), where it
/// lies along the route, the manoeuvre when it is a junction's turn path, and how far left of
/// it the road's centre lies at its start and end.
#[derive(Clone, Copy, Debug)]
struct RouteStretch {
    start_s: f64,
    end_s: f64,
    turn: Option<Turn>,
    centre_shift_m: (f64, f64),
}

/// The roads and the route of a world, ready to cut map patches from. The route is drawn along
/// the middle of the roads it takes (between the two directions), never along the lane: where a
/// car is within its road is for the camera to see, not for the map to tell.
#[derive(Clone, Debug)]
pub struct MapView {
    drivable: DrivableMap,
    /// The route the cars drive (in a town) or the track itself.
    route: Track,
    /// The route's lanes in order.
    stretches: Vec<RouteStretch>,
    /// Half the width of the route marking, metres.
    route_half_width_m: f64,
}

/// Grid cell of the drivable area, metres (finer than any patch's pixel).
const CELL_M: f64 = 0.5;
/// The route is drawn from this far behind the car.
const ROUTE_BEHIND_M: f64 = 10.0;
/// Map-matching searches the route this far behind and ahead of the progress predicted by
/// odometry, metres.
const MATCH_WINDOW_M: f64 = 40.0;
/// Map-matching skips route segments pointing further than this from the believed heading.
const MATCH_HEADING_RAD: f64 = 1.2;

impl MapView {
    /// The map of `sim`'s world: in a town its road network and the cars' route, on a track
    /// the road and the track.
    pub fn new(sim: &Simulation) -> MapView {
        match sim.town() {
            Some(town) => {
                let mut view = MapView {
                    drivable: DrivableMap::new(&town.network, CELL_M),
                    route: town.route.track.clone(),
                    stretches: Vec::new(),
                    route_half_width_m: town.network.lane_width_m / 2.0,
                };
                view.follow(town);
                view
            }
            None => {
                let half = sim.scenario.road.width_m / 2.0;
                MapView {
                    drivable: DrivableMap::from_track(&sim.track, half, CELL_M),
                    route: sim.track.clone(),
                    stretches: vec![RouteStretch {
                        start_s: 0.0,
                        end_s: sim.track.length_m(),
                        turn: None,
                        centre_shift_m: (0.0, 0.0),
                    }],
                    route_half_width_m: half / 2.0,
                }
            }
        }
    }

    /// Draws `town`'s route from now on.
    fn follow(&mut self, town: &crate::sim::simulation::Town) {
        let network = &town.network;
        let path = &town.route;
        let starts = path.lane_starts();
        let lanes = &path.route.lanes;
        // A road lane lies (index + ½) lane widths right of its road's centre; a turn path
        // goes from the shift of the lane before it to that of the lane after it.
        let shift = |lane: usize| match network.lanes[lane].kind {
            LaneKind::Road { index, .. } => Some((index as f64 + 0.5) * network.lane_width_m),
            LaneKind::Turn { .. } => None,
        };
        let n = lanes.len();
        let road_shift = |k: usize, step: isize| {
            (1..=n)
                .find_map(|d| {
                    shift(lanes[(k as isize + step * d as isize).rem_euclid(n as isize) as usize])
                })
                .unwrap_or(0.0)
        };
        self.route = path.track.clone();
        self.stretches = (0..n)
            .map(|k| {
                let (turn, centre_shift_m) = match network.lanes[lanes[k]].kind {
                    LaneKind::Turn { turn, .. } => {
                        (Some(turn), (road_shift(k, -1), road_shift(k, 1)))
                    }
                    LaneKind::Road { .. } => {
                        let s = road_shift(k, 0);
                        (None, (s, s))
                    }
                };
                RouteStretch {
                    start_s: starts[k],
                    end_s: starts[k + 1],
                    turn,
                    centre_shift_m,
                }
            })
            .collect();
    }

    /// The stretch of the route at arc length `s` (wrapped) and its index.
    fn stretch_at(&self, s: f64) -> (usize, &RouteStretch) {
        let s = self.route.wrap_s(s);
        let k = self
            .stretches
            .partition_point(|r| r.start_s <= s)
            .saturating_sub(1)
            .min(self.stretches.len() - 1);
        (k, &self.stretches[k])
    }

    /// The middle of the road the route takes at arc length `s`.
    pub fn road_centre(&self, s: f64) -> Vec2 {
        let (_, r) = self.stretch_at(s);
        let length = (r.end_s - r.start_s).max(1e-9);
        let t = ((self.route.wrap_s(s) - r.start_s) / length).clamp(0.0, 1.0);
        let shift = r.centre_shift_m.0 + (r.centre_shift_m.1 - r.centre_shift_m.0) * t;
        self.route.offset_point(s, shift)
    }

    /// The command a navigation system gives at route progress `progress_m`: the manoeuvre of
    /// the junction the car is in or comes to next, once within [`COMMAND_RANGE_M`].
    pub fn command(&self, progress_m: f64) -> Command {
        let (k, here) = self.stretch_at(progress_m);
        if let Some(turn) = here.turn {
            return Command::from_route(turn, 0.0, true);
        }
        let n = self.stretches.len();
        let length = self.route.length_m();
        (1..n)
            .map(|d| &self.stretches[(k + d) % n])
            .find_map(|r| {
                r.turn.map(|turn| {
                    let ahead = (r.start_s - self.route.wrap_s(progress_m)).rem_euclid(length);
                    Command::from_route(turn, ahead, false)
                })
            })
            .unwrap_or(Command::Follow)
    }

    /// Map-matching: the route progress of a car believed at `belief`, which odometry says
    /// has driven `advanced_m` since it was at `prior` (`None`: not yet matched, so the whole
    /// route is searched). Only route segments pointing the believed way count.
    pub fn match_progress(&self, prior: Option<f64>, belief: Pose, advanced_m: f64) -> f64 {
        let length = self.route.length_m();
        let window = match prior {
            Some(s) => {
                let predicted = s + advanced_m;
                (predicted - MATCH_WINDOW_M, predicted + MATCH_WINDOW_M)
            }
            None => (0.0, length),
        };
        self.route
            .project_matching(belief.position, window, belief.heading, MATCH_HEADING_RAD)
            .or_else(|| {
                self.route
                    .project_matching(belief.position, window, 0.0, 10.0)
            })
            .map_or_else(
                || self.route.wrap_s(prior.unwrap_or(0.0) + advanced_m),
                |p| p.s_m,
            )
    }

    /// The signed offset (metres, positive left) of a car at `pose` from the centre of the
    /// route's lane near route progress `progress_m`: what a lane-pose sensor would read there.
    /// `None` when no route lane near there points the pose's way.
    pub fn lane_offset(&self, pose: Pose, progress_m: f64) -> Option<f64> {
        self.route
            .project_matching(
                pose.position,
                (progress_m - MATCH_WINDOW_M, progress_m + MATCH_WINDOW_M),
                pose.heading,
                MATCH_HEADING_RAD,
            )
            .map(|p| p.lateral_offset_m)
    }

    /// Dead reckoning along the route: `prior` moved on by `advanced_m`.
    pub fn advance(&self, prior: f64, advanced_m: f64) -> f64 {
        self.route.wrap_s(prior + advanced_m)
    }

    /// The patch seen from `position`/`heading` (heading up, the car at the centre, its left
    /// to the left), the route drawn from `route_s_m` (the car's progress along it as its
    /// navigation system tracks it) onwards, along the middle of the roads it takes.
    pub fn patch(&self, spec: &MapSpec, position: Vec2, heading: f64, route_s_m: f64) -> Frame {
        let n = spec.size;
        let mut drivable = vec![0.0f32; n * n];
        self.drivable
            .patch(position, heading, spec.half_extent_m, n, &mut drivable);
        let mut rgb = vec![0u8; n * n * 3];
        for (px, d) in rgb.chunks_exact_mut(3).zip(&drivable) {
            px[0] = if *d > 0.5 { 255 } else { 0 };
        }
        // The route ahead: discs stamped along it every half pixel, out to the corners.
        let step_m = spec.pixel_m();
        let ahead = Vec2::from_heading(heading);
        let left = ahead.perp();
        let reach = ROUTE_BEHIND_M + spec.half_extent_m * std::f64::consts::SQRT_2;
        let radius_px = (self.route_half_width_m / step_m).max(0.5);
        let r = radius_px.ceil() as i64;
        let samples = (reach / (0.5 * step_m)).ceil() as usize;
        for k in 0..=samples {
            let s = route_s_m - ROUTE_BEHIND_M + k as f64 * 0.5 * step_m;
            let d = self.road_centre(s) - position;
            let row = (spec.half_extent_m - d.dot(ahead)) / step_m - 0.5;
            let col = (spec.half_extent_m - d.dot(left)) / step_m - 0.5;
            if !(row > -radius_px - 1.0
                && row < n as f64 + radius_px
                && col > -radius_px - 1.0
                && col < n as f64 + radius_px)
            {
                continue;
            }
            let (r0, c0) = (row.round() as i64, col.round() as i64);
            for y in (r0 - r).max(0)..=(r0 + r).min(n as i64 - 1) {
                for x in (c0 - r).max(0)..=(c0 + r).min(n as i64 - 1) {
                    if (y as f64 - row).hypot(x as f64 - col) <= radius_px {
                        rgb[(y as usize * n + x as usize) * 3 + 1] = 255;
                    }
                }
            }
        }
        Frame {
            tick: 0,
            agent: 0,
            width: n as u32,
            height: n as u32,
            rgb,
        }
    }
}

/// A pose as a car believes or a filter estimates it: position (metres) and heading (radians
/// from east).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    pub position: Vec2,
    pub heading: f64,
}

impl Pose {
    pub fn new(x: f64, y: f64, heading: f64) -> Pose {
        Pose {
            position: Vec2::new(x, y),
            heading,
        }
    }

    /// The pose of a vehicle state.
    pub fn of(state: &VehicleState) -> Pose {
        Pose {
            position: state.position,
            heading: state.heading,
        }
    }

    /// Position error (metres) and absolute heading error (degrees) against `truth`.
    pub fn error(&self, truth: &Pose) -> (f64, f64) {
        (
            self.position.distance(truth.position),
            wrap_angle(self.heading - truth.heading).abs().to_degrees(),
        )
    }

    /// This pose moved by an odometry reading: forward along the heading turned by half the
    /// heading change, then the rest of the turn.
    pub fn moved(&self, reading: &OdometryReading) -> Pose {
        let dh = reading.heading_change_rad;
        Pose {
            position: self.position
                + Vec2::from_heading(self.heading + dh / 2.0) * reading.distance_m,
            heading: wrap_angle(self.heading + dh),
        }
    }
}

/// What the map sensor gives a car at a tick: the patch, the command and what they were cut
/// at. Every field follows from the car's sensors (GPS fix, odometry) and the map alone.
#[derive(Clone, Debug, PartialEq)]
pub struct MapObservation {
    /// `size × size` RGB: red paved, green the route ahead (blank or stale in a dropout).
    pub patch: Frame,
    /// The believed pose: the GPS fix (the true pose without GPS noise), or dead reckoning
    /// from the last fix in a dropout.
    pub position: Vec2,
    pub heading: f64,
    /// Route progress as the navigation system tracks it from the believed pose, metres.
    pub progress_m: f64,
    /// The navigation command at that progress.
    pub command: Command,
    /// What the odometry measured over the last tick.
    pub odometry: OdometryReading,
    /// `false` during a dropout: no fix, the patch blank or the last one.
    pub fix_available: bool,
}

/// The map input, the GPS error, its dropouts and the odometry of a world's cars.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MapOptions {
    pub spec: MapSpec,
    /// `None`: the true pose.
    pub gps: Option<GpsNoise>,
    #[serde(default)]
    pub dropouts: Option<Dropouts>,
    #[serde(default)]
    pub odometry: OdometryNoise,
}

/// One car's navigation system: its GPS receiver and odometry, the route progress it tracks
/// and the map it shows. The receiver and the odometry read the true motion (with their
/// errors); everything after them reads only what they report.
#[derive(Clone, Debug)]
pub struct Navigator {
    gps: Option<GpsFix>,
    odometry: Odometry,
    dropouts: Option<Dropouts>,
    rng: SensorRng,
    /// Seconds of the current dropout left, and whether its map is the stale one.
    outage: Option<(f64, bool)>,
    started: bool,
    last: Option<MapObservation>,
    /// The route progress before the last tick's matching.
    prior_progress_m: Option<f64>,
}

impl Navigator {
    /// The navigation system of one car for one drive, its errors drawn from `seed`.
    pub fn new(options: &MapOptions, seed: u64) -> Navigator {
        Navigator {
            gps: options.gps.map(|noise| GpsFix::new(noise, seed)),
            odometry: Odometry::new(options.odometry, seed),
            dropouts: options.dropouts,
            rng: SensorRng::seed_from_u64(fnv1a(&[b"dropouts", &seed.to_le_bytes()])),
            outage: None,
            started: false,
            last: None,
            prior_progress_m: None,
        }
    }

    /// A navigation system whose receiver is `gps` (e.g. one with a given error).
    pub fn with_receiver(options: &MapOptions, gps: GpsFix, seed: u64) -> Navigator {
        Navigator {
            gps: Some(gps),
            ..Navigator::new(options, seed)
        }
    }

    /// The car was put somewhere else (a safety driver, a respawn): the next tick matches its
    /// route progress afresh.
    pub fn relocate(&mut self) {
        self.odometry.restart();
        self.outage = None;
        self.last = None;
    }

    /// The sensors read the car at `truth` after `dt_s` seconds (0 at the start of a drive);
    /// the believed pose, the route progress and the map follow from their readings.
    pub fn sense(&mut self, view: &MapView, spec: &MapSpec, truth: &VehicleState, dt_s: f64) {
        let reading = self.odometry.measure(truth, dt_s);
        if let Some(gps) = self.gps.as_mut()
            && self.started
        {
            gps.step(dt_s);
        }
        self.started = true;
        let fix = match &self.gps {
            Some(gps) => {
                let (position, heading) = gps.fix(truth);
                Pose { position, heading }
            }
            None => Pose::of(truth),
        };
        self.outage = match (self.outage, &self.dropouts) {
            (Some((left, stale)), _) if left > dt_s => Some((left - dt_s, stale)),
            (_, Some(d))
                if self.last.is_some()
                    && self.rng.random_range(0.0..1.0) < d.per_minute * dt_s / 60.0 =>
            {
                let (lo, hi) = d.duration_s;
                let length = if hi > lo {
                    self.rng.random_range(lo..=hi)
                } else {
                    lo
                };
                Some((
                    length,
                    self.rng.random_range(0.0..1.0) < d.stale_probability,
                ))
            }
            _ => None,
        };
        self.prior_progress_m = self.last.as_ref().map(|l| l.progress_m);
        let observation = match (&self.outage, self.last.take()) {
            (Some((_, stale)), Some(last)) => {
                let belief = Pose {
                    position: last.position,
                    heading: last.heading,
                }
                .moved(&reading);
                let progress_m = view.advance(last.progress_m, reading.distance_m);
                let mut patch = last.patch;
                if !stale {
                    patch.rgb.iter_mut().for_each(|v| *v = 0);
                }
                MapObservation {
                    patch,
                    position: belief.position,
                    heading: belief.heading,
                    progress_m,
                    command: view.command(progress_m),
                    odometry: reading,
                    fix_available: false,
                }
            }
            (_, last) => {
                let progress_m =
                    view.match_progress(last.map(|l| l.progress_m), fix, reading.distance_m);
                MapObservation {
                    patch: view.patch(spec, fix.position, fix.heading, progress_m),
                    position: fix.position,
                    heading: fix.heading,
                    progress_m,
                    command: view.command(progress_m),
                    odometry: reading,
                    fix_available: true,
                }
            }
        };
        self.last = Some(observation);
    }

    /// The car's own localisation puts it at `belief` this tick (a filter's estimate from the
    /// readings, see `drive::localise::OnlineLocaliser`): the route progress is matched and the
    /// patch cut there instead of at the fix.
    pub fn believe(&mut self, view: &MapView, spec: &MapSpec, belief: Pose) {
        let Some(last) = self.last.as_mut() else {
            return;
        };
        let progress_m =
            view.match_progress(self.prior_progress_m, belief, last.odometry.distance_m);
        last.patch = view.patch(spec, belief.position, belief.heading, progress_m);
        last.position = belief.position;
        last.heading = belief.heading;
        last.progress_m = progress_m;
        last.command = view.command(progress_m);
    }

    /// The GPS receiver (`None`: the car knows its true pose).
    pub fn receiver_mut(&mut self) -> Option<&mut GpsFix> {
        self.gps.as_mut()
    }

    /// What the navigation system shows after the last [`Navigator::sense`].
    pub fn observation(&self) -> Option<&MapObservation> {
        self.last.as_ref()
    }
}

/// Cuts each car's map patch at its believed pose every tick.
#[derive(Debug)]
pub struct MapSensor {
    pub options: MapOptions,
    view: MapView,
    cars: Vec<Navigator>,
}

impl MapSensor {
    pub fn new(sim: &Simulation, options: MapOptions) -> MapSensor {
        MapSensor {
            options,
            view: MapView::new(sim),
            cars: Vec::new(),
        }
    }

    pub fn view(&self) -> &MapView {
        &self.view
    }

    /// Draws the route of `sim` from now on (after a turn was chosen, the route changed);
    /// every car matches its progress on it afresh.
    pub fn follow_route(&mut self, sim: &Simulation) {
        if let Some(town) = sim.town() {
            self.view.follow(town);
            self.cars.iter_mut().for_each(Navigator::relocate);
        }
    }

    /// New navigation systems for `agents` cars, their errors seeded from `seed` (a drive's
    /// own seed, so that two drives get different errors).
    pub fn reset(&mut self, seed: u64, agents: usize) {
        self.cars = (0..agents)
            .map(|i| {
                Navigator::new(
                    &self.options,
                    fnv1a(&[&seed.to_le_bytes(), &i.to_le_bytes()]),
                )
            })
            .collect();
    }

    /// Replaces car `agent`'s navigation system (e.g. with one whose receiver has a given error).
    pub fn set_navigator(&mut self, agent: usize, navigator: Navigator) {
        if let Some(n) = self.cars.get_mut(agent) {
            *n = navigator;
        }
    }

    /// Car `agent` was put somewhere else: its progress is matched afresh.
    pub fn relocate(&mut self, agent: usize) {
        if let Some(n) = self.cars.get_mut(agent) {
            n.relocate();
        }
    }

    /// Car `agent`'s sensors read its true state `truth` after `dt_s` seconds.
    pub fn sense(&mut self, agent: usize, truth: &VehicleState, dt_s: f64) {
        if let Some(n) = self.cars.get_mut(agent) {
            n.sense(&self.view, &self.options.spec, truth, dt_s);
        }
    }

    /// Car `agent`'s own localisation puts it at `belief` (see [`Navigator::believe`]).
    pub fn believe(&mut self, agent: usize, belief: Pose) {
        if let Some(n) = self.cars.get_mut(agent) {
            n.believe(&self.view, &self.options.spec, belief);
        }
    }

    /// The map car `agent` sees at `tick` (after its sensors read the tick's state).
    pub fn observe(&self, agent: usize, tick: u64) -> Option<MapObservation> {
        let mut o = self.cars.get(agent)?.observation()?.clone();
        o.patch.tick = tick;
        o.patch.agent = agent;
        Some(o)
    }
}

/// High-level commands of conditional imitation (Codevilla et al. 2018): how many there are.
pub const COMMANDS: usize = 4;
/// The command names the next junction's manoeuvre from this far before its turn path.
pub const COMMAND_RANGE_M: f64 = 30.0;

/// What a navigation system tells the driver to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Follow the road (no junction within [`COMMAND_RANGE_M`]).
    Follow,
    Left,
    Straight,
    Right,
}

impl Command {
    /// The command for a car `distance_to_junction_m` before (or inside) a junction where its
    /// route takes `turn`. A U-turn is a left turn taken further.
    pub fn from_route(turn: Turn, distance_to_junction_m: f64, in_junction: bool) -> Command {
        if !in_junction && distance_to_junction_m > COMMAND_RANGE_M {
            return Command::Follow;
        }
        match turn {
            Turn::Left | Turn::UTurn => Command::Left,
            Turn::Straight => Command::Straight,
            Turn::Right => Command::Right,
        }
    }

    /// Index of the head that steers under this command.
    pub fn index(self) -> usize {
        self as usize
    }
}
