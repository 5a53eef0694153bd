//! Meshes of the driving world: the road ribbon, its paint, the ground, props and cars.
//! Low-poly on purpose: on a CPU renderer every triangle costs frame rate.

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
const PAINT_HEIGHT_M: f64 = 0.02;

/// Accumulates flat, upward-facing quads into one mesh.
#[derive(Default)]
struct FlatMesh {
    positions: Vec<[f32; 3]>,
    indices: Vec<u32>,
}

impl FlatMesh {
    /// A strip between a left and a right polyline of equal length (open strip).
    fn strip(&mut self, left: &[[f32; 3]], right: &[[f32; 3]]) {
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

    fn build(self) -> Mesh {
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

/// Closed band between lateral offsets `from_m` and `to_m` (left positive) at `height_m`,
/// over the arc-length interval `[s0, s1]`, sampled at the track's own samples.
fn band(
    track: &Track,
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
    let left = ss
        .iter()
        .map(|&s| track.offset_point(s, to_m.max(from_m)).to_world(height_m))
        .collect();
    let right = ss
        .iter()
        .map(|&s| track.offset_point(s, to_m.min(from_m)).to_world(height_m))
        .collect();
    (left, right)
}

/// The asphalt ribbon.
pub fn road_mesh(track: &Track, road: &Road) -> Mesh {
    let mut m = FlatMesh::default();
    let half = road.width_m / 2.0;
    let (l, r) = band(track, 0.0, track.length_m(), half, -half, 0.0);
    m.strip(&l, &r);
    m.build()
}

/// Lane paint: edge lines and the centre line (solid or dashed).
pub fn marking_mesh(track: &Track, road: &Road) -> Option<Mesh> {
    let lm = &road.lane_markings;
    let half = road.width_m / 2.0;
    let w = lm.line_width_m;
    let len = track.length_m();
    let mut m = FlatMesh::default();
    if lm.edges {
        for (a, b) in [(half - 2.0 * w, half - w), (-half + w, -half + 2.0 * w)] {
            let (l, r) = band(track, 0.0, len, a, b, PAINT_HEIGHT_M);
            m.strip(&l, &r);
        }
    }
    match lm.centre {
        CentreLine::None => {}
        CentreLine::Solid => {
            let (l, r) = band(track, 0.0, len, -w / 2.0, w / 2.0, PAINT_HEIGHT_M);
            m.strip(&l, &r);
        }
        CentreLine::Dashed => {
            let period = lm.dash_m + lm.gap_m;
            let mut s = 0.0;
            while s < len {
                let end = (s + lm.dash_m).min(len);
                let (l, r) = band(track, s, end, -w / 2.0, w / 2.0, PAINT_HEIGHT_M);
                m.strip(&l, &r);
                s += period;
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
