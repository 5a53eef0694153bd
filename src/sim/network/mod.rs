//! Road networks: two-way roads of one or two lanes per direction between junctions and dead
//! ends, right-hand traffic. A network is built from its specification into lanes (each an
//! arc-length polyline) and the turn paths that join them through junctions, one per allowed
//! manoeuvre, matching position, heading and curvature at both ends. Routes are walks over
//! this lane graph ([`route`]); [`raster`] draws the drivable area from above.

use crate::sim::math::{Vec2, point_segment, segments_intersect, wrap_angle};
use std::collections::HashMap;

mod polyline;
pub mod raster;
pub mod route;
mod spec;

pub use polyline::{Polyline, Pose, quintic, spline};
pub use spec::{NetworkSpec, NodeKind, NodeSpec, RoadSpec, RouteSpec, Turn, town};

/// Distance between centreline samples, metres.
const SPACING_M: f64 = 0.5;
/// Junction surfaces reach this far beyond the widest road's half width, metres: the room
/// turn paths need.
const JUNCTION_MARGIN_M: f64 = 10.0;
/// A dead end's turning circle reaches this far beyond the road's half width, metres.
const TURNING_MARGIN_M: f64 = 12.0;
/// Radius of the loop cars drive round a dead end's turning circle, metres.
const U_TURN_RADIUS_M: f64 = 6.0;
/// Shortest road left between two junction surfaces, metres.
const MIN_ROAD_M: f64 = 6.0;

/// A built two-way road between the surfaces of its two nodes.
#[derive(Clone, Debug)]
pub struct Road {
    /// Centreline from `from` to `to`, trimmed to the junction surfaces.
    pub centre: Polyline,
    /// Lanes in each direction.
    pub lanes: u32,
    pub half_width_m: f64,
    pub from: usize,
    pub to: usize,
}

/// A built junction or dead end.
#[derive(Clone, Debug)]
pub struct Junction {
    pub name: String,
    pub position: Vec2,
    pub kind: NodeKind,
    /// Roads that end here.
    pub roads: Vec<usize>,
    /// The paved surface: a convex polygon, counter-clockwise.
    pub outline: Vec<Vec2>,
}

/// What a lane is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaneKind {
    /// Lane `index` (0 next to the centre line) of `road`, in its direction (`forward`: from
    /// its `from` node to its `to` node) or against it.
    Road {
        road: usize,
        forward: bool,
        index: u32,
    },
    /// A turn path through `junction`.
    Turn { junction: usize, turn: Turn },
}

/// A lane: a path cars follow, and the lanes it leads into.
#[derive(Clone, Debug)]
pub struct Lane {
    pub kind: LaneKind,
    pub path: Polyline,
    pub next: Vec<usize>,
}

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
        // How far from its node each junction's surface reaches.
        let reach: Vec<f64> = junctions
            .iter()
            .map(|j| {
                let widest = j
                    .roads
                    .iter()
                    .map(|&r| half_width(spec.roads[r].lanes))
                    .fold(0.0, f64::max);
                match j.kind {
                    NodeKind::Junction => widest + JUNCTION_MARGIN_M,
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
            let mut seen = vec![false; n];
            let mut stack = vec![0];
            if n > 0 {
                seen[0] = true;
            }
            while let Some(v) = stack.pop() {
                for &w in &adj[v] {
                    if !seen[w] {
                        seen[w] = true;
                        stack.push(w);
                    }
                }
            }
            seen
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

/// Every problem of the specification itself, naming fields under `field`.
fn spec_problems(spec: &NetworkSpec, field: &str) -> Vec<String> {
    let mut p = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, n) in spec.nodes.iter().enumerate() {
        if !(n.at.0.is_finite() && n.at.1.is_finite()) {
            p.push(format!(
                "{field}.nodes[{i}].at: every coordinate must be finite"
            ));
        }
        if n.name.trim().is_empty() {
            p.push(format!("{field}.nodes[{i}].name: is empty"));
        }
        if index.insert(n.name.as_str(), i).is_some() {
            p.push(format!(
                "{field}.nodes[{i}].name: {:?} names another node too",
                n.name
            ));
        }
    }
    if spec.nodes.len() < 2 {
        p.push(format!("{field}.nodes: a network needs at least two nodes"));
    }
    if spec.roads.is_empty() {
        p.push(format!("{field}.roads: a network needs at least one road"));
    }
    let mut degree = vec![0usize; spec.nodes.len()];
    let mut pairs = HashMap::new();
    for (r, road) in spec.roads.iter().enumerate() {
        let mut ends = Vec::new();
        for (end, name) in [("from", &road.from), ("to", &road.to)] {
            match index.get(name.as_str()) {
                Some(&i) => ends.push(i),
                None => p.push(format!(
                    "{field}.roads[{r}].{end}: no node is named {name:?}"
                )),
            }
        }
        if road.lanes == 0 || road.lanes > 2 {
            p.push(format!(
                "{field}.roads[{r}].lanes: {} lanes per direction; 1 or 2 are supported",
                road.lanes
            ));
        }
        if road
            .via
            .iter()
            .any(|(x, y)| !x.is_finite() || !y.is_finite())
        {
            p.push(format!(
                "{field}.roads[{r}].via: every coordinate must be finite"
            ));
        }
        if let [a, b] = ends[..] {
            if a == b {
                p.push(format!(
                    "{field}.roads[{r}]: starts and ends at {:?}; a road joins two different nodes",
                    road.from
                ));
                continue;
            }
            degree[a] += 1;
            degree[b] += 1;
            if let Some(first) = pairs.insert((a.min(b), a.max(b)), r)
                && road.via.is_empty()
            {
                p.push(format!(
                    "{field}.roads[{r}]: joins {:?} and {:?} like roads[{first}]; give one of them `via` points so they do not overlap",
                    road.from, road.to
                ));
            }
        }
    }
    for (i, n) in spec.nodes.iter().enumerate() {
        match (n.kind, degree[i]) {
            (_, 0) => p.push(format!(
                "{field}.nodes[{i}] ({:?}): no road reaches it",
                n.name
            )),
            (NodeKind::Junction, 1) => p.push(format!(
                "{field}.nodes[{i}] ({:?}): a junction with one road; connect another road or make it `kind: DeadEnd`",
                n.name
            )),
            (NodeKind::DeadEnd, d) if d > 1 => p.push(format!(
                "{field}.nodes[{i}] ({:?}): a dead end with {d} roads; a dead end ends exactly one road",
                n.name
            )),
            _ => {}
        }
    }
    if p.is_empty() {
        // Connectivity over nodes.
        let mut adj = vec![Vec::new(); spec.nodes.len()];
        for road in &spec.roads {
            let (a, b) = (index[road.from.as_str()], index[road.to.as_str()]);
            adj[a].push(b);
            adj[b].push(a);
        }
        let mut seen = vec![false; spec.nodes.len()];
        let mut stack = vec![0];
        seen[0] = true;
        while let Some(v) = stack.pop() {
            for &w in &adj[v] {
                if !seen[w] {
                    seen[w] = true;
                    stack.push(w);
                }
            }
        }
        let cut: Vec<&str> = spec
            .nodes
            .iter()
            .zip(&seen)
            .filter(|(_, s)| !**s)
            .map(|(n, _)| n.name.as_str())
            .collect();
        if !cut.is_empty() {
            p.push(format!(
                "{field}.roads: the network is disconnected: no road leads from {:?} to {cut:?}",
                spec.nodes[0].name
            ));
        }
    }
    p
}

/// Roads whose paved bands cross or overlap away from a shared junction.
fn crossings(roads: &[Road], field: &str) -> Vec<String> {
    let mut p = Vec::new();
    for a in 0..roads.len() {
        for b in a + 1..roads.len() {
            let (ra, rb) = (&roads[a], &roads[b]);
            let clearance = ra.half_width_m + rb.half_width_m;
            let (pa, pb) = (ra.centre.points(), rb.centre.points());
            let mut found = None;
            'outer: for i in 0..pa.len() - 1 {
                for k in 0..pb.len() - 1 {
                    if segments_intersect(pa[i], pa[i + 1], pb[k], pb[k + 1]) {
                        found = Some("cross");
                        break 'outer;
                    }
                    // Overlap: a sample closer to the other road than the two half widths.
                    if found.is_none()
                        && point_segment(pa[i], pb[k], pb[k + 1]).0 < clearance - 0.05
                    {
                        found = Some("overlap or cross");
                    }
                }
            }
            if let Some(what) = found {
                p.push(format!(
                    "{field}.roads[{a}] and {field}.roads[{b}] {what} without a junction; join them at a node or move them apart"
                ));
            }
        }
    }
    p
}

/// The convex paved surface of junction `j`: the hull of the road ends' corners and of the
/// band `swept` by cars on its turn paths, and for a dead end the turning circle (cut where
/// its road meets it).
fn outline(
    j: usize,
    junction: &Junction,
    roads: &[Road],
    reach: f64,
    swept: Vec<Vec2>,
) -> Vec<Vec2> {
    let mut corners = swept;
    let mut cut = None;
    for &r in &junction.roads {
        let road = &roads[r];
        let (s, sign) = if road.from == j {
            (0.0, 1.0)
        } else {
            (road.centre.length_m(), -1.0)
        };
        let (p, h) = road.centre.at(s);
        let normal = Vec2::from_heading(h).perp() * road.half_width_m;
        corners.push(p + normal);
        corners.push(p - normal);
        // Direction pointing from the road into the junction.
        cut = Some((p, Vec2::from_heading(h) * -sign));
    }
    if junction.kind == NodeKind::DeadEnd {
        if let Some((p, inward)) = cut {
            for k in 0..32 {
                let q = junction.position
                    + Vec2::from_heading(k as f64 / 32.0 * std::f64::consts::TAU) * reach;
                if (q - p).dot(inward) > 1e-6 {
                    corners.push(q);
                }
            }
        }
    }
    convex_hull(corners)
}

/// Convex hull, counter-clockwise (Andrew's monotone chain).
fn convex_hull(mut pts: Vec<Vec2>) -> Vec<Vec2> {
    pts.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    pts.dedup_by(|a, b| a.distance(*b) < 1e-9);
    if pts.len() < 3 {
        return pts;
    }
    let mut hull: Vec<Vec2> = Vec::new();
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &Vec2>> = if pass == 0 {
            Box::new(pts.iter())
        } else {
            Box::new(pts.iter().rev())
        };
        for &p in iter {
            while hull.len() >= start + 2
                && (hull[hull.len() - 1] - hull[hull.len() - 2]).cross(p - hull[hull.len() - 2])
                    <= 0.0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// Whether `p` lies in the convex counter-clockwise polygon `poly`.
fn in_convex(poly: &[Vec2], p: Vec2) -> bool {
    poly.len() >= 3
        && (0..poly.len()).all(|i| {
            let (a, b) = (poly[i], poly[(i + 1) % poly.len()]);
            (b - a).cross(p - a) >= -1e-9
        })
}

/// The end pose of a lane path (position, heading and curvature over its last metres).
fn end_pose(path: &Polyline) -> Pose {
    let (position, heading) = path.at(path.length_m());
    Pose {
        position,
        heading,
        curvature_per_m: path.curvature(path.length_m(), 3.0),
    }
}

fn start_pose(path: &Polyline) -> Pose {
    let (position, heading) = path.at(0.0);
    Pose {
        position,
        heading,
        curvature_per_m: path.curvature(0.0, 3.0),
    }
}

/// Road lanes, then the turn paths through every junction and dead end, linked.
fn lanes(roads: &[Road], junctions: &[Junction], lane_width_m: f64, reach: &[f64]) -> Vec<Lane> {
    let mut lanes = Vec::new();
    for (r, road) in roads.iter().enumerate() {
        for forward in [true, false] {
            let centre = if forward {
                road.centre.clone()
            } else {
                road.centre.reversed()
            };
            for index in 0..road.lanes {
                lanes.push(Lane {
                    kind: LaneKind::Road {
                        road: r,
                        forward,
                        index,
                    },
                    path: centre.offset(-(index as f64 + 0.5) * lane_width_m),
                    next: Vec::new(),
                });
            }
        }
    }
    let road_lanes = lanes.len();
    // Lanes ending / starting at each junction.
    let ends_at = |l: &Lane, j: usize| match l.kind {
        LaneKind::Road { road, forward, .. } => {
            (if forward {
                roads[road].to
            } else {
                roads[road].from
            }) == j
        }
        _ => false,
    };
    let starts_at = |l: &Lane, j: usize| match l.kind {
        LaneKind::Road { road, forward, .. } => {
            (if forward {
                roads[road].from
            } else {
                roads[road].to
            }) == j
        }
        _ => false,
    };
    for (j, junction) in junctions.iter().enumerate() {
        let incoming: Vec<usize> = (0..road_lanes).filter(|&i| ends_at(&lanes[i], j)).collect();
        let outgoing: Vec<usize> = (0..road_lanes)
            .filter(|&i| starts_at(&lanes[i], j))
            .collect();
        for &i in &incoming {
            let LaneKind::Road {
                road: ri,
                index: ki,
                ..
            } = lanes[i].kind
            else {
                continue;
            };
            // Which outgoing lanes lane `i` may turn into: left from the inner lane into the
            // inner lane, right from the outer into the outer, straight on into the same lane;
            // a lane the rules leave without a way on may take any road into its own lane.
            let rule = |o: usize, strict: bool| {
                let LaneKind::Road {
                    road: ro,
                    index: ko,
                    ..
                } = lanes[o].kind
                else {
                    return false;
                };
                if junction.kind == NodeKind::DeadEnd {
                    return ko == ki.min(roads[ro].lanes - 1);
                }
                if ri == ro {
                    return false;
                }
                let (a, b) = (end_pose(&lanes[i].path), start_pose(&lanes[o].path));
                let (ni, no) = (roads[ri].lanes, roads[ro].lanes);
                match Turn::of(wrap_angle(b.heading - a.heading)) {
                    _ if !strict => ko == ki.min(no - 1),
                    Turn::Left => ki == 0 && ko == 0,
                    Turn::Right => ki == ni - 1 && ko == no - 1,
                    Turn::Straight => ko == ki.min(no - 1) && (ki < no || ki == ni - 1),
                    Turn::UTurn => false,
                }
            };
            let strict = outgoing.iter().any(|&o| rule(o, true));
            let allowed: Vec<usize> = outgoing
                .iter()
                .copied()
                .filter(|&o| rule(o, strict))
                .collect();
            for o in allowed {
                let (a, b) = (end_pose(&lanes[i].path), start_pose(&lanes[o].path));
                let path = if junction.kind == NodeKind::DeadEnd {
                    // The loop's far side leaves room for a car body inside the circle.
                    let depth = reach[j] - 3.5 - U_TURN_RADIUS_M;
                    u_turn(
                        a,
                        b,
                        junction.position + Vec2::from_heading(a.heading) * depth,
                    )
                } else {
                    quintic(a, b, 1.0, 0.25)
                };
                let turn = if junction.kind == NodeKind::DeadEnd {
                    Turn::UTurn
                } else {
                    Turn::of(wrap_angle(b.heading - a.heading))
                };
                let id = lanes.len();
                lanes.push(Lane {
                    kind: LaneKind::Turn { junction: j, turn },
                    path,
                    next: vec![o],
                });
                lanes[i].next.push(id);
            }
        }
    }
    lanes
}

/// A U-turn round a dead end: from the lane in, onto a loop of [`U_TURN_RADIUS_M`] round
/// `centre` (turning left), round to its far side and back into the lane out.
fn u_turn(a: Pose, b: Pose, centre: Vec2) -> Polyline {
    let radius = U_TURN_RADIUS_M;
    let dir = Vec2::from_heading(a.heading);
    let right = -dir.perp();
    let on = Pose {
        position: centre + right * radius,
        heading: a.heading,
        curvature_per_m: 1.0 / radius,
    };
    let off = Pose {
        position: centre - right * radius,
        heading: a.heading + std::f64::consts::PI,
        curvature_per_m: 1.0 / radius,
    };
    let mut pts: Vec<Vec2> = quintic(a, on, 1.0, 0.25).points().to_vec();
    let steps = ((std::f64::consts::PI * radius) / 0.25).ceil() as usize;
    for k in 1..steps {
        let phi = std::f64::consts::PI * k as f64 / steps as f64;
        pts.push(centre + (right * phi.cos() + dir * phi.sin()) * radius);
    }
    pts.extend_from_slice(quintic(off, b, 1.0, 0.25).points());
    Polyline::new(pts)
}

/// A grid over the paved surfaces: road centreline segments and junction polygons by cell.
#[derive(Clone, Debug, Default)]
struct PavedIndex {
    cell_m: f64,
    cells: HashMap<(i64, i64), Vec<Paved>>,
}

#[derive(Clone, Copy, Debug)]
enum Paved {
    /// Segment `i` of road `road`'s centreline.
    Segment {
        road: usize,
        i: usize,
    },
    Junction(usize),
}

impl PavedIndex {
    fn new(roads: &[Road], junctions: &[Junction]) -> Self {
        let mut index = PavedIndex {
            cell_m: 8.0,
            cells: HashMap::new(),
        };
        for (r, road) in roads.iter().enumerate() {
            let pts = road.centre.points();
            for i in 0..pts.len().saturating_sub(1) {
                let (a, b) = (pts[i], pts[i + 1]);
                let hw = road.half_width_m;
                index.insert(
                    Vec2::new(a.x.min(b.x) - hw, a.y.min(b.y) - hw),
                    Vec2::new(a.x.max(b.x) + hw, a.y.max(b.y) + hw),
                    Paved::Segment { road: r, i },
                );
            }
        }
        for (j, junction) in junctions.iter().enumerate() {
            let (mut lo, mut hi) = (junction.position, junction.position);
            for p in &junction.outline {
                lo = Vec2::new(lo.x.min(p.x), lo.y.min(p.y));
                hi = Vec2::new(hi.x.max(p.x), hi.y.max(p.y));
            }
            index.insert(lo, hi, Paved::Junction(j));
        }
        index
    }

    fn cell(&self, p: Vec2) -> (i64, i64) {
        (
            (p.x / self.cell_m).floor() as i64,
            (p.y / self.cell_m).floor() as i64,
        )
    }

    fn insert(&mut self, lo: Vec2, hi: Vec2, item: Paved) {
        let (a, b) = (self.cell(lo), self.cell(hi));
        for x in a.0..=b.0 {
            for y in a.1..=b.1 {
                self.cells.entry((x, y)).or_default().push(item);
            }
        }
    }

    fn is_paved(&self, p: Vec2, roads: &[Road], junctions: &[Junction]) -> bool {
        let Some(items) = self.cells.get(&self.cell(p)) else {
            return false;
        };
        items.iter().any(|item| match *item {
            Paved::Segment { road, i } => {
                let pts = roads[road].centre.points();
                let (d, t) = point_segment(p, pts[i], pts[i + 1]);
                // Square ends: a point past the road's first or last sample is not on it.
                let beyond = (i == 0 && t <= 0.0) || (i + 2 == pts.len() && t >= 1.0);
                d <= roads[road].half_width_m && !beyond
            }
            Paved::Junction(j) => in_convex(&junctions[j].outline, p),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hull_is_counter_clockwise_and_contains_its_centre() {
        let h = convex_hull(vec![
            Vec2::new(0.0, 0.0),
            Vec2::new(2.0, 0.0),
            Vec2::new(1.0, 1.0),
            Vec2::new(2.0, 2.0),
            Vec2::new(0.0, 2.0),
        ]);
        assert_eq!(h.len(), 4);
        assert!(in_convex(&h, Vec2::new(1.0, 1.5)));
        assert!(!in_convex(&h, Vec2::new(3.0, 1.0)));
    }
}
