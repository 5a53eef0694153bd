//! N independent cars on one track, stepped at the scenario's fixed tick. No rendering:
//! `world::Env` adds cameras on top of this.

use crate::error::{Error, Result};
use crate::sim::built::BuiltWorld;
use crate::sim::collision::{Crash, CrashCheck};
use crate::sim::episode::EpisodeStats;
use crate::sim::network::Network;
use crate::sim::route_path::RoutePath;
use crate::sim::scenario::Scenario;
use crate::sim::track::{Track, TrackProjection};
use crate::sim::traffic::Traffic;
use crate::sim::vehicle::{Action, Vehicle, VehicleState};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Everything known about one car after a tick.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    /// Ticks since reset; the frame rendered for this state carries the same id.
    pub tick: u64,
    pub vehicle: VehicleState,
    /// Arc length of the closest centreline point, metres.
    pub s_m: f64,
    /// Signed distance from the centreline, metres (positive: left).
    pub lateral_offset_m: f64,
    /// Car heading minus track heading, radians (positive: pointing left).
    pub heading_error_rad: f64,
    /// Curvature of the track at `s_m`, 1/m.
    pub track_curvature_per_m: f64,
    pub stats: EpisodeStats,
    /// The car's body is off the paved road or touching a prop or a car now ([`CrashCheck`]).
    pub crash: Option<Crash>,
    /// In traffic: the speed the car ahead and the junction rule allow next tick, m/s.
    #[serde(default)]
    pub speed_cap_m_s: Option<f64>,
    /// In traffic: the speed the car ahead and the junction rule would have the car at
    /// [`crate::sim::traffic::SPEED_HORIZON_S`] from now at the same acceleration, m/s (what a
    /// speed policy learns: unlike next tick's speed, it says how hard to brake).
    #[serde(default)]
    pub speed_target_m_s: Option<f64>,
    /// In a town: the car's place on its route (lane, next junction and manoeuvre).
    #[serde(default)]
    pub route: Option<crate::sim::route_path::RoutePosition>,
    /// The episode is over: step limit reached or the car left the world.
    pub done: bool,
}

/// Cars on a track, stepped together.
#[derive(Clone, Debug)]
pub struct Simulation {
    pub scenario: Scenario,
    pub track: Track,
    /// The world the cars drive in, built once.
    world: Arc<BuiltWorld>,
    /// The road network of a town, the route the cars drive, and its traffic.
    town: Option<Town>,
    crash_check: CrashCheck,
    vehicles: Vec<Vehicle>,
    states: Vec<AgentState>,
    tick: u64,
}

/// A town: its network, the ego cars' route, and the traffic (when the scenario has some).
#[derive(Clone, Debug)]
pub struct Town {
    pub network: std::sync::Arc<Network>,
    pub route: RoutePath,
    pub traffic: Option<Traffic>,
}

/// A car further than this many road widths from the centreline has left the world.
const LOST_ROAD_WIDTHS: f64 = 3.0;

impl Simulation {
    /// A simulation of `agents` cars in the world of `scenario`, built here; call
    /// [`Simulation::reset`] before stepping.
    pub fn new(scenario: Scenario, agents: usize) -> Result<Simulation> {
        let world = BuiltWorld::build(&scenario)?;
        Self::in_world(scenario, world, agents)
    }

    /// A simulation of `agents` cars in `world`, the built world of `scenario`.
    pub fn in_world(
        scenario: Scenario,
        world: Arc<BuiltWorld>,
        agents: usize,
    ) -> Result<Simulation> {
        if agents == 0 {
            return Err(Error::InvalidArgument(
                "a simulation needs at least one car".into(),
            ));
        }
        let town = world.town.as_ref().map(|(network, route)| {
            let traffic = (scenario.traffic.cars > 0).then(|| {
                let v = &scenario.vehicle;
                Traffic::new(
                    network,
                    scenario.traffic.clone(),
                    (v.length_m, v.width_m),
                    v.wheelbase_m,
                )
            });
            Town {
                network: network.clone(),
                route: route.clone(),
                traffic,
            }
        });
        let track = world.track.clone();
        let crash_check = CrashCheck::new(&scenario, &world.props, world.network().cloned());
        let mut sim = Simulation {
            scenario,
            track,
            world,
            town,
            crash_check,
            vehicles: Vec::new(),
            states: Vec::new(),
            tick: 0,
        };
        sim.vehicles =
            vec![Vehicle::new(sim.scenario.vehicle.clone(), VehicleState::default()); agents];
        sim.states = vec![AgentState::default(); agents];
        let seed = sim.scenario.seed;
        sim.reset(seed);
        if let Some(traffic) = sim.town.as_ref().and_then(|t| t.traffic.as_ref())
            && traffic.cars.len() < sim.scenario.traffic.cars as usize
        {
            return Err(Error::ScenarioInvalid {
                file: sim.scenario.name.clone(),
                problems: vec![format!(
                    "traffic.cars: room for {} of {} cars (each starts {} m from the others); fewer cars or a larger town",
                    traffic.cars.len(),
                    sim.scenario.traffic.cars,
                    crate::sim::traffic::PLACE_GAP_M
                )],
            });
        }
        Ok(sim)
    }

    /// Changes the route of the cars in a town so that they take `turn` at the next junction
    /// they reach (then the shortest way back round the loop). Errors when the scenario is not
    /// a town or that junction has no such manoeuvre from the car's lane, naming the ones it has.
    pub fn choose_turn(&mut self, turn: crate::sim::network::Turn) -> Result<()> {
        let Some(town) = self.town.as_mut() else {
            return Err(Error::InvalidArgument(
                "turns are chosen in towns (a `Network` or `Town` track)".into(),
            ));
        };
        let network = town.network.clone();
        let s = self.states.first().map_or(0.0, |st| st.s_m);
        let (k, _) = town.route.lane_at(s);
        let lanes = &town.route.route.lanes;
        let n = lanes.len();
        // The junction after the one the car may be crossing now.
        let from = if matches!(
            network.lanes[lanes[k]].kind,
            crate::sim::network::LaneKind::Turn { .. }
        ) {
            (k + 1) % n
        } else {
            k
        };
        let Some((t, junction)) = town.route.next_turn(&network, from) else {
            return Err(Error::InvalidArgument(
                "the route passes no junction".into(),
            ));
        };
        let incoming = lanes[(t + n - 1) % n];
        let options: Vec<(usize, crate::sim::network::Turn)> = network.lanes[incoming]
            .next
            .iter()
            .filter_map(|&l| match network.lanes[l].kind {
                crate::sim::network::LaneKind::Turn { turn, .. } => Some((l, turn)),
                _ => None,
            })
            .collect();
        let Some(&(chosen, _)) = options.iter().find(|(_, t)| *t == turn) else {
            return Err(Error::InvalidArgument(format!(
                "no {turn:?} at {} from this lane; it allows {:?}",
                network.junctions[junction].name,
                options.iter().map(|(_, t)| *t).collect::<Vec<_>>()
            )));
        };
        // Keep the route up to the lane into that junction, from where the car is.
        let mut walk: Vec<usize> = (0..n)
            .map(|d| lanes[(from + d) % n])
            .take_while(|&l| l != incoming)
            .collect();
        walk.push(incoming);
        walk.push(chosen);
        walk.push(network.lanes[chosen].next[0]);
        let route = crate::sim::network::route::Route::closed(&network, walk);
        town.route = RoutePath::new(&network, route).map_err(Error::InvalidArgument)?;
        self.track = town.route.track.clone();
        for i in 0..self.states.len() {
            let projection = self.track.project(self.vehicles[i].state.position);
            let stats = self.states[i].stats.clone();
            self.states[i] = self.observe(i, &projection, stats, self.tick);
        }
        self.update_traffic_view();
        Ok(())
    }

    /// The town of a road-network scenario: network, route and traffic.
    /// The world the cars drive in.
    pub fn world(&self) -> &Arc<BuiltWorld> {
        &self.world
    }

    pub fn town(&self) -> Option<&Town> {
        self.town.as_ref()
    }

    /// The traffic cars' states (empty without traffic).
    pub fn traffic_states(&self) -> Vec<VehicleState> {
        self.town
            .as_ref()
            .and_then(|t| t.traffic.as_ref())
            .map(|t| t.states())
            .unwrap_or_default()
    }

    /// Arc length and speed of every car on the route (what traffic sees of the ego cars).
    fn ego_places(&self) -> Vec<(f64, f64)> {
        self.states
            .iter()
            .map(|s| (s.s_m, s.vehicle.speed_m_s))
            .collect()
    }

    /// Lets the traffic see the ego cars where they are now: their speed caps for the next
    /// tick, and crashes into traffic cars.
    fn update_traffic_view(&mut self) {
        let egos = self.ego_places();
        let dt = self.scenario.dt_s;
        let v0 = self.scenario.vehicle.speed_m_s;
        let Some(town) = self.town.as_mut() else {
            return;
        };
        let Some(traffic) = town.traffic.as_mut() else {
            return;
        };
        let caps = traffic.ego_speed_caps(&town.network, &town.route, &egos, v0, dt);
        let bodies = traffic.bodies();
        for (state, cap) in self.states.iter_mut().zip(caps) {
            state.speed_cap_m_s = cap.map(|c| c.next_tick_m_s);
            state.speed_target_m_s = cap.map(|c| c.target_m_s);
            if state.crash.is_none() {
                let body = self.crash_check.body(&state.vehicle);
                if bodies.iter().any(|b| b.overlaps(&body)) {
                    state.crash = Some(Crash::Car);
                    state.done |= self.scenario.end_on_crash;
                }
            }
        }
    }

    pub fn agent_count(&self) -> usize {
        self.vehicles.len()
    }

    pub fn tick(&self) -> u64 {
        self.tick
    }

    pub fn states(&self) -> &[AgentState] {
        &self.states
    }

    /// Starts a new episode. Car `i` starts at an evenly spaced place along the track, shifted
    /// by a seeded random phase, with a small seeded lateral and heading perturbation.
    pub fn reset(&mut self, seed: u64) -> &[AgentState] {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = self.vehicles.len();
        let len = self.track.length_m();
        let phase: f64 = rng.random_range(0.0..1.0);
        for i in 0..n {
            let s = self.track.wrap_s((phase + i as f64 / n as f64) * len);
            self.start_at(i, s, &mut rng, 0);
        }
        self.tick = 0;
        let egos: Vec<VehicleState> = self.states.iter().map(|s| s.vehicle).collect();
        if let Some(town) = self.town.as_mut()
            && let Some(traffic) = town.traffic.as_mut()
        {
            traffic.reset(&town.network, seed, &egos);
        }
        self.update_traffic_view();
        &self.states
    }

    /// Advances every car by one tick with its action (one action per car).
    pub fn step(&mut self, actions: &[Action]) -> Result<&[AgentState]> {
        if actions.len() != self.vehicles.len() {
            return Err(Error::InvalidArgument(format!(
                "step got {} actions for {} cars",
                actions.len(),
                self.vehicles.len()
            )));
        }
        self.tick += 1;
        let half = self.scenario.road.width_m / 2.0;
        for (i, action) in actions.iter().enumerate() {
            if self.states[i].done {
                // A finished car stays where it is until reset.
                self.states[i].tick = self.tick;
                continue;
            }
            let before = self.vehicles[i].state.position;
            self.vehicles[i].step(*action, self.scenario.dt_s);
            let after = self.vehicles[i].state.position;
            let projection =
                self.track
                    .project_near(after, self.states[i].s_m, self.scenario.road.width_m);
            let mut stats = self.states[i].stats.clone();
            stats.record(before.distance(after), projection.lateral_offset_m, half);
            self.states[i] = self.observe(i, &projection, stats, self.tick);
        }
        let egos = self.ego_places();
        let dt = self.scenario.dt_s;
        if let Some(town) = self.town.as_mut()
            && let Some(traffic) = town.traffic.as_mut()
        {
            traffic.step(&town.network, &town.route, &egos, dt);
        }
        self.update_traffic_view();
        Ok(&self.states)
    }

    fn observe(
        &self,
        i: usize,
        projection: &TrackProjection,
        stats: EpisodeStats,
        tick: u64,
    ) -> AgentState {
        let vehicle = self.vehicles[i].state;
        let lost =
            projection.lateral_offset_m.abs() > LOST_ROAD_WIDTHS * self.scenario.road.width_m;
        let crash = self
            .crash_check
            .check(&self.track, &vehicle, projection.s_m);
        let crashed = self.scenario.end_on_crash && crash.is_some();
        AgentState {
            tick,
            vehicle,
            s_m: projection.s_m,
            lateral_offset_m: projection.lateral_offset_m,
            heading_error_rad: self.track.heading_error(projection, vehicle.heading),
            track_curvature_per_m: self.track.at(projection.s_m).curvature_per_m,
            stats,
            crash,
            done: lost || crashed || tick >= self.scenario.episode_steps as u64,
            speed_cap_m_s: None,
            speed_target_m_s: None,
            route: self.town.as_ref().map(|t| {
                let mut position = t.route.position(&t.network, projection.s_m);
                position.exits =
                    crate::sim::exits::exit_labels(&t.network, &t.route, &position, &vehicle);
                position
            }),
        }
    }

    /// Starts a new episode for car `i` alone, at a place along the track drawn from `seed`
    /// (near the centreline, as at [`Simulation::reset`]) with its counters cleared; the
    /// other cars and the world's clock go on. A vector environment's auto-reset.
    pub fn respawn(&mut self, i: usize, seed: u64) -> Result<&AgentState> {
        if i >= self.vehicles.len() {
            return Err(Error::InvalidArgument(format!("no car {i}")));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let s = self
            .track
            .wrap_s(rng.random_range(0.0..1.0) * self.track.length_m());
        self.start_at(i, s, &mut rng, self.tick);
        self.update_traffic_view();
        Ok(&self.states[i])
    }

    /// Puts car `i` at `s` along the track with a small lateral and heading perturbation
    /// drawn from `rng`, at cruise speed, its counters cleared.
    fn start_at(&mut self, i: usize, s: f64, rng: &mut StdRng, tick: u64) {
        let half = self.scenario.road.width_m / 2.0;
        let offset = rng.random_range(-0.15..0.15) * half;
        let heading_noise = rng.random_range(-3.0f64..3.0).to_radians();
        let tp = self.track.at(s);
        let state = VehicleState {
            position: self.track.offset_point(s, offset),
            heading: tp.heading + heading_noise,
            speed_m_s: self.scenario.vehicle.speed_m_s,
            steer_rad: 0.0,
        };
        self.vehicles[i] = Vehicle::new(self.scenario.vehicle.clone(), state);
        let projection = self.track.project(state.position);
        self.states[i] = self.observe(i, &projection, EpisodeStats::default(), tick);
    }

    /// Puts car `i` back on the centreline at its current place, aligned with the track
    /// (used by evaluation after an intervention). The episode's counters continue.
    pub fn recentre(&mut self, i: usize) -> Result<&AgentState> {
        let Some(vehicle) = self.vehicles.get_mut(i) else {
            return Err(Error::InvalidArgument(format!("no car {i}")));
        };
        let tp = self.track.at(self.states[i].s_m);
        vehicle.state.position = tp.position;
        vehicle.state.heading = tp.heading;
        vehicle.state.steer_rad = 0.0;
        let projection =
            self.track
                .project_near(tp.position, self.states[i].s_m, self.scenario.road.width_m);
        let stats = self.states[i].stats.clone();
        self.states[i] = self.observe(i, &projection, stats, self.tick);
        self.update_traffic_view();
        Ok(&self.states[i])
    }

    /// Puts car `i` at `state` (position, heading, speed, steering), as if it had driven
    /// there; the episode's counters continue. A place within a few metres of where the car
    /// was is matched to the route near where it was (as a step does); a farther one to the
    /// closest point of the whole route. Fails on a car that does not exist or a state with a
    /// non-finite field.
    pub fn place(&mut self, i: usize, state: VehicleState) -> Result<&AgentState> {
        let fields = [
            state.position.x,
            state.position.y,
            state.heading,
            state.speed_m_s,
            state.steer_rad,
        ];
        if fields.iter().any(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "car {i} cannot be placed at a state with a non-finite field: {state:?}"
            )));
        }
        let Some(vehicle) = self.vehicles.get_mut(i) else {
            return Err(Error::InvalidArgument(format!("no car {i}")));
        };
        let moved_m = vehicle.state.position.distance(state.position);
        vehicle.state = state;
        let width = self.scenario.road.width_m;
        let projection = if moved_m <= width {
            self.track
                .project_near(state.position, self.states[i].s_m, width)
        } else {
            self.track.project(state.position)
        };
        let stats = self.states[i].stats.clone();
        self.states[i] = self.observe(i, &projection, stats, self.tick);
        self.update_traffic_view();
        Ok(&self.states[i])
    }
}
