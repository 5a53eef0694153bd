//! The map patch: its size, what it shows, the roads and route it is cut from, and the
//! commands a navigation system gives.

use crate::sim::built::BuiltWorld;
use crate::sim::frame::Frame;
use crate::sim::math::{Vec2, wrap_angle};
use crate::sim::network::raster::DrivableMap;
use crate::sim::network::{LaneKind, Network, Turn};
use crate::sim::odometry::OdometryReading;
use crate::sim::route_path::RoutePath;
use crate::sim::simulation::Simulation;
use crate::sim::track::Track;
use crate::sim::vehicle::VehicleState;
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
            Some(town) => Self::of_town(&town.network, &town.route),
            None => Self::of_world(sim.world(), sim.scenario.road.width_m),
        }
    }

    /// The map of a built world whose roads are `road_width_m` wide (a town's lanes say their
    /// own width).
    pub fn of_world(world: &BuiltWorld, road_width_m: f64) -> MapView {
        match &world.town {
            Some((network, route)) => Self::of_town(network, route),
            None => {
                let track = &world.track;
                let half = road_width_m / 2.0;
                MapView {
                    drivable: DrivableMap::from_track(track, half, CELL_M),
                    route: track.clone(),
                    stretches: vec![RouteStretch {
                        start_s: 0.0,
                        end_s: track.length_m(),
                        turn: None,
                        centre_shift_m: (0.0, 0.0),
                    }],
                    route_half_width_m: half / 2.0,
                }
            }
        }
    }

    /// Draws `town`'s route from now on.
    fn of_town(network: &Network, route: &RoutePath) -> MapView {
        let mut view = MapView {
            drivable: DrivableMap::new(network, CELL_M),
            route: route.track.clone(),
            stretches: Vec::new(),
            route_half_width_m: network.lane_width_m / 2.0,
        };
        view.follow(network, route);
        view
    }

    /// Draws the route `path` on `network` from now on (the route changes when the car is
    /// told to take another turn).
    pub(super) fn follow(&mut self, network: &Network, path: &RoutePath) {
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
