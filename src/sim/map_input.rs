//! The map a navigation network reads beside the camera (Amini et al. 2019): an ego-centred,
//! heading-aligned raster of the roads around the pose the car *believes* it has. Red is the
//! drivable area (the unrouted map), green the route ahead (with red: the routed map). The
//! belief is the true pose, or a GPS fix whose error wanders slowly as a real receiver's does
//! (a first-order Gauss–Markov process: white noise averages away, a drifting fix does not).

use crate::sim::frame::Frame;
use crate::sim::math::{Vec2, fnv1a, wrap_angle};
use crate::sim::network::Turn;
use crate::sim::network::raster::DrivableMap;
use crate::sim::simulation::Simulation;
use crate::sim::track::Track;
use crate::sim::vehicle::VehicleState;
use rand::{RngExt, SeedableRng, rngs::StdRng};
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
#[derive(Debug)]
pub struct GpsFix {
    noise: GpsNoise,
    rng: StdRng,
    /// Current error: east, north (metres) and heading (radians).
    error: [f64; 3],
}

impl GpsFix {
    /// A receiver whose first error is drawn from the stationary distribution, seeded.
    pub fn new(noise: GpsNoise, seed: u64) -> GpsFix {
        let mut fix = GpsFix {
            noise,
            rng: StdRng::seed_from_u64(fnv1a(&[b"gps", &seed.to_le_bytes()])),
            error: [0.0; 3],
        };
        let sigma = fix.sigmas();
        for (e, s) in fix.error.iter_mut().zip(sigma) {
            *e = s * gaussian(&mut fix.rng);
        }
        fix
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
            *e = a * *e + b * s * gaussian(&mut self.rng);
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

fn gaussian(rng: &mut StdRng) -> f64 {
    // Box–Muller on (0, 1] so the logarithm is finite.
    let u: f64 = 1.0 - rng.random_range(0.0..1.0);
    let v: f64 = rng.random_range(0.0..1.0);
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// The roads and the route of a world, ready to cut map patches from.
#[derive(Clone, Debug)]
pub struct MapView {
    drivable: DrivableMap,
    /// The route the cars drive (in a town) or the track itself.
    route: Track,
    /// Half the width of the route marking, metres.
    route_half_width_m: f64,
}

/// Grid cell of the drivable area, metres (finer than any patch's pixel).
const CELL_M: f64 = 0.5;
/// The route is drawn from this far behind the car.
const ROUTE_BEHIND_M: f64 = 10.0;

impl MapView {
    /// The map of `sim`'s world: in a town its road network and the cars' route, on a track
    /// the road and the track.
    pub fn new(sim: &Simulation) -> MapView {
        match sim.town() {
            Some(town) => MapView {
                drivable: DrivableMap::new(&town.network, CELL_M),
                route: town.route.track.clone(),
                route_half_width_m: town.network.lane_width_m / 2.0,
            },
            None => {
                let half = sim.scenario.road.width_m / 2.0;
                MapView {
                    drivable: DrivableMap::from_track(&sim.track, half, CELL_M),
                    route: sim.track.clone(),
                    route_half_width_m: half / 2.0,
                }
            }
        }
    }

    /// The patch seen from `position`/`heading` (heading up, the car at the centre, its left
    /// to the left), the route drawn from `route_s_m` (the car's progress along it, which a
    /// navigation system tracks) onwards.
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
            let d = self.route.at(s).position - position;
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

/// What the map sensor gives a car at a tick: the patch and the fix it was cut at.
#[derive(Clone, Debug, PartialEq)]
pub struct MapObservation {
    /// `size × size` RGB: red paved, green the route ahead.
    pub patch: Frame,
    /// The believed pose: the GPS fix (the true pose without GPS noise).
    pub position: Vec2,
    pub heading: f64,
}

/// The map input and the GPS error of a world's cars.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MapOptions {
    pub spec: MapSpec,
    /// `None`: the true pose.
    pub gps: Option<GpsNoise>,
}

/// Cuts each car's map patch at its believed pose every tick.
#[derive(Debug)]
pub struct MapSensor {
    pub options: MapOptions,
    view: MapView,
    fixes: Vec<GpsFix>,
}

impl MapSensor {
    pub fn new(sim: &Simulation, options: MapOptions) -> MapSensor {
        MapSensor {
            options,
            view: MapView::new(sim),
            fixes: Vec::new(),
        }
    }

    pub fn view(&self) -> &MapView {
        &self.view
    }

    /// Draws the route of `sim` from now on (after a turn was chosen, the route changed).
    pub fn follow_route(&mut self, sim: &Simulation) {
        if let Some(town) = sim.town() {
            self.view.route = town.route.track.clone();
        }
    }

    /// New receivers for `agents` cars, seeded from the episode's seed.
    pub fn reset(&mut self, seed: u64, agents: usize) {
        self.fixes = match self.options.gps {
            Some(noise) => (0..agents)
                .map(|i| GpsFix::new(noise, fnv1a(&[&seed.to_le_bytes(), &i.to_le_bytes()])))
                .collect(),
            None => Vec::new(),
        };
    }

    /// Moves every receiver's error on by one tick.
    pub fn step(&mut self, dt_s: f64) {
        self.fixes.iter_mut().for_each(|f| f.step(dt_s));
    }

    /// The map car `agent` sees in `state`.
    pub fn observe(&self, agent: usize, state: &crate::sim::AgentState) -> MapObservation {
        let (position, heading) = match self.fixes.get(agent) {
            Some(fix) => fix.fix(&state.vehicle),
            None => (state.vehicle.position, state.vehicle.heading),
        };
        let mut patch = self
            .view
            .patch(&self.options.spec, position, heading, state.s_m);
        patch.tick = state.tick;
        patch.agent = agent;
        MapObservation {
            patch,
            position,
            heading,
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
