//! Meshes of the driving world: the road ribbon, its paint, the ground, props and cars (a
//! town's roads, junctions and paint in [`crate::world::network_meshes`]).
//! Low-poly on purpose: on a CPU renderer every triangle costs frame rate.

use crate::sim::Vec2;
use crate::sim::network::Polyline;
use crate::sim::scenario::{CentreLine, PropKind, Road};
use crate::sim::track::Track;
use bevy::asset::RenderAssetUsages;
use bevy::math::primitives::{Cuboid, Sphere};
use bevy::mesh::{
    Capsule3dMeshBuilder, ConeMeshBuilder, CylinderMeshBuilder, Indices, Mesh, MeshBuilder,
    Meshable, PrimitiveTopology,
};
use bevy::prelude::{Transform, Vec3};

/// Height of paint above the asphalt, metres: enough to win the depth test at a distance.
pub(crate) const PAINT_HEIGHT_M: f64 = 0.02;

/// Accumulates flat, upward-facing quads into one mesh.
#[derive(Default)]
pub(crate) struct FlatMesh {
    positions: Vec<[f32; 3]>,
    indices: Vec<u32>,
}

impl FlatMesh {
    /// A strip between a left and a right polyline of equal length (open strip).
    pub(crate) fn strip(&mut self, left: &[[f32; 3]], right: &[[f32; 3]]) {
        let base = self.positions.len() as u32;
        for (l, r) in left.iter().zip(right) {
            self.positions.push(*l);
            self.positions.push(*r);
        }
        for k in 0..left.len().saturating_sub(1) as u32 {
            let (l0, r0, l1, r1) = (
                base + 2 * k,
                base + 2 * k + 1,
                base + 2 * k + 2,
                base + 2 * k + 3,
            );
            // Counter-clockwise seen from above (+Y) so the faces point up.
            self.indices.extend_from_slice(&[l0, r0, r1, l0, r1, l1]);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// A convex polygon, counter-clockwise seen from above, as a triangle fan.
    pub(crate) fn fan(&mut self, polygon: &[[f32; 3]]) {
        let base = self.positions.len() as u32;
        self.positions.extend_from_slice(polygon);
        for k in 1..polygon.len().saturating_sub(1) as u32 {
            self.indices
                .extend_from_slice(&[base, base + k, base + k + 1]);
        }
    }

    pub(crate) fn build(self) -> Mesh {
        let normals = vec![[0.0f32, 1.0, 0.0]; self.positions.len()];
        Mesh::new(
            PrimitiveTopology::TriangleList,
            RenderAssetUsages::default(),
        )
        .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, self.positions)
        .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, normals)
        .with_inserted_indices(Indices::U32(self.indices))
    }
}

/// A centreline parameterised by arc length: a track loop or a network road.
pub(crate) trait Line {
    fn sample_s(&self) -> &[f64];
    fn offset_point(&self, s: f64, offset_m: f64) -> Vec2;
}

impl Line for Track {
    fn sample_s(&self) -> &[f64] {
        Track::sample_s(self)
    }
    fn offset_point(&self, s: f64, offset_m: f64) -> Vec2 {
        Track::offset_point(self, s, offset_m)
    }
}

impl Line for Polyline {
    fn sample_s(&self) -> &[f64] {
        Polyline::sample_s(self)
    }
    fn offset_point(&self, s: f64, offset_m: f64) -> Vec2 {
        Polyline::offset_point(self, s, offset_m)
    }
}

/// Closed band between lateral offsets `from_m` and `to_m` (left positive) at `height_m`,
/// over the arc-length interval `[s0, s1]`, sampled at the line's own samples.
pub(crate) fn band(
    track: &impl Line,
    s0: f64,
    s1: f64,
    from_m: f64,
    to_m: f64,
    height_m: f64,
) -> (Vec<[f32; 3]>, Vec<[f32; 3]>) {
    let mut ss = vec![s0];
    ss.extend(
        track
            .sample_s()
            .iter()
            .copied()
            .filter(|&s| s > s0 && s < s1),
    );
    ss.push(s1);
    let left: Vec<[f32; 3]> = ss
        .iter()
        .map(|&s| track.offset_point(s, to_m.max(from_m)).to_world(height_m))
        .collect();
    let right: Vec<[f32; 3]> = ss
        .iter()
        .map(|&s| track.offset_point(s, to_m.min(from_m)).to_world(height_m))
        .collect();
    let keep = simplified(&left, &right);
    (
        keep.iter().map(|&i| left[i]).collect(),
        keep.iter().map(|&i| right[i]).collect(),
    )
}

/// How far a simplified band edge may stray from the track's samples, metres: a third of a
/// pixel two metres ahead of the camera.
const BAND_TOLERANCE_M: f32 = 0.005;
/// The most samples one simplified segment spans (bounds the work on long straights).
const MAX_SPAN: usize = 64;

/// The samples to keep of a band between polylines `left` and `right` (same length): the first
/// and last, and as few between as keep every dropped sample of either edge within
/// [`BAND_TOLERANCE_M`] of the simplified edge. The track's samples are 0.5 m apart, which
/// curves need and straights do not; every vertex costs a CPU renderer time in every camera.
fn simplified(left: &[[f32; 3]], right: &[[f32; 3]]) -> Vec<usize> {
    let n = left.len();
    if n <= 2 {
        return (0..n).collect();
    }
    let near = |p: &[[f32; 3]], i: usize, j: usize| {
        let (a, b) = (Vec3::from(p[i]), Vec3::from(p[j]));
        let ab = b - a;
        let len2 = ab.length_squared().max(f32::MIN_POSITIVE);
        (i + 1..j).all(|k| {
            let q = Vec3::from(p[k]);
            let t = ((q - a).dot(ab) / len2).clamp(0.0, 1.0);
            (a + ab * t).distance(q) <= BAND_TOLERANCE_M
        })
    };
    let mut keep = vec![0];
    let mut i = 0;
    while i + 1 < n {
        let mut j = i + 1;
        while j + 1 < n && j + 1 - i <= MAX_SPAN && near(left, i, j + 1) && near(right, i, j + 1) {
            j += 1;
        }
        keep.push(j);
        i = j;
    }
    keep
}

/// Arc length of one piece of road or paint: pieces out of a camera's view are not drawn.
pub const PIECE_M: f64 = 32.0;

/// The arc-length intervals of the pieces of a track of length `len`.
pub fn pieces(len: f64) -> Vec<(f64, f64)> {
    let n = (len / PIECE_M).ceil().max(1.0) as usize;
    (0..n)
        .map(|i| (i as f64 * len / n as f64, (i + 1) as f64 * len / n as f64))
        .collect()
}

/// The asphalt ribbon over arc lengths `[s0, s1]`.
pub fn road_mesh(track: &Track, road: &Road, (s0, s1): (f64, f64)) -> Mesh {
    let mut m = FlatMesh::default();
    let half = road.width_m / 2.0;
    let (l, r) = band(track, s0, s1, half, -half, 0.0);
    m.strip(&l, &r);
    m.build()
}

/// Lane paint over arc lengths `[s0, s1]`: edge lines and the centre line (solid, or the
/// dashes that start there).
pub fn marking_mesh(track: &Track, road: &Road, (s0, s1): (f64, f64)) -> Option<Mesh> {
    let lm = &road.lane_markings;
    let half = road.width_m / 2.0;
    let w = lm.line_width_m;
    let len = track.length_m();
    let mut m = FlatMesh::default();
    if lm.edges {
        for (a, b) in [(half - 2.0 * w, half - w), (-half + w, -half + 2.0 * w)] {
            let (l, r) = band(track, s0, s1, a, b, PAINT_HEIGHT_M);
            m.strip(&l, &r);
        }
    }
    match lm.centre {
        CentreLine::None => {}
        CentreLine::Solid => {
            let (l, r) = band(track, s0, s1, -w / 2.0, w / 2.0, PAINT_HEIGHT_M);
            m.strip(&l, &r);
        }
        CentreLine::Dashed => {
            // Dash k starts at k·period and belongs to the piece its start lies in.
            let period = lm.dash_m + lm.gap_m;
            let first = |s: f64| (s / period).ceil() as u64;
            for k in first(s0)..first(s1) {
                let s = k as f64 * period;
                if s >= len {
                    break;
                }
                let end = (s + lm.dash_m).min(len);
                let (l, r) = band(track, s, end, -w / 2.0, w / 2.0, PAINT_HEIGHT_M);
                m.strip(&l, &r);
            }
        }
    }
    (!m.indices.is_empty()).then(|| m.build())
}

/// A square of ground around the track with `margin_m` to spare, slightly below the road.
pub fn ground_mesh(track: &Track, margin_m: f64) -> Mesh {
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for p in track.samples() {
        lo = [lo[0].min(p.x), lo[1].min(p.y)];
        hi = [hi[0].max(p.x), hi[1].max(p.y)];
    }
    let y = -0.03;
    let corner = |x: f64, z: f64| [x as f32, y, -z as f32];
    let (x0, x1, y0, y1) = (
        lo[0] - margin_m,
        hi[0] + margin_m,
        lo[1] - margin_m,
        hi[1] + margin_m,
    );
    let mut m = FlatMesh::default();
    m.strip(
        &[corner(x0, y1), corner(x1, y1)],
        &[corner(x0, y0), corner(x1, y0)],
    );
    m.build()
}

/// One coloured part of a prop: its mesh, sRGB colour and local transform.
pub struct PropPart {
    pub mesh: Mesh,
    pub colour: [f32; 3],
    pub transform: Transform,
}

/// The parts of a prop class, standing on the ground at the origin and facing +X (the
/// direction of travel when placed along the track).
pub fn prop_parts(kind: PropKind) -> Vec<PropPart> {
    let at = |x: f32, y: f32, z: f32| Transform::from_xyz(x, y, z);
    // Ground footprints are the crash check's (`PropKind::footprint_m`).
    let (length, width) = kind.footprint_m();
    let (length, width) = (length as f32, width as f32);
    match kind {
        PropKind::Cone => vec![PropPart {
            mesh: ConeMeshBuilder::new(length / 2.0, 0.7, 10).build(),
            colour: [1.0, 0.42, 0.0],
            transform: at(0.0, 0.35, 0.0),
        }],
        PropKind::Barrier => vec![PropPart {
            mesh: Cuboid::new(length, 0.9, width).mesh().build(),
            colour: [0.85, 0.08, 0.08],
            transform: at(0.0, 0.45, 0.0),
        }],
        PropKind::ParkedCar => vec![
            PropPart {
                mesh: Cuboid::new(length, 0.8, width).mesh().build(),
                colour: [0.12, 0.25, 0.75],
                transform: at(0.0, 0.6, 0.0),
            },
            PropPart {
                mesh: Cuboid::new(2.2, 0.6, 1.6).mesh().build(),
                colour: [0.10, 0.20, 0.60],
                transform: at(-0.3, 1.3, 0.0),
            },
        ],
        PropKind::Tree => vec![
            PropPart {
                mesh: CylinderMeshBuilder::new(length / 2.0, 2.0, 6).build(),
                colour: [0.40, 0.26, 0.13],
                transform: at(0.0, 1.0, 0.0),
            },
            PropPart {
                mesh: Sphere::new(1.5).mesh().uv(8, 6),
                colour: [0.08, 0.38, 0.10],
                transform: at(0.0, 3.0, 0.0),
            },
        ],
        PropKind::Sign => vec![
            PropPart {
                mesh: CylinderMeshBuilder::new(length / 2.0, 2.2, 6).build(),
                colour: [0.55, 0.55, 0.55],
                transform: at(0.0, 1.1, 0.0),
            },
            PropPart {
                mesh: Cuboid::new(0.08, 0.8, 0.8).mesh().build(),
                colour: [0.95, 0.82, 0.05],
                transform: at(0.0, 2.2, 0.0),
            },
        ],
        PropKind::Pedestrian => vec![PropPart {
            mesh: Capsule3dMeshBuilder::new(length / 2.0, 1.2, 8, 4).build(),
            colour: [0.78, 0.18, 0.68],
            transform: at(0.0, 0.85, 0.0),
        }],
    }
}

/// The driven car: a body and a cabin, length along +X.
pub fn car_parts(length_m: f64, width_m: f64) -> Vec<PropPart> {
    let (l, w) = (length_m as f32, width_m as f32);
    vec![
        PropPart {
            mesh: Cuboid::new(l, 0.7, w).mesh().build(),
            colour: [0.92, 0.92, 0.92],
            transform: Transform::from_translation(Vec3::new(0.0, 0.55, 0.0)),
        },
        PropPart {
            mesh: Cuboid::new(l * 0.5, 0.55, w * 0.9).mesh().build(),
            colour: [0.2, 0.2, 0.25],
            transform: Transform::from_translation(Vec3::new(-0.1 * l, 1.15, 0.0)),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::builtin;

    fn distance_to_polyline(p: Vec3, line: &[[f32; 3]]) -> f32 {
        line.windows(2)
            .map(|w| {
                let (a, b) = (Vec3::from(w[0]), Vec3::from(w[1]));
                let t = ((p - a).dot(b - a) / (b - a).length_squared()).clamp(0.0, 1.0);
                (a + (b - a) * t).distance(p)
            })
            .fold(f32::INFINITY, f32::min)
    }

    /// Simplified road edges stay within the tolerance of every track sample's edge point,
    /// and a straight needs far fewer vertices than its samples.
    #[test]
    fn simplified_bands_follow_the_track() {
        for scenario in builtin().unwrap() {
            let track = Track::from_spec(&scenario.track, scenario.road.width_m).unwrap();
            let half = scenario.road.width_m / 2.0;
            let (l, r) = band(&track, 0.0, track.length_m(), half, -half, 0.0);
            let samples = track.sample_s().len();
            assert!(
                l.len() < samples,
                "{}: {} of {samples}",
                scenario.name,
                l.len()
            );
            for &s in track.sample_s() {
                for (edge, offset) in [(&l, half), (&r, -half)] {
                    let p = Vec3::from(track.offset_point(s, offset).to_world(0.0));
                    let d = distance_to_polyline(p, edge);
                    assert!(
                        d <= BAND_TOLERANCE_M * 1.01,
                        "{}: {d} m off at s={s}",
                        scenario.name
                    );
                }
            }
        }
        let straight: Vec<[f32; 3]> = (0..200).map(|i| [i as f32 * 0.5, 0.0, 0.0]).collect();
        let right: Vec<[f32; 3]> = straight.iter().map(|p| [p[0], 0.0, 3.0]).collect();
        assert_eq!(simplified(&straight, &right), [0, 64, 128, 192, 199]);
    }

    /// Cut into pieces, the paint has every dash exactly once.
    #[test]
    fn pieces_hold_every_dash_once() {
        let scenario = builtin().unwrap().remove(0);
        let track = Track::from_spec(&scenario.track, scenario.road.width_m).unwrap();
        let road = &scenario.road;
        let quads = |m: &Mesh| m.indices().unwrap().len() / 6;
        let whole = quads(&marking_mesh(&track, road, (0.0, track.length_m())).unwrap());
        let parts = pieces(track.length_m());
        assert!(parts.len() > 1);
        let pieces: usize = parts
            .iter()
            .filter_map(|&p| marking_mesh(&track, road, p))
            .map(|m| quads(&m))
            .sum();
        // Edge lines may gain a quad at each cut; dashes neither vanish nor double.
        assert!(
            pieces >= whole && pieces <= whole + 2 * parts.len(),
            "{pieces} vs {whole}"
        );
    }
}
