//! Traffic soak: a town driven for a long time at a given traffic density, the ego car by
//! the expert, to find cars that stand for ever (a locked junction) or crash into each other.
//! `steerlab bench traffic` runs it over many seeds; the tests run a few.

use crate::error::{Error, Result};
use crate::sim::built::BuiltWorld;
use crate::sim::network::{LaneKind, Network};
use crate::sim::vehicle::STANDING_M_S;
use crate::sim::{Expert, ExpertConfig, Scenario, Simulation};
use serde::Serialize;
use std::sync::Arc;

/// Length of a network's road lanes (turn paths not counted), km: what traffic density is
/// measured against.
pub fn lane_km(network: &Network) -> f64 {
    (network.lanes.iter())
        .filter(|l| matches!(l.kind, LaneKind::Road { .. }))
        .map(|l| l.path.length_m())
        .sum::<f64>()
        / 1000.0
}

/// The longest time one car stood still, and where.
#[derive(Clone, Debug, Serialize)]
pub struct Standstill {
    /// Traffic car number, or `None` for the ego car.
    pub car: Option<usize>,
    pub seconds: f64,
    /// When the standstill began, seconds into the soak.
    pub from_s: f64,
    /// The junction it stood before or in, and how far before its turn path, metres.
    pub junction: String,
    pub distance_to_junction_m: f64,
}

impl std::fmt::Display for Standstill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = match self.car {
            Some(i) => format!("traffic car {i}"),
            None => "the ego car".to_string(),
        };
        write!(
            f,
            "{who} stood {:.0} s from {:.0} s, {:.0} m before {}",
            self.seconds, self.from_s, self.distance_to_junction_m, self.junction
        )
    }
}

/// What one soak saw.
#[derive(Clone, Debug, Serialize)]
pub struct Soak {
    pub scenario: String,
    pub seed: u64,
    /// Traffic cars placed (fewer than asked for where the town had no room).
    pub cars: usize,
    pub lane_km: f64,
    pub seconds: f64,
    /// The longest standstill of any car (the ego included), when any car stood at all.
    pub longest: Option<Standstill>,
    /// Cars (the ego included) that stood longer than `limit_s` at least once.
    pub cars_over_limit: usize,
    /// Distance per simulated minute of the slowest traffic car, metres.
    pub slowest_m_per_min: f64,
    /// Ego crashes, and ticks on which two traffic cars' bodies overlapped.
    pub ego_crashes: u32,
    pub traffic_overlaps: u64,
}

/// The length of the road lanes of the town `scenario`, whose world is `world`, km; an error
/// naming the scenario when it is no town.
pub fn town_lane_km(scenario: &Scenario, world: &BuiltWorld) -> Result<f64> {
    match world.network() {
        Some(network) => Ok(lane_km(network)),
        None => Err(Error::InvalidArgument(format!(
            "scenario {}: traffic density needs a town (a scenario with a road network)",
            scenario.name
        ))),
    }
}

/// The number of traffic cars that puts `cars_per_lane_km` cars on each of `lane_km` km of
/// road lane (rounded, 0 to 1000); an error for a density that is not a number ≥ 0.
pub fn cars_at_density(lane_km: f64, cars_per_lane_km: f64) -> Result<u32> {
    if !(cars_per_lane_km.is_finite() && cars_per_lane_km >= 0.0) {
        return Err(Error::InvalidArgument(format!(
            "traffic density {cars_per_lane_km} cars per lane-km must be a number ≥ 0"
        )));
    }
    Ok(((cars_per_lane_km * lane_km).round() as u32).min(1000))
}

/// Drives the town `scenario` (whose world is `world`, shared by every seed) with its traffic
/// for `seconds` of simulated time with episode `seed`, the ego car driven by the expert at the
/// scenario's cruise speed. `limit_s`: the standstill that counts as stuck.
pub fn soak(
    scenario: &Scenario,
    world: &Arc<BuiltWorld>,
    seed: u64,
    seconds: f64,
    limit_s: f64,
) -> Result<Soak> {
    let mut s = scenario.clone();
    s.episode_steps = u32::MAX;
    let dt = s.dt_s;
    let ticks = (seconds / dt).ceil() as u64;
    let mut sim = Simulation::in_world(s.clone(), world.clone(), 1)?;
    let Some(km) = sim.town().map(|t| lane_km(&t.network)) else {
        return Err(Error::InvalidArgument(format!(
            "scenario {}: a traffic soak needs a town (a scenario with a road network)",
            s.name
        )));
    };
    sim.reset(seed);
    let mut expert = Expert::new(ExpertConfig::default(), seed);
    let cars = sim.traffic_states().len();
    // Per participant (ego first): current standstill start tick, longest (ticks, start).
    let mut standing: Vec<Option<u64>> = vec![None; cars + 1];
    let mut longest: Vec<(u64, u64)> = vec![(0, 0); cars + 1];
    let mut worst: Option<Standstill> = None;
    let mut moved = vec![0.0f64; cars];
    let mut last = sim.traffic_states();
    let (mut ego_crashes, mut traffic_overlaps) = (0u32, 0u64);
    for t in 0..ticks {
        let state = sim.states()[0].clone();
        let a = expert.act(&sim.track, &state, s.vehicle.speed_m_s).applied;
        let ego = sim.step(&[a])?[0].clone();
        ego_crashes += ego.crash.is_some() as u32;
        let now = sim.traffic_states();
        for (i, (a, b)) in last.iter().zip(&now).enumerate() {
            moved[i] += a.position.distance(b.position);
        }
        let Some(town) = sim.town() else { break };
        let traffic_cars = town.traffic.as_ref().map_or(&[][..], |t| &t.cars[..]);
        let bodies = town
            .traffic
            .as_ref()
            .map(|t| t.bodies())
            .unwrap_or_default();
        for i in 0..bodies.len() {
            for k in i + 1..bodies.len() {
                traffic_overlaps += bodies[i].overlaps(&bodies[k]) as u64;
            }
        }
        let speeds = std::iter::once(ego.vehicle.speed_m_s).chain(now.iter().map(|v| v.speed_m_s));
        for (who, v) in speeds.enumerate() {
            if v >= STANDING_M_S {
                standing[who] = None;
                continue;
            }
            let from = *standing[who].get_or_insert(t);
            let stood = t + 1 - from;
            if stood > longest[who].0 {
                longest[who] = (stood, from);
                if worst.as_ref().is_none_or(|w| stood as f64 * dt > w.seconds) {
                    let (path, s_m) = match who {
                        0 => (&town.route, ego.s_m),
                        i => (&traffic_cars[i - 1].path, traffic_cars[i - 1].s_m),
                    };
                    let at = path.position(&town.network, s_m);
                    worst = Some(Standstill {
                        car: who.checked_sub(1),
                        seconds: stood as f64 * dt,
                        from_s: from as f64 * dt,
                        junction: at.junction,
                        distance_to_junction_m: at.distance_to_junction_m,
                    });
                }
            }
        }
        last = now;
    }
    let minutes = ticks as f64 * dt / 60.0;
    Ok(Soak {
        scenario: s.name.clone(),
        seed,
        cars,
        lane_km: km,
        seconds: ticks as f64 * dt,
        longest: worst,
        cars_over_limit: longest
            .iter()
            .filter(|(n, _)| *n as f64 * dt > limit_s)
            .count(),
        slowest_m_per_min: moved.iter().fold(f64::INFINITY, |m, &d| m.min(d / minutes)),
        ego_crashes,
        traffic_overlaps,
    })
}
