//! Routes: closed walks over a network's lanes through junctions, so that a car can follow
//! one forever. A route is a list of lanes, each leading into the next and the last into
//! the first.

use super::{LaneKind, Network, RouteSpec, Turn};
use crate::sim::math::Vec2;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::collections::{HashMap, VecDeque};

/// A closed walk over lanes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub lanes: Vec<usize>,
}

/// A junction the route passes: where along the route its turn path starts and ends, and the
/// manoeuvre.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RouteJunction {
    pub junction: usize,
    pub turn: Turn,
    pub s_start_m: f64,
    pub s_end_m: f64,
}

impl Route {
    /// The route a scenario's `route` field asks for.
    pub fn build(network: &Network, spec: &RouteSpec) -> Result<Route, String> {
        match spec {
            RouteSpec::Random { seed, turns } => Ok(Route::random(network, *seed, *turns)),
            RouteSpec::Turns(turns) => Route::from_turns(network, turns),
        }
    }

    /// `turns` manoeuvres drawn from `seed` from a road lane drawn from `seed`, then the
    /// shortest way back to that lane.
    pub fn random(network: &Network, seed: u64, turns: u32) -> Route {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x0052_4f55_5445);
        let road_lanes: Vec<usize> = road_lanes(network).collect();
        let start = road_lanes[rng.random_range(0..road_lanes.len())];
        let mut lanes = vec![start];
        let mut current = start;
        for _ in 0..turns {
            let options = &network.lanes[current].next;
            let turn_lane = options[rng.random_range(0..options.len())];
            current = network.lanes[turn_lane].next[0];
            lanes.push(turn_lane);
            lanes.push(current);
        }
        close(network, lanes)
    }

    /// From the first road lane, these manoeuvres at the junctions met in order (dead ends
    /// are turned round at without a manoeuvre of their own unless it is `UTurn`), then the
    /// shortest way back. Errors name the first manoeuvre no lane choice allows.
    pub fn from_turns(network: &Network, turns: &[Turn]) -> Result<Route, String> {
        let starts: Vec<usize> = road_lanes(network).collect();
        let mut memo = HashMap::new();
        for &start in &starts {
            if let Some(path) = plan(network, start, turns, 0, &mut memo) {
                let mut lanes = vec![start];
                lanes.extend(path);
                return Ok(close(network, lanes));
            }
        }
        // Find how far the best start gets, to name the manoeuvre that fails.
        let mut best = 0;
        for k in (0..turns.len()).rev() {
            let mut memo = HashMap::new();
            if starts
                .iter()
                .any(|&s| plan(network, s, &turns[..k], 0, &mut memo).is_some())
            {
                best = k;
                break;
            }
        }
        Err(format!(
            "route: turn {} ({:?}) cannot be made after {:?}: no junction reached that way allows it",
            best,
            turns[best],
            &turns[..best]
        ))
    }

    /// The walk `lanes` (each leading into the next) closed by the shortest way from its last
    /// lane back to its first.
    pub fn closed(network: &Network, lanes: Vec<usize>) -> Route {
        close(network, lanes)
    }

    /// The route's centreline, lane after lane (closed: the last point leads to the first).
    pub fn samples(&self, network: &Network) -> Vec<Vec2> {
        let mut pts: Vec<Vec2> = Vec::new();
        for &l in &self.lanes {
            for &p in network.lanes[l].path.points() {
                if pts.last().is_none_or(|q| q.distance(p) > 1e-6) {
                    pts.push(p);
                }
            }
        }
        if pts.len() > 1 && pts[0].distance(pts[pts.len() - 1]) < 1e-6 {
            pts.pop();
        }
        pts
    }

    /// Length of the route, metres.
    pub fn length_m(&self, network: &Network) -> f64 {
        self.lanes
            .iter()
            .map(|&l| network.lanes[l].path.length_m())
            .sum()
    }

    /// The junctions passed, in order, with where along the route they are.
    pub fn junctions(&self, network: &Network) -> Vec<RouteJunction> {
        let mut s = 0.0;
        let mut out = Vec::new();
        for &l in &self.lanes {
            let len = network.lanes[l].path.length_m();
            if let LaneKind::Turn { junction, turn } = network.lanes[l].kind {
                out.push(RouteJunction {
                    junction,
                    turn,
                    s_start_m: s,
                    s_end_m: s + len,
                });
            }
            s += len;
        }
        out
    }
}

fn road_lanes(network: &Network) -> impl Iterator<Item = usize> + '_ {
    network
        .lanes
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l.kind, LaneKind::Road { .. }))
        .map(|(i, _)| i)
}

/// Turn lanes and road lanes after road lane `lane` that make `turns[k..]`, or `None`.
fn plan(
    network: &Network,
    lane: usize,
    turns: &[Turn],
    k: usize,
    memo: &mut HashMap<(usize, usize), bool>,
) -> Option<Vec<usize>> {
    if k == turns.len() {
        return Some(Vec::new());
    }
    if memo.get(&(lane, k)) == Some(&false) {
        return None;
    }
    for &t in &network.lanes[lane].next {
        let LaneKind::Turn { turn, .. } = network.lanes[t].kind else {
            continue;
        };
        // A dead end's U-turn is taken without using up a manoeuvre, unless it is asked for.
        let used = if turn == turns[k] {
            1
        } else if turn == Turn::UTurn {
            0
        } else {
            continue;
        };
        let next = network.lanes[t].next[0];
        if let Some(rest) = plan(network, next, turns, k + used, memo) {
            let mut path = vec![t, next];
            path.extend(rest);
            return Some(path);
        }
    }
    memo.insert((lane, k), false);
    None
}

/// `lanes` (a walk starting at its first lane) closed by the shortest way from its last
/// lane back to its first.
fn close(network: &Network, mut lanes: Vec<usize>) -> Route {
    let (start, end) = (lanes[0], lanes[lanes.len() - 1]);
    if lanes.len() > 1 && start == end {
        lanes.pop();
        return Route { lanes };
    }
    // Breadth-first search over the lane graph for the way from `end` into `start`.
    let mut came_from: HashMap<usize, usize> = HashMap::new();
    let mut queue = VecDeque::from([end]);
    'search: while let Some(v) = queue.pop_front() {
        for &w in &network.lanes[v].next {
            if let std::collections::hash_map::Entry::Vacant(e) = came_from.entry(w) {
                e.insert(v);
                if w == start {
                    break 'search;
                }
                queue.push_back(w);
            }
        }
    }
    let mut back = Vec::new();
    let mut v = start;
    while let Some(&u) = came_from.get(&v) {
        if u == end {
            break;
        }
        back.push(u);
        v = u;
    }
    back.reverse();
    lanes.extend(back);
    Route { lanes }
}
