//! Traffic: cars that drive random routes through a road network with the same lane
//! following as the expert, keep their distance to whatever is ahead in their lane with the
//! Intelligent Driver Model (Treiber et al. 2000), and cross junctions one at a time.
//!
//! Right of way: a junction is a resource held by one car at a time. A car joins its queue
//! when its turn path is within [`APPROACH_M`]; cars are served first come, first served,
//! except that cars on one approach keep their order on the road, and a car whose exit lane
//! has no room for it lets the next one that can go go first (so nobody waits inside a
//! junction, and a full exit does not lock the others out). A car gives the junction back when
//! it has left the turn path. Without the junction, the stop line is a standing car in front of
//! it. The ego cars take part too: the expert
//! reads its speed limit from the same rule ([`Traffic::ego_speed_caps`]). Everything is
//! a function of the scenario and the episode seed: the same seed gives the same traffic.

use crate::sim::collision::Rect;
use crate::sim::math::{Vec2, fnv1a};
use crate::sim::network::route::Route;
use crate::sim::network::{LaneKind, Network};
use crate::sim::vehicle::VehicleState;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::collections::HashMap;

mod junctions;
pub mod soak;
pub mod spec;

use crate::sim::route_path::RoutePath;
pub use junctions::APPROACH_M;
use junctions::{JunctionRule, LanePlace, Snapshot};

pub use spec::TrafficSpec;

/// How far ahead a [`SpeedCap`]'s target looks, seconds.
pub const SPEED_HORIZON_S: f64 = 1.0;

/// What the car ahead and the junction rule allow an ego car: the speed next tick (what the
/// expert drives at), and the speed [`SPEED_HORIZON_S`] ahead at the same acceleration (the
/// target a speed policy learns: braking hard for a car close ahead shows as a low target, not
/// as a speed a few centimetres a second below the car's own).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpeedCap {
    pub next_tick_m_s: f64,
    pub target_m_s: f64,
}
use spec::{SUDDEN_BRAKE_M_S2, SUDDEN_BRAKE_S};

/// Traffic cars start at least this far from every other car, metres (from an ego car, also
/// the distance it needs to stop from its starting speed).
pub const PLACE_GAP_M: f64 = 10.0;
/// The braking an ego car's starting clearance allows for, m/s².
const EGO_START_DECEL_M_S2: f64 = 2.5;
/// Lanes ahead searched for a leader, metres.
const LOOK_AHEAD_M: f64 = 80.0;
/// One traffic car.
#[derive(Clone, Debug)]
pub struct TrafficCar {
    pub path: RoutePath,
    /// Arc length along its route, metres.
    pub s_m: f64,
    pub speed_m_s: f64,
    pub desired_speed_m_s: f64,
    /// Seconds left of a sudden brake (0: none).
    pub braking_s: f64,
}

/// Every traffic car of a world and the junctions they hold.
#[derive(Clone, Debug)]
pub struct Traffic {
    pub spec: TrafficSpec,
    pub cars: Vec<TrafficCar>,
    /// Who waits for and who is let into each junction.
    junctions: JunctionRule,
    car_length_m: f64,
    car_width_m: f64,
    wheelbase_m: f64,
    /// The episode's seed for sudden brakes, and the ticks stepped since its reset.
    brake_seed: u64,
    ticks: u64,
}

impl Traffic {
    /// Traffic of `spec` in `network`, not yet placed (see [`Traffic::reset`]).
    pub fn new(
        network: &Network,
        spec: TrafficSpec,
        body: (f64, f64),
        wheelbase_m: f64,
    ) -> Traffic {
        Traffic {
            spec,
            cars: Vec::new(),
            junctions: JunctionRule::new(network, body),
            car_length_m: body.0,
            car_width_m: body.1,
            wheelbase_m,
            brake_seed: 0,
            ticks: 0,
        }
    }

    /// Places the cars for an episode of `seed`: each on a random route at a random place
    /// at least [`PLACE_GAP_M`] from every car already placed, and from each ego car that
    /// plus the distance it needs to stop from its speed; at rest. Places as many as there is
    /// room for.
    pub fn reset(&mut self, network: &Network, seed: u64, egos: &[VehicleState]) {
        let mut rng = StdRng::seed_from_u64(fnv1a(&[
            b"traffic",
            &self.spec.seed.to_le_bytes(),
            &seed.to_le_bytes(),
        ]));
        self.brake_seed = fnv1a(&[
            b"sudden brakes",
            &self.spec.seed.to_le_bytes(),
            &seed.to_le_bytes(),
        ]);
        self.ticks = 0;
        self.cars.clear();
        self.junctions.clear();
        // Ego cars start at speed: nothing stands closer ahead than they can stop in.
        let ego_clearance: Vec<(Vec2, f64)> = (egos.iter())
            .map(|e| {
                let stop_m = e.speed_m_s.powi(2) / (2.0 * EGO_START_DECEL_M_S2);
                (e.position, PLACE_GAP_M + stop_m)
            })
            .collect();
        let mut taken: Vec<Vec2> = Vec::new();
        for _ in 0..self.spec.cars {
            let route = Route::random(network, rng.random_range(0..u64::MAX), 24);
            let Ok(path) = RoutePath::new(network, route) else {
                continue;
            };
            let len = path.track.length_m();
            let mut placed = None;
            for _ in 0..200 {
                let s = rng.random_range(0.0..len);
                let p = path.track.at(s).position;
                // Not inside a junction (the rule has not seen it), and clear of the others.
                let (k, _) = path.lane_at(s);
                let on_road = matches!(
                    network.lanes[path.route.lanes[k]].kind,
                    LaneKind::Road { .. }
                );
                let clear = taken.iter().all(|q| q.distance(p) > PLACE_GAP_M)
                    && ego_clearance.iter().all(|(q, gap)| q.distance(p) > *gap);
                if on_road && clear {
                    placed = Some(s);
                    break;
                }
            }
            let Some(s) = placed else {
                continue;
            };
            taken.push(path.track.at(s).position);
            let (lo, hi) = self.spec.speed_range_m_s;
            let desired = if hi > lo {
                rng.random_range(lo..=hi)
            } else {
                lo
            };
            self.cars.push(TrafficCar {
                path,
                s_m: s,
                speed_m_s: 0.0,
                desired_speed_m_s: desired,
                braking_s: 0.0,
            });
        }
    }

    /// The vehicle state of traffic car `i` (rear axle on its lane, pointing along it).
    pub fn state(&self, i: usize) -> VehicleState {
        let car = &self.cars[i];
        let tp = car.path.track.at(car.s_m);
        VehicleState {
            position: tp.position,
            heading: tp.heading,
            speed_m_s: car.speed_m_s,
            steer_rad: (tp.curvature_per_m * self.wheelbase_m).atan(),
        }
    }

    pub fn states(&self) -> Vec<VehicleState> {
        (0..self.cars.len()).map(|i| self.state(i)).collect()
    }

    /// The body of a car in `state`.
    pub fn body(&self, state: &VehicleState) -> Rect {
        Rect {
            centre: state.body_centre(self.wheelbase_m),
            heading: state.heading,
            half_length: self.car_length_m / 2.0,
            half_width: self.car_width_m / 2.0,
        }
    }

    /// Every traffic car's body.
    pub fn bodies(&self) -> Vec<Rect> {
        (0..self.cars.len())
            .map(|i| self.body(&self.state(i)))
            .collect()
    }

    fn path<'a>(&'a self, ego_path: &'a RoutePath, place: &LanePlace) -> &'a RoutePath {
        match place.car {
            Some(i) => &self.cars[i].path,
            None => ego_path,
        }
    }

    /// Updates who waits for and who is let into each junction.
    fn update_junctions(&mut self, network: &Network, ego_path: &RoutePath, snap: &Snapshot) {
        let cars = &self.cars;
        let path_of = |place: &LanePlace| match place.car {
            Some(i) => &cars[i].path,
            None => ego_path,
        };
        let room = self.car_length_m + self.spec.min_gap_m;
        self.junctions.update(network, snap, &path_of, room);
    }

    /// Places of every participant: ego cars (on `ego_path` at arc length and speed `egos`)
    /// then traffic cars.
    fn snapshot(&self, ego_path: &RoutePath, egos: &[(f64, f64)]) -> Snapshot {
        let mut places = Vec::with_capacity(egos.len() + self.cars.len());
        for &(s, speed) in egos {
            let (k, into_m) = ego_path.lane_at(s);
            places.push(LanePlace {
                k,
                into_m,
                lane: ego_path.route.lanes[k],
                speed,
                car: None,
            });
        }
        for (i, car) in self.cars.iter().enumerate() {
            let (k, into_m) = car.path.lane_at(car.s_m);
            places.push(LanePlace {
                k,
                into_m,
                lane: car.path.route.lanes[k],
                speed: car.speed_m_s,
                car: Some(i),
            });
        }
        let mut on_lane: HashMap<usize, Vec<(usize, f64, f64)>> = HashMap::new();
        for (who, p) in places.iter().enumerate() {
            on_lane
                .entry(p.lane)
                .or_default()
                .push((who, p.into_m, p.speed));
        }
        Snapshot { places, on_lane }
    }

    /// The gap to what participant `who` must not run into, metres, and its speed: the
    /// nearest participant ahead on its lanes, or the stop line of a junction it may not enter.
    fn leader(
        &self,
        network: &Network,
        ego_path: &RoutePath,
        snap: &Snapshot,
        who: usize,
    ) -> Option<(f64, f64)> {
        let me = &snap.places[who];
        let path = self.path(ego_path, me);
        let n = path.route.lanes.len();
        let mut best: Option<(f64, f64)> = None;
        let mut consider = |gap: f64, speed: f64| {
            if best.is_none_or(|(g, _)| gap < g) {
                best = Some((gap, speed));
            }
        };
        // Along my lanes: `ahead` is the distance from me to the start of lane k.
        let mut ahead = -me.into_m;
        for d in 0..n {
            if ahead > LOOK_AHEAD_M {
                break;
            }
            let k = (me.k + d) % n;
            let lane = path.route.lanes[k];
            for &(o, into, speed) in snap.on_lane.get(&lane).into_iter().flatten() {
                let along = ahead + into;
                if o != who && along > 0.0 {
                    consider(along - self.car_length_m, speed);
                }
            }
            if d > 0
                && let LaneKind::Turn { junction, .. } = network.lanes[lane].kind
                && !self.junctions.may_enter(junction, who)
            {
                // Stop a metre before the turn path begins.
                consider(ahead - 1.0, 0.0);
            }
            ahead += path.lane_length(k);
        }
        best.map(|(g, v)| (g.max(0.0), v))
    }

    /// IDM acceleration for speed `v`, desired speed `v0`, and a leader (gap, speed).
    fn idm(&self, v: f64, v0: f64, leader: Option<(f64, f64)>) -> f64 {
        let s = &self.spec;
        let free = 1.0 - (v / v0.max(0.1)).powi(4);
        let interaction = match leader {
            Some((gap, lead_v)) => {
                let dv = v - lead_v;
                let desired = s.min_gap_m
                    + (v * s.time_headway_s
                        + v * dv / (2.0 * (s.max_accel_m_s2 * s.comfortable_decel_m_s2).sqrt()))
                    .max(0.0);
                (desired / gap.max(0.1)).powi(2)
            }
            None => 0.0,
        };
        // Braking is bounded by what a car can do (9 m/s²).
        (s.max_accel_m_s2 * (free - interaction)).max(-9.0)
    }

    /// Advances the traffic cars by `dt_s`, the ego cars standing where `egos` says (arc
    /// length on `ego_path`, speed).
    pub fn step(
        &mut self,
        network: &Network,
        ego_path: &RoutePath,
        egos: &[(f64, f64)],
        dt_s: f64,
    ) {
        let snap = self.snapshot(ego_path, egos);
        self.update_junctions(network, ego_path, &snap);
        let accels: Vec<f64> = (0..self.cars.len())
            .map(|i| {
                let car = &self.cars[i];
                // Slow for the curves ahead as the expert does (4 m/s² lateral).
                let mut v0 = car.desired_speed_m_s;
                let mut d = 0.0;
                while d <= 20.0 {
                    let k = car.path.track.at(car.s_m + d).curvature_per_m.abs();
                    if k > 1e-6 {
                        v0 = v0.min((4.0 / k).sqrt());
                    }
                    d += 2.0;
                }
                let leader = self.leader(network, ego_path, &snap, egos.len() + i);
                self.idm(car.speed_m_s, v0, leader)
            })
            .collect();
        let brake_chance = self.spec.sudden_brakes_per_min * dt_s / 60.0;
        self.ticks += 1;
        for (i, (car, mut a)) in self.cars.iter_mut().zip(accels).enumerate() {
            // A uniform draw of this tick and car.
            let draw = || {
                let h = fnv1a(&[
                    &self.brake_seed.to_le_bytes(),
                    &self.ticks.to_le_bytes(),
                    &(i as u64).to_le_bytes(),
                ]);
                (h >> 11) as f64 / (1u64 << 53) as f64
            };
            if car.braking_s > 0.0 {
                car.braking_s = (car.braking_s - dt_s).max(0.0);
                a = a.min(-SUDDEN_BRAKE_M_S2);
            } else if brake_chance > 0.0 && car.speed_m_s > 3.0 && draw() < brake_chance {
                car.braking_s = SUDDEN_BRAKE_S;
                a = a.min(-SUDDEN_BRAKE_M_S2);
            }
            let v = (car.speed_m_s + a * dt_s).max(0.0);
            car.s_m = car
                .path
                .track
                .wrap_s(car.s_m + 0.5 * (car.speed_m_s + v) * dt_s);
            car.speed_m_s = v;
        }
    }

    /// For each ego car: the speed the junction rule and the car ahead allow it (`None`:
    /// nothing close enough to matter), with the IDM at the ego's cruise speed `v0`.
    pub fn ego_speed_caps(
        &mut self,
        network: &Network,
        ego_path: &RoutePath,
        egos: &[(f64, f64)],
        v0: f64,
        dt_s: f64,
    ) -> Vec<Option<SpeedCap>> {
        let snap = self.snapshot(ego_path, egos);
        self.update_junctions(network, ego_path, &snap);
        (0..egos.len())
            .map(|who| {
                let leader = self.leader(network, ego_path, &snap, who)?;
                let v = egos[who].1;
                let a = self.idm(v, v0, Some(leader));
                (a < 0.5 * self.spec.max_accel_m_s2).then(|| SpeedCap {
                    next_tick_m_s: (v + a * dt_s).max(0.0),
                    target_m_s: (v + a * SPEED_HORIZON_S).max(0.0),
                })
            })
            .collect()
    }

    /// Junction queues (for tests and the HUD): participant numbers per junction.
    pub fn queues(&self) -> &[Vec<usize>] {
        &self.junctions.queues
    }

    pub fn by_lane(&self) -> HashMap<usize, usize> {
        let mut m = HashMap::new();
        for car in &self.cars {
            let (k, _) = car.path.lane_at(car.s_m);
            *m.entry(car.path.route.lanes[k]).or_default() += 1;
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::network::{TownStyle, town};

    #[test]
    fn a_car_behind_never_holds_a_junction_the_car_in_front_waits_for() {
        let network = Network::build(&town(3, 420.0, &TownStyle::default()), 3.5, "track")
            .expect("it builds");
        let path = RoutePath::new(&network, Route::random(&network, 7, 24)).expect("a route");
        // A turn whose approach lane is long enough for two cars.
        let n = path.route.lanes.len();
        let k = (1..n)
            .find(|&k| {
                matches!(
                    network.lanes[path.route.lanes[k]].kind,
                    LaneKind::Turn { .. }
                ) && path.lane_length(k - 1) > 30.0
            })
            .expect("a turn after a long lane");
        let stop = path.lane_starts()[k];
        let spec = TrafficSpec::default();
        let mut traffic = Traffic::new(&network, spec.clone(), (4.5, 1.8), 2.7);
        // Car 0 (asks first when numbers tie) stands behind car 1, both within the approach.
        for (behind, s) in [(0, stop - 22.0), (1, stop - 6.0)] {
            traffic.cars.push(TrafficCar {
                path: path.clone(),
                s_m: s,
                speed_m_s: 0.0,
                desired_speed_m_s: 8.0,
                braking_s: 0.0,
            });
            assert_eq!(traffic.cars.len() - 1, behind);
        }
        // The ego car stands far behind both.
        let ego = [(path.track.wrap_s(stop - 120.0), 0.0)];
        let past = stop + path.lane_length(k) + 5.0;
        for _ in 0..600 {
            traffic.step(&network, &path, &ego, 0.05);
        }
        for (i, car) in traffic.cars.iter().enumerate() {
            assert!(
                car.s_m > past,
                "car {i} stands at {:.1} m, the junction at {stop:.1} m; queues {:?}",
                car.s_m,
                traffic.junctions.queues
            );
        }
    }
}
