//! Paved surfaces: the convex outline of each junction, and a grid that tells whether a
//! ground point is on a road or a junction.

use super::spec::NodeKind;
use super::types::{Junction, Road};
use crate::sim::math::{Vec2, point_segment};
use std::collections::HashMap;

/// The convex paved surface of junction `j`: the hull of the road ends' corners and of the
/// band `swept` by cars on its turn paths, and for a dead end the turning circle (cut where
/// its road meets it).
pub(super) fn outline(
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
pub(super) fn convex_hull(mut pts: Vec<Vec2>) -> Vec<Vec2> {
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
pub(super) fn in_convex(poly: &[Vec2], p: Vec2) -> bool {
    poly.len() >= 3
        && (0..poly.len()).all(|i| {
            let (a, b) = (poly[i], poly[(i + 1) % poly.len()]);
            (b - a).cross(p - a) >= -1e-9
        })
}

/// A grid over the paved surfaces: road centreline segments and junction polygons by cell.
#[derive(Clone, Debug, Default)]
pub(super) struct PavedIndex {
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
    pub(super) fn new(roads: &[Road], junctions: &[Junction]) -> Self {
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

    pub(super) fn is_paved(&self, p: Vec2, roads: &[Road], junctions: &[Junction]) -> bool {
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
