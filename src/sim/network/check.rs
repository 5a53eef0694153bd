//! The checks of a network's specification and of its built roads: every problem at once,
//! each naming its field.

use super::spec::{NetworkSpec, NodeKind};
use super::types::Road;
use crate::sim::math::{Vec2, point_segment, segments_intersect};
use std::collections::HashMap;

/// Every problem of the specification itself, naming fields under `field`.
pub(super) fn spec_problems(spec: &NetworkSpec, field: &str) -> Vec<String> {
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
