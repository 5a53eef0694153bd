//! Meshes of a town's road network: road ribbons, junction surfaces and their paint.

use crate::sim::Vec2;
use crate::sim::network::buildings::{Building, FACADES};
use crate::sim::network::{Network, NodeKind};
use crate::sim::scenario::{CentreLine, LaneMarkings};
use crate::world::meshes::{FlatMesh, PAINT_HEIGHT_M, band, pieces};
use bevy::asset::RenderAssetUsages;
use bevy::mesh::{Indices, Mesh, PrimitiveTopology};

/// The asphalt of a road network: each road in pieces, then every junction surface. Roads
/// end exactly on an edge of their junction's surface, so nothing overlaps and nothing is
/// left open.
pub fn network_road_meshes(network: &Network) -> Vec<Mesh> {
    let mut meshes = Vec::new();
    for road in &network.roads {
        let hw = road.half_width_m;
        for (s0, s1) in pieces(road.centre.length_m()) {
            let mut m = FlatMesh::default();
            let (l, r) = band(&road.centre, s0, s1, hw, -hw, 0.0);
            m.strip(&l, &r);
            meshes.push(m.build());
        }
    }
    for junction in &network.junctions {
        let mut m = FlatMesh::default();
        let polygon: Vec<[f32; 3]> = junction.outline.iter().map(|p| p.to_world(0.0)).collect();
        m.fan(&polygon);
        if !m.is_empty() {
            meshes.push(m.build());
        }
    }
    meshes
}

/// The paint of a road network: the centre line between the two directions (as the
/// scenario's markings say), dashed lines between lanes of one direction, edge lines (round
/// every junction's corners too), and a stop line across the lanes into every junction.
pub fn network_marking_meshes(network: &Network, lm: &LaneMarkings) -> Vec<Mesh> {
    let w = lm.line_width_m;
    let lw = network.lane_width_m;
    let mut meshes = Vec::new();
    for road in &network.roads {
        let line = &road.centre;
        let len = line.length_m();
        let hw = road.half_width_m;
        let mut m = FlatMesh::default();
        let mut solid = |m: &mut FlatMesh, s0: f64, s1: f64, at: f64, width: f64| {
            let (l, r) = band(
                line,
                s0,
                s1,
                at - width / 2.0,
                at + width / 2.0,
                PAINT_HEIGHT_M,
            );
            m.strip(&l, &r);
        };
        let dashed = |m: &mut FlatMesh,
                      solid: &mut dyn FnMut(&mut FlatMesh, f64, f64, f64, f64),
                      at: f64| {
            let period = lm.dash_m + lm.gap_m;
            let mut s = lm.gap_m / 2.0;
            while s + 0.5 < len {
                solid(m, s, (s + lm.dash_m).min(len), at, w);
                s += period;
            }
        };
        match lm.centre {
            CentreLine::None => {}
            CentreLine::Solid => solid(&mut m, 0.0, len, 0.0, w),
            CentreLine::Dashed => dashed(&mut m, &mut solid, 0.0),
        }
        for k in 1..road.lanes {
            for side in [-1.0, 1.0] {
                dashed(&mut m, &mut solid, side * k as f64 * lw);
            }
        }
        if lm.edges {
            solid(&mut m, 0.0, len, hw - 1.5 * w, w);
            solid(&mut m, 0.0, len, -hw + 1.5 * w, w);
        }
        // Stop lines: across the right half at the far end, the left half at the near end.
        let stop_w = 0.4;
        if network.junctions[road.to].kind == NodeKind::Junction && len > 2.0 {
            solid(
                &mut m,
                len - 0.6 - stop_w,
                len - 0.6,
                -hw / 2.0,
                hw - 2.0 * w,
            );
        }
        if network.junctions[road.from].kind == NodeKind::Junction && len > 2.0 {
            solid(&mut m, 0.6, 0.6 + stop_w, hw / 2.0, hw - 2.0 * w);
        }
        if !m.is_empty() {
            meshes.push(m.build());
        }
    }
    if lm.edges {
        for j in 0..network.junctions.len() {
            let mut m = FlatMesh::default();
            for corner in junction_corners(network, j, 1.5 * w) {
                let (l, r): (Vec<_>, Vec<_>) = corner
                    .windows(2)
                    .flat_map(|p| {
                        let left = (p[1] - p[0]).normalized().perp() * (w / 2.0);
                        [(p[0], left), (p[1], left)]
                    })
                    .map(|(p, left)| {
                        (
                            (p + left).to_world(PAINT_HEIGHT_M),
                            (p - left).to_world(PAINT_HEIGHT_M),
                        )
                    })
                    .unzip();
                m.strip(&l, &r);
            }
            if !m.is_empty() {
                meshes.push(m.build());
            }
        }
    }
    meshes
}

/// Points along the edge lines round the corners of junction `j` (`inset_m` inside the
/// paved edge, as along its roads): from the edge line of each road to that of the next
/// counter-clockwise, curving as a kerb does (a quadratic Bézier through the point where the
/// two edge lines meet when extended into the junction), straight where they do not meet
/// ahead of both ends (roads in line, or a corner wider than a half turn).
fn junction_corners(network: &Network, j: usize, inset_m: f64) -> Vec<Vec<Vec2>> {
    let junction = &network.junctions[j];
    if junction.kind != NodeKind::Junction || junction.roads.len() < 2 {
        return Vec::new();
    }
    // Each road's end: its left and right edge points seen looking out of the junction, and
    // the direction out.
    let mut arms: Vec<(f64, Vec2, Vec2, Vec2)> = junction
        .roads
        .iter()
        .map(|&r| {
            let road = &network.roads[r];
            let (s, sign) = if road.from == j {
                (0.0, 1.0)
            } else {
                (road.centre.length_m(), -1.0)
            };
            let (p, h) = road.centre.at(s);
            let out = Vec2::from_heading(h) * sign;
            let side = out.perp() * (road.half_width_m - inset_m);
            let angle = (p - junction.position).heading();
            (angle, p + side, p - side, out)
        })
        .collect();
    arms.sort_by(|a, b| a.0.total_cmp(&b.0));
    let reach = arms
        .iter()
        .map(|a| a.1.distance(junction.position))
        .fold(0.0, f64::max);
    (0..arms.len())
        .map(|k| {
            let (_, from, _, a) = arms[k];
            let (_, _, to, b) = arms[(k + 1) % arms.len()];
            // from − t·a = to − u·b
            let q = from - to;
            let det = a.cross(b);
            let meet = (det.abs() > 0.05)
                .then(|| (q.cross(b) / det, q.cross(a) / det))
                .filter(|&(t, u)| t > 0.0 && u > 0.0 && t.max(u) < 2.0 * reach)
                .map(|(t, _)| from - a * t);
            const STEPS: usize = 12;
            (0..=STEPS)
                .map(|i| {
                    let t = i as f64 / STEPS as f64;
                    match meet {
                        Some(c) => {
                            from * ((1.0 - t) * (1.0 - t))
                                + c * (2.0 * t * (1.0 - t))
                                + to * (t * t)
                        }
                        None => from + (to - from) * t,
                    }
                })
                .collect()
        })
        .collect()
}

/// A town's buildings as one mesh per facade colour (walls and a flat roof each, with their
/// own normals so that the sun shades the sides apart): `(index into FACADES, mesh)`.
pub fn building_meshes(buildings: &[Building]) -> Vec<(usize, Mesh)> {
    let mut by_facade: Vec<(Vec<[f32; 3]>, Vec<[f32; 3]>, Vec<u32>)> =
        vec![Default::default(); FACADES.len()];
    for b in buildings {
        let (positions, normals, indices) = &mut by_facade[b.facade.min(FACADES.len() - 1)];
        let corners = b.corners();
        let (lo, hi) = (0.0, b.height_m);
        let mut quad = |q: [[f32; 3]; 4], normal: [f32; 3]| {
            let base = positions.len() as u32;
            positions.extend_from_slice(&q);
            normals.extend_from_slice(&[normal; 4]);
            indices.extend_from_slice(&[base, base + 1, base + 2, base, base + 2, base + 3]);
        };
        // Walls: corners run counter-clockwise seen from above, so each wall faces out.
        for k in 0..4 {
            let (a, c) = (corners[k], corners[(k + 1) % 4]);
            let out = (c - a).normalized();
            let normal = Vec2::new(out.y, -out.x).to_world(0.0);
            quad(
                [
                    a.to_world(lo),
                    c.to_world(lo),
                    c.to_world(hi),
                    a.to_world(hi),
                ],
                normal,
            );
        }
        let roof = corners.map(|p| p.to_world(hi));
        quad(roof, [0.0, 1.0, 0.0]);
    }
    by_facade
        .into_iter()
        .enumerate()
        .filter(|(_, (_, _, indices))| !indices.is_empty())
        .map(|(facade, (positions, normals, indices))| {
            let mesh = Mesh::new(
                PrimitiveTopology::TriangleList,
                RenderAssetUsages::default(),
            )
            .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, positions)
            .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, normals)
            .with_inserted_indices(Indices::U32(indices));
            (facade, mesh)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Round every corner of a town's junctions the edge line lies on the paved surface and
    /// runs from the edge line of one road to that of the next; where it curves, it leaves
    /// and joins them along their own direction, as a kerb does.
    #[test]
    fn junction_corners_join_the_edge_lines_on_the_pavement() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/town_small.ron");
        let scenario = crate::sim::Scenario::load(&path).unwrap();
        let (network, _) = scenario.build_network().unwrap().unwrap();
        let inset = 1.5 * scenario.road.lane_markings.line_width_m;
        let mut curved = 0;
        for (j, junction) in network.junctions.iter().enumerate() {
            // The heading of the road whose edge line ends at `end`.
            let edge_heading = |end: Vec2| {
                junction.roads.iter().find_map(|&r| {
                    let line = &network.roads[r].centre;
                    let hw = network.roads[r].half_width_m - inset;
                    [0.0, line.length_m()].into_iter().find_map(|s| {
                        [1.0, -1.0]
                            .iter()
                            .any(|side| line.offset_point(s, side * hw).distance(end) < 1e-6)
                            .then(|| line.at(s).1)
                    })
                })
            };
            let corners = junction_corners(&network, j, inset);
            if junction.kind == NodeKind::Junction {
                assert_eq!(corners.len(), junction.roads.len(), "{}", junction.name);
            }
            for corner in &corners {
                for &p in corner {
                    assert!(
                        network.is_paved(p),
                        "{}: {p:?} off the pavement",
                        junction.name
                    );
                }
                let n = corner.len();
                let (a, b) = (corner[0], corner[n - 1]);
                let (ha, hb) = (edge_heading(a), edge_heading(b));
                assert!(
                    ha.is_some() && hb.is_some(),
                    "{}: an end off every edge line",
                    junction.name
                );
                if corner[n / 2].distance((a + b) * 0.5) > 0.5 {
                    curved += 1;
                    for (segment, heading) in [(corner[1] - a, ha), (b - corner[n - 2], hb)] {
                        let along = Vec2::from_heading(heading.unwrap());
                        let sin = segment.normalized().cross(along).abs();
                        assert!(
                            sin < 0.1,
                            "{}: a corner meets its road at {sin}",
                            junction.name
                        );
                    }
                }
            }
        }
        assert!(curved >= 4, "{curved} curved corners");
    }
}
