//! Routes: closed walks over a network's lanes through junctions, so that a car can follow
//! one forever. A route is a list of lanes, each leading into the next and the last into
//! the first.

use super::{LaneKind, Network, RouteSpec, Turn};
use crate::sim::math::Vec2;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::collections::{HashMap, HashSet, VecDeque};

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
        if turns.len() > MAX_TURNS {
            return Err(format!(
                "route: Turns lists {} manoeuvres; the limit is {MAX_TURNS}",
                turns.len()
            ));
        }
        // States (lane, manoeuvres made) already searched from an earlier start led nowhere.
        let mut visited = HashSet::new();
        let mut furthest = 0;
        for start in road_lanes(network) {
            match plan(network, start, turns, &mut visited) {
                Ok(path) => {
                    let mut lanes = vec![start];
                    lanes.extend(path);
                    return Ok(close(network, lanes));
                }
                Err(k) => furthest = furthest.max(k),
            }
        }
        let best = furthest.min(turns.len().saturating_sub(1));
        Err(format!(
            "route: turn {} ({:?}) cannot be made after {:?}: no junction reached that way allows it",
            best,
            turns.get(best).copied().unwrap_or(Turn::Straight),
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

/// The most manoeuvres a `Turns` route may list.
pub const MAX_TURNS: usize = 1_000;

/// The turn lanes and road lanes after road lane `start` that make `turns`, searched depth
/// first in the order of each lane's `next` (so the first choice that works is kept), over
/// states (lane, manoeuvres made) not in `visited`; or the most manoeuvres any search made.
/// Iterative with a visited set: a U-turn at a dead end uses up no manoeuvre, so two dead
/// ends joined by one road are a cycle of states.
fn plan(
    network: &Network,
    start: usize,
    turns: &[Turn],
    visited: &mut HashSet<(usize, usize)>,
) -> Result<Vec<usize>, usize> {
    struct Frame {
        lane: usize,
        made: usize,
        /// The turn lane that led here (none for the start).
        via: Option<usize>,
        /// The next of `lane`'s options to try.
        option: usize,
    }
    if !visited.insert((start, 0)) {
        return Err(0);
    }
    let mut stack = vec![Frame {
        lane: start,
        made: 0,
        via: None,
        option: 0,
    }];
    let mut furthest = 0;
    while let Some(top) = stack.last_mut() {
        furthest = furthest.max(top.made);
        if top.made == turns.len() {
            return Ok(stack
                .iter()
                .filter_map(|f| f.via.map(|t| [t, f.lane]))
                .flatten()
                .collect());
        }
        let options = &network.lanes[top.lane].next;
        let mut step = None;
        while top.option < options.len() {
            let t = options[top.option];
            top.option += 1;
            let LaneKind::Turn { turn, .. } = network.lanes[t].kind else {
                continue;
            };
            // A dead end's U-turn is taken without using up a manoeuvre, unless it is asked for.
            let made = if turn == turns[top.made] {
                top.made + 1
            } else if turn == Turn::UTurn {
                top.made
            } else {
                continue;
            };
            let lane = network.lanes[t].next[0];
            if visited.insert((lane, made)) {
                step = Some(Frame {
                    lane,
                    made,
                    via: Some(t),
                    option: 0,
                });
                break;
            }
        }
        match step {
            Some(frame) => stack.push(frame),
            None => {
                stack.pop();
            }
        }
    }
    Err(furthest)
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
