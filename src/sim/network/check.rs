//! The checks of a network's specification and of its built roads: every problem at once,
//! each naming its field.

use super::spec::{NetworkSpec, NodeKind};
use super::types::Road;
use crate::sim::math::{Vec2, point_segment, segments_intersect};
use std::collections::HashMap;

/// The widest a network may be, east–west or north–south, metres: its drivable map is a
/// grid of 0.5 m cells over its bounds.
pub const MAX_NETWORK_SPAN_M: f64 = 5_000.0;
/// The most nodes, roads and `via` points (all roads together) a network may have.
pub const MAX_NETWORK_NODES: usize = 5_000;
pub const MAX_NETWORK_ROADS: usize = 10_000;
pub const MAX_NETWORK_VIA_POINTS: usize = 50_000;
/// The most road (node to node through its `via` points, all roads together), metres.
pub const MAX_NETWORK_ROAD_M: f64 = 200_000.0;

/// Every problem of the specification itself, naming fields under `field`.
pub(super) fn spec_problems(spec: &NetworkSpec, field: &str) -> Vec<String> {
    let p = size_problems(spec, field);
    if !p.is_empty() {
        return p;
    }
    shape_problems(spec, field)
}

/// Coordinates that are not finite or lie farther apart than [`MAX_NETWORK_SPAN_M`], and
/// counts over their limits: checked before anything is built, since every later step is
/// sized by them.
fn size_problems(spec: &NetworkSpec, field: &str) -> Vec<String> {
    let mut p = Vec::new();
    for (what, n, limit) in [
        ("nodes", spec.nodes.len(), MAX_NETWORK_NODES),
        ("roads", spec.roads.len(), MAX_NETWORK_ROADS),
    ] {
        if n > limit {
            p.push(format!("{field}.{what}: {n} given; the limit is {limit}"));
        }
    }
    let via: usize = spec.roads.iter().map(|r| r.via.len()).sum();
    if via > MAX_NETWORK_VIA_POINTS {
        p.push(format!(
            "{field}.roads: {via} `via` points in all; the limit is {MAX_NETWORK_VIA_POINTS}"
        ));
    }
    if !p.is_empty() {
        return p;
    }
    let finite = |(x, y): (f64, f64)| x.is_finite() && y.is_finite();
    for (i, n) in spec.nodes.iter().enumerate() {
        if !finite(n.at) {
            p.push(format!(
                "{field}.nodes[{i}].at: every coordinate must be finite"
            ));
        }
    }
    for (r, road) in spec.roads.iter().enumerate() {
        if !road.via.iter().all(|&v| finite(v)) {
            p.push(format!(
                "{field}.roads[{r}].via: every coordinate must be finite"
            ));
        }
    }
    if !p.is_empty() {
        return p;
    }
    let points = spec
        .nodes
        .iter()
        .map(|n| n.at)
        .chain(spec.roads.iter().flat_map(|r| r.via.iter().copied()));
    let (mut lo, mut hi) = ((f64::MAX, f64::MAX), (f64::MIN, f64::MIN));
    for (x, y) in points {
        lo = (lo.0.min(x), lo.1.min(y));
        hi = (hi.0.max(x), hi.1.max(y));
    }
    let span = (hi.0 - lo.0, hi.1 - lo.1);
    if span.0 > MAX_NETWORK_SPAN_M || span.1 > MAX_NETWORK_SPAN_M {
        p.push(format!(
            "{field}: its nodes and `via` points span {} m east–west by {} m north–south (x {}..{}, y {}..{}); the limit is {MAX_NETWORK_SPAN_M} m each way",
            metres(span.0),
            metres(span.1),
            metres(lo.0),
            metres(hi.0),
            metres(lo.1),
            metres(hi.1)
        ));
        return p;
    }
    let at: HashMap<&str, (f64, f64)> =
        spec.nodes.iter().map(|n| (n.name.as_str(), n.at)).collect();
    let mut length = 0.0;
    for road in &spec.roads {
        let (Some(&a), Some(&b)) = (at.get(road.from.as_str()), at.get(road.to.as_str())) else {
            continue;
        };
        let mut prev = a;
        for &q in road.via.iter().chain([&b]) {
            length += (q.0 - prev.0).hypot(q.1 - prev.1);
            prev = q;
        }
    }
    if length > MAX_NETWORK_ROAD_M {
        p.push(format!(
            "{field}.roads: {:.0} km of road in all; the limit is {:.0} km",
            length / 1000.0,
            MAX_NETWORK_ROAD_M / 1000.0
        ));
    }
    p
}

/// A coordinate for a message: whole metres, or powers of ten when far out.
fn metres(x: f64) -> String {
    if x.abs() < 1e7 {
        format!("{x:.0}")
    } else {
        format!("{x:.1e}")
    }
}

/// The problems of names, ends, lane counts, node kinds and connectivity.
fn shape_problems(spec: &NetworkSpec, field: &str) -> Vec<String> {
    let mut p = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, n) in spec.nodes.iter().enumerate() {
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
        let seen = super::graph::reachable(&adj, 0);
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
pub(super) fn crossings(roads: &[Road], field: &str) -> Vec<String> {
    let mut p = Vec::new();
    // Each road's box grown by its half width: roads whose boxes are apart cannot touch.
    let boxes: Vec<(Vec2, Vec2)> = roads
        .iter()
        .map(|r| {
            let pts = r.centre.points();
            let grow = Vec2::new(r.half_width_m, r.half_width_m);
            let lo = pts
                .iter()
                .fold(pts[0], |m, q| Vec2::new(m.x.min(q.x), m.y.min(q.y)));
            let hi = pts
                .iter()
                .fold(pts[0], |m, q| Vec2::new(m.x.max(q.x), m.y.max(q.y)));
            (lo - grow, hi + grow)
        })
        .collect();
    for a in 0..roads.len() {
        for b in a + 1..roads.len() {
            let ((alo, ahi), (blo, bhi)) = (boxes[a], boxes[b]);
            if alo.x > bhi.x || blo.x > ahi.x || alo.y > bhi.y || blo.y > ahi.y {
                continue;
            }
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
