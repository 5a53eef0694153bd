//! Road networks: two-way roads of one or two lanes per direction between junctions and dead
//! ends, right-hand traffic. A network is built from its specification into lanes (each an
//! arc-length polyline) and the turn paths that join them through junctions, one per allowed
//! manoeuvre, matching position, heading and curvature at both ends. Routes are walks over
//! this lane graph ([`route`]); [`raster`] draws the drivable area from above.

use crate::sim::math::Vec2;
use std::collections::HashMap;

pub mod buildings;
mod check;
mod graph;
mod lanes;
pub mod overview;
mod polyline;
pub mod raster;
pub mod route;
mod spec;
mod surface;
mod types;

pub use polyline::{Polyline, Pose, quintic, spline};
pub use spec::{NetworkSpec, NodeKind, NodeSpec, RoadSpec, RouteSpec, TownStyle, Turn, town};
pub use types::{Junction, Lane, LaneKind, Road};

use check::{crossings, spec_problems};
use lanes::lanes;
use surface::{PavedIndex, outline};

/// The distance from junction `j`'s node at which each pair of neighbouring roads leaving it
/// has parted by their two half widths and [`PARTING_MARGIN_M`] (0 where they part at once):
/// two roads 45° apart need about 1.4 times their widths, a right-angled cross far less than
/// its turn paths' room. Capped at [`MAX_PARTING_REACH_M`]; roads nearly parallel are then
/// reported as overlapping.
fn parting_reach(
    spec: &NetworkSpec,
    node_of: &HashMap<&str, usize>,
    j: usize,
    junction: &Junction,
    half_width: &dyn Fn(u32) -> f64,
) -> f64 {
    let mut arms: Vec<(f64, f64)> = junction
        .roads
        .iter()
        .map(|&r| {
            let road = &spec.roads[r];
            let (from, to) = (node_of[road.from.as_str()], node_of[road.to.as_str()]);
            let other = |n: usize| Vec2::new(spec.nodes[n].at.0, spec.nodes[n].at.1);
            let next = if from == j && to != j {
                road.via
                    .first()
                    .map_or(other(to), |&(x, y)| Vec2::new(x, y))
            } else {
                road.via
                    .last()
                    .map_or(other(from), |&(x, y)| Vec2::new(x, y))
            };
            ((next - junction.position).heading(), half_width(road.lanes))
        })
        .collect();
    if arms.len() < 2 {
        return 0.0;
    }
    arms.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut reach: f64 = 0.0;
    for k in 0..arms.len() {
        let (a, b) = (arms[k], arms[(k + 1) % arms.len()]);
        let gap = (b.0 - a.0).rem_euclid(std::f64::consts::TAU);
        if gap < std::f64::consts::FRAC_PI_2 {
            let need = (a.1 + b.1 + PARTING_MARGIN_M) / gap.sin().max(1e-3);
            reach = reach.max(need.min(MAX_PARTING_REACH_M));
        }
    }
    reach
}

/// Room between the edges of two roads where a junction's surface ends, metres.
const PARTING_MARGIN_M: f64 = 2.0;
/// The farthest a junction's surface reaches to part two roads, metres.
const MAX_PARTING_REACH_M: f64 = 40.0;

/// Distance between centreline samples, metres.
const SPACING_M: f64 = 0.5;
/// Junction surfaces reach this far beyond the widest road's half width, metres: the room
/// turn paths need.
const JUNCTION_MARGIN_M: f64 = 10.0;
/// A dead end's turning circle reaches this far beyond the road's half width, metres.
const TURNING_MARGIN_M: f64 = 12.0;
/// Shortest road left between two junction surfaces, metres.
const MIN_ROAD_M: f64 = 6.0;

/// A built network.
#[derive(Clone, Debug)]
pub struct Network {
    pub lane_width_m: f64,
    pub roads: Vec<Road>,
    pub junctions: Vec<Junction>,
    pub lanes: Vec<Lane>,
    index: PavedIndex,
}

impl Network {
    /// Builds `spec` with lanes `lane_width_m` wide; errors list every problem, each naming
    /// its field under `field` (e.g. `track`).
    pub fn build(
        spec: &NetworkSpec,
        lane_width_m: f64,
        field: &str,
    ) -> Result<Network, Vec<String>> {
        let mut problems = spec_problems(spec, field);
        if !problems.is_empty() {
            return Err(problems);
        }
        let node_of: HashMap<&str, usize> = spec
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        let mut junctions: Vec<Junction> = spec
            .nodes
            .iter()
            .map(|n| Junction {
                name: n.name.clone(),
                position: Vec2::new(n.at.0, n.at.1),
                kind: n.kind,
                roads: Vec::new(),
                outline: Vec::new(),
            })
            .collect();
        let half_width = |lanes: u32| lanes as f64 * lane_width_m;
        for (r, road) in spec.roads.iter().enumerate() {
            junctions[node_of[road.from.as_str()]].roads.push(r);
            junctions[node_of[road.to.as_str()]].roads.push(r);
        }
        // How far from its node each junction's surface reaches: room for the turn paths,
        // and where two roads leave at an acute angle, far enough that their edges have parted.
        let reach: Vec<f64> = junctions
            .iter()
            .enumerate()
            .map(|(j, junction)| {
                let widest = junction
                    .roads
                    .iter()
                    .map(|&r| half_width(spec.roads[r].lanes))
                    .fold(0.0, f64::max);
                match junction.kind {
                    NodeKind::Junction => (widest + JUNCTION_MARGIN_M).max(parting_reach(
                        spec,
                        &node_of,
                        j,
                        junction,
                        &half_width,
                    )),
                    NodeKind::DeadEnd => widest + TURNING_MARGIN_M,
                }
            })
            .collect();
        let mut roads = Vec::new();
        for (r, road) in spec.roads.iter().enumerate() {
            let (a, b) = (node_of[road.from.as_str()], node_of[road.to.as_str()]);
            let mut control = vec![junctions[a].position];
            control.extend(road.via.iter().map(|&(x, y)| Vec2::new(x, y)));
            control.push(junctions[b].position);
            let full = spline(&control, SPACING_M);
            let hw = half_width(road.lanes);
            let trim = |j: usize| match junctions[j].kind {
                NodeKind::Junction => reach[j],
                // The road meets the turning circle where its edges do.
                NodeKind::DeadEnd => (reach[j] * reach[j] - hw * hw).max(0.0).sqrt(),
            };
            let s0 = first_beyond(&full, junctions[a].position, trim(a), false);
            let s1 = first_beyond(&full, junctions[b].position, trim(b), true);
            if s1 - s0 < MIN_ROAD_M {
                problems.push(format!(
                    "{field}.roads[{r}]: the road from {} to {} leaves {:.1} m between the junction surfaces (each reaches {:.1} m and {:.1} m from its node); move the nodes apart or narrow the road",
                    road.from, road.to, (s1 - s0).max(0.0), reach[a], reach[b]
                ));
                continue;
            }
            roads.push(Road {
                centre: full.slice(s0, s1),
                lanes: road.lanes,
                half_width_m: hw,
                from: a,
                to: b,
            });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        problems.extend(crossings(&roads, field));
        if !problems.is_empty() {
            return Err(problems);
        }
        let lanes = lanes(&roads, &junctions, lane_width_m, &reach);
        for (j, junction) in junctions.iter_mut().enumerate() {
            // The surface holds the road ends and everything a car on a turn path covers.
            let mut swept = Vec::new();
            for lane in &lanes {
                if let LaneKind::Turn { junction: tj, .. } = lane.kind
                    && tj == j
                {
                    let path = &lane.path;
                    for &s in path.sample_s().iter().step_by(2) {
                        for side in [-1.0, 1.0] {
                            swept.push(path.offset_point(s, side * (0.5 * lane_width_m + 0.5)));
                        }
                    }
                }
            }
            junction.outline = outline(j, junction, &roads, reach[j], swept);
        }
        let index = PavedIndex::new(&roads, &junctions);
        let network = Network {
            lane_width_m,
            roads,
            junctions,
            lanes,
            index,
        };
        let unreachable = network.unreachable_lanes();
        if !unreachable.is_empty() {
            return Err(vec![format!(
                "{field}: {} of {} lanes cannot reach every other lane (e.g. {:?}); every junction needs a way on from each road into it",
                unreachable.len(),
                network.lanes.len(),
                network.lanes[unreachable[0]].kind
            )]);
        }
        Ok(network)
    }

    /// Lanes from which some lane cannot be reached, or that some lane cannot reach.
    pub fn unreachable_lanes(&self) -> Vec<usize> {
        let n = self.lanes.len();
        let reach = |forward: bool| {
            let mut adj = vec![Vec::new(); n];
            for (i, lane) in self.lanes.iter().enumerate() {
                for &k in &lane.next {
                    if forward {
                        adj[i].push(k);
                    } else {
                        adj[k].push(i);
                    }
                }
            }
            graph::reachable(&adj, 0)
        };
        let (ahead, behind) = (reach(true), reach(false));
        (0..n).filter(|&i| !ahead[i] || !behind[i]).collect()
    }

    /// Whether a ground point is on a road or a junction surface.
    pub fn is_paved(&self, p: Vec2) -> bool {
        self.index.is_paved(p, &self.roads, &self.junctions)
    }

    /// The smallest box holding every paved point: (min, max).
    pub fn bounds(&self) -> (Vec2, Vec2) {
        let mut lo = Vec2::new(f64::INFINITY, f64::INFINITY);
        let mut hi = Vec2::new(f64::NEG_INFINITY, f64::NEG_INFINITY);
        let mut grow = |p: Vec2, r: f64| {
            lo = Vec2::new(lo.x.min(p.x - r), lo.y.min(p.y - r));
            hi = Vec2::new(hi.x.max(p.x + r), hi.y.max(p.y + r));
        };
        for road in &self.roads {
            for &p in road.centre.points() {
                grow(p, road.half_width_m);
            }
        }
        for j in &self.junctions {
            for &p in &j.outline {
                grow(p, 0.0);
            }
        }
        (lo, hi)
    }

    /// Road length (both directions of a road count once), metres.
    pub fn road_km(&self) -> f64 {
        self.roads.iter().map(|r| r.centre.length_m()).sum::<f64>() / 1000.0
    }

    /// Junctions by the number of roads that meet there: (dead ends, 2-way bends, T, 4-way,
    /// more).
    pub fn junction_counts(&self) -> [usize; 5] {
        let mut c = [0; 5];
        for j in &self.junctions {
            let k = match (j.kind, j.roads.len()) {
                (NodeKind::DeadEnd, _) => 0,
                (_, 2) => 1,
                (_, 3) => 2,
                (_, 4) => 3,
                _ => 4,
            };
            c[k] += 1;
        }
        c
    }

    /// One line: junctions by kind, road length, lanes and turn paths.
    pub fn summary(&self) -> String {
        let [dead, bends, t, four, more] = self.junction_counts();
        let turns = self
            .lanes
            .iter()
            .filter(|l| matches!(l.kind, LaneKind::Turn { .. }))
            .count();
        format!(
            "network of {} junctions ({four} 4-way, {t} T, {more} larger, {bends} bends, {dead} dead ends), {:.2} km of road, {} lanes, {turns} turn paths",
            self.junctions.len(),
            self.road_km(),
            self.lanes.len() - turns,
        )
    }
}

/// Arc length where the centreline first gets `radius` away from `node` (from the start, or
/// from the end when `from_end`).
fn first_beyond(line: &Polyline, node: Vec2, radius: f64, from_end: bool) -> f64 {
    let pts = line.points();
    let s = line.sample_s();
    let order: Box<dyn Iterator<Item = usize>> = if from_end {
        Box::new((0..pts.len()).rev())
    } else {
        Box::new(0..pts.len())
    };
    let mut prev: Option<usize> = None;
    for i in order {
        if pts[i].distance(node) >= radius {
            // Interpolate between the last point inside and this one.
            return match prev {
                Some(k) => {
                    let (dk, di) = (pts[k].distance(node), pts[i].distance(node));
                    let t = if di > dk {
                        (radius - dk) / (di - dk)
                    } else {
                        0.0
                    };
                    s[k] + t * (s[i] - s[k])
                }
                None => s[i],
            };
        }
        prev = Some(i);
    }
    if from_end { 0.0 } else { line.length_m() }
}
