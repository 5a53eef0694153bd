//! The drivable area of a network as a grid seen from above, and ego-centred,
//! heading-aligned patches of it (a map input a network can take next to the camera).

use super::Network;
use super::surface::in_convex;
use crate::sim::math::{Vec2, point_segment};
use crate::sim::track::Track;

/// Paved cells of a network over its bounds.
#[derive(Clone, Debug)]
pub struct DrivableMap {
    origin: Vec2,
    cell_m: f64,
    width: usize,
    height: usize,
    /// Row-major from `origin` (south-west), 1 where paved.
    paved: Vec<u8>,
}

impl DrivableMap {
    /// Rasterises `network` with square cells `cell_m` wide (a cell is paved when its centre
    /// is).
    pub fn new(network: &Network, cell_m: f64) -> DrivableMap {
        let (lo, hi) = network.bounds();
        let mut map = DrivableMap::empty(lo, hi, cell_m);
        for road in &network.roads {
            let pts = road.centre.points();
            for i in 0..pts.len().saturating_sub(1) {
                map.stamp_segment(
                    pts[i],
                    pts[i + 1],
                    road.half_width_m,
                    i == 0,
                    i + 2 == pts.len(),
                );
            }
        }
        for j in &network.junctions {
            let lo = j
                .outline
                .iter()
                .fold(j.position, |m, p| Vec2::new(m.x.min(p.x), m.y.min(p.y)));
            let hi = j
                .outline
                .iter()
                .fold(j.position, |m, p| Vec2::new(m.x.max(p.x), m.y.max(p.y)));
            map.fill(lo, hi, |p| in_convex(&j.outline, p));
        }
        map
    }

    /// The road of a closed track `half_width_m` either side of its centreline.
    pub fn from_track(track: &Track, half_width_m: f64, cell_m: f64) -> DrivableMap {
        let pts = track.samples();
        let lo = pts
            .iter()
            .fold(pts[0], |m, p| Vec2::new(m.x.min(p.x), m.y.min(p.y)));
        let hi = pts
            .iter()
            .fold(pts[0], |m, p| Vec2::new(m.x.max(p.x), m.y.max(p.y)));
        let margin = Vec2::new(half_width_m, half_width_m);
        let mut map = DrivableMap::empty(lo - margin, hi + margin, cell_m);
        for i in 0..pts.len() {
            map.stamp_segment(pts[i], pts[(i + 1) % pts.len()], half_width_m, false, false);
        }
        map
    }

    /// An unpaved grid covering `lo`..`hi` with a cell of margin.
    fn empty(lo: Vec2, hi: Vec2, cell_m: f64) -> DrivableMap {
        let origin = lo - Vec2::new(cell_m, cell_m);
        let width = ((hi.x - origin.x) / cell_m).ceil() as usize + 2;
        let height = ((hi.y - origin.y) / cell_m).ceil() as usize + 2;
        DrivableMap {
            origin,
            cell_m,
            width,
            height,
            paved: vec![0; width * height],
        }
    }

    /// Paves the cells within `half_width_m` of segment `a`–`b`; an open end (`open_start`,
    /// `open_end`) is cut square instead of rounded.
    fn stamp_segment(&mut self, a: Vec2, b: Vec2, hw: f64, open_start: bool, open_end: bool) {
        self.fill(
            Vec2::new(a.x.min(b.x) - hw, a.y.min(b.y) - hw),
            Vec2::new(a.x.max(b.x) + hw, a.y.max(b.y) + hw),
            |p| {
                let (d, t) = point_segment(p, a, b);
                d <= hw && !(open_start && t <= 0.0) && !(open_end && t >= 1.0)
            },
        );
    }

    /// Marks the cells in the box `lo`..`hi` whose centres pass `inside`.
    fn fill(&mut self, lo: Vec2, hi: Vec2, inside: impl Fn(Vec2) -> bool) {
        let (x0, y0) = self.cell_of(lo);
        let (x1, y1) = self.cell_of(hi);
        for y in y0.max(0)..=y1.min(self.height as i64 - 1) {
            for x in x0.max(0)..=x1.min(self.width as i64 - 1) {
                let k = y as usize * self.width + x as usize;
                if self.paved[k] == 0 && inside(self.centre(x as usize, y as usize)) {
                    self.paved[k] = 1;
                }
            }
        }
    }

    fn cell_of(&self, p: Vec2) -> (i64, i64) {
        (
            ((p.x - self.origin.x) / self.cell_m).floor() as i64,
            ((p.y - self.origin.y) / self.cell_m).floor() as i64,
        )
    }

    fn centre(&self, x: usize, y: usize) -> Vec2 {
        self.origin
            + Vec2::new(
                (x as f64 + 0.5) * self.cell_m,
                (y as f64 + 0.5) * self.cell_m,
            )
    }

    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    pub fn cell_m(&self) -> f64 {
        self.cell_m
    }

    /// The world point at the centre of cell `(x, y)`.
    pub fn cell_centre(&self, x: usize, y: usize) -> Vec2 {
        self.centre(x, y)
    }

    /// Whether the cell holding `p` is paved (outside the map: no).
    pub fn is_paved(&self, p: Vec2) -> bool {
        let (x, y) = self.cell_of(p);
        x >= 0
            && y >= 0
            && (x as usize) < self.width
            && (y as usize) < self.height
            && self.paved[y as usize * self.width + x as usize] == 1
    }

    /// Writes into `out` (`size × size`, row-major) the drivable area around `position`
    /// turned so that `heading` points up: row 0 is `half_extent_m` ahead, the middle row
    /// the car, column 0 `half_extent_m` to its left. 1.0 where paved, 0.0 elsewhere.
    pub fn patch(
        &self,
        position: Vec2,
        heading: f64,
        half_extent_m: f64,
        size: usize,
        out: &mut [f32],
    ) {
        assert_eq!(out.len(), size * size, "patch buffer of the wrong size");
        let ahead = Vec2::from_heading(heading);
        let left = ahead.perp();
        let step = 2.0 * half_extent_m / size as f64;
        let inv = 1.0 / self.cell_m;
        for row in 0..size {
            let forward = half_extent_m - (row as f64 + 0.5) * step;
            let base = position + ahead * forward;
            for col in 0..size {
                let lateral = half_extent_m - (col as f64 + 0.5) * step;
                let p = base + left * lateral;
                let x = ((p.x - self.origin.x) * inv).floor();
                let y = ((p.y - self.origin.y) * inv).floor();
                let paved = x >= 0.0
                    && y >= 0.0
                    && (x as usize) < self.width
                    && (y as usize) < self.height
                    && self.paved[y as usize * self.width + x as usize] == 1;
                out[row * size + col] = if paved { 1.0 } else { 0.0 };
            }
        }
    }
}
