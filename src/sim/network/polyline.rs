//! Open polylines parameterised by arc length: road centrelines, lanes and the turn paths
//! that join lanes through junctions.

use crate::sim::math::{Vec2, point_segment, wrap_angle};

/// An open polyline with the arc length at each point.
#[derive(Clone, Debug, PartialEq)]
pub struct Polyline {
    points: Vec<Vec2>,
    s: Vec<f64>,
}

impl Polyline {
    /// The polyline through `points`, dropping points that repeat their predecessor.
    pub fn new(raw: impl IntoIterator<Item = Vec2>) -> Polyline {
        let mut points: Vec<Vec2> = Vec::new();
        for p in raw {
            if points.last().is_none_or(|q| q.distance(p) > 1e-9) {
                points.push(p);
            }
        }
        let mut s = Vec::with_capacity(points.len());
        let mut acc = 0.0;
        for (i, p) in points.iter().enumerate() {
            if i > 0 {
                acc += points[i - 1].distance(*p);
            }
            s.push(acc);
        }
        Polyline { points, s }
    }

    pub fn points(&self) -> &[Vec2] {
        &self.points
    }

    /// Arc length at each point.
    pub fn sample_s(&self) -> &[f64] {
        &self.s
    }

    pub fn length_m(&self) -> f64 {
        self.s.last().copied().unwrap_or(0.0)
    }

    pub fn start(&self) -> Vec2 {
        self.points[0]
    }

    pub fn end(&self) -> Vec2 {
        self.points[self.points.len() - 1]
    }

    /// Segment index and fraction at arc length `s` (clamped to the ends).
    fn segment_at(&self, s: f64) -> (usize, f64) {
        let n = self.points.len();
        if n < 2 {
            return (0, 0.0);
        }
        let s = s.clamp(0.0, self.length_m());
        let i = match self.s.binary_search_by(|v| v.total_cmp(&s)) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
        .min(n - 2);
        let seg = self.s[i + 1] - self.s[i];
        (
            i,
            if seg > 0.0 {
                (s - self.s[i]) / seg
            } else {
                0.0
            },
        )
    }

    /// Position and heading at arc length `s` (clamped to the ends).
    pub fn at(&self, s: f64) -> (Vec2, f64) {
        if self.points.len() < 2 {
            return (self.points[0], 0.0);
        }
        let (i, t) = self.segment_at(s);
        let (a, b) = (self.points[i], self.points[i + 1]);
        (a.lerp(b, t), (b - a).heading())
    }

    /// Heading at the start and at the end.
    pub fn start_heading(&self) -> f64 {
        self.at(0.0).1
    }

    pub fn end_heading(&self) -> f64 {
        self.at(self.length_m()).1
    }

    /// The point `offset_m` to the left of arc length `s`.
    pub fn offset_point(&self, s: f64, offset_m: f64) -> Vec2 {
        let (p, h) = self.at(s);
        p + Vec2::from_heading(h).perp() * offset_m
    }

    /// The polyline `offset_m` to the left, point by point (normals averaged at the joints).
    pub fn offset(&self, offset_m: f64) -> Polyline {
        let n = self.points.len();
        Polyline::new((0..n).map(|i| {
            let a = self.points[i.saturating_sub(1)];
            let b = self.points[(i + 1).min(n - 1)];
            let dir = (b - a).normalized();
            self.points[i] + dir.perp() * offset_m
        }))
    }

    /// The same points in the opposite direction.
    pub fn reversed(&self) -> Polyline {
        Polyline::new(self.points.iter().rev().copied())
    }

    /// The part between arc lengths `s0` and `s1`. Samples closer than 5 cm to either end are
    /// left out: a sliver of a segment would give the end a direction of its own.
    pub fn slice(&self, s0: f64, s1: f64) -> Polyline {
        let mut pts = vec![self.at(s0).0];
        pts.extend(
            self.points
                .iter()
                .zip(&self.s)
                .filter(|(_, s)| **s > s0 + 0.05 && **s < s1 - 0.05)
                .map(|(p, _)| *p),
        );
        pts.push(self.at(s1).0);
        Polyline::new(pts)
    }

    /// Distance from `p` to the polyline, and the arc length of the closest point.
    pub fn distance(&self, p: Vec2) -> (f64, f64) {
        let mut best = (f64::INFINITY, 0.0);
        for i in 0..self.points.len().saturating_sub(1) {
            let (d, t) = point_segment(p, self.points[i], self.points[i + 1]);
            if d < best.0 {
                best = (d, self.s[i] + t * (self.s[i + 1] - self.s[i]));
            }
        }
        best
    }

    /// Signed curvature at arc length `s`, 1/m, measured over about `window_m` of the line.
    pub fn curvature(&self, s: f64, window_m: f64) -> f64 {
        let half = window_m / 2.0;
        let (s0, s1) = ((s - half).max(0.0), (s + half).min(self.length_m()));
        if s1 - s0 < 1e-6 {
            return 0.0;
        }
        let h0 = self.at(s0 + 1e-6).1;
        let h1 = self.at(s1 - 1e-6).1;
        wrap_angle(h1 - h0) / (s1 - s0)
    }
}

/// An open centripetal-free (uniform) Catmull-Rom spline through `control`, sampled about
/// every `spacing_m`; the end tangents continue the first and last chords.
pub fn spline(control: &[Vec2], spacing_m: f64) -> Polyline {
    let n = control.len();
    if n < 3 {
        let (a, b) = (control[0], control[n - 1]);
        let pieces = ((a.distance(b) / spacing_m).ceil() as usize).max(1);
        return Polyline::new((0..=pieces).map(|k| a.lerp(b, k as f64 / pieces as f64)));
    }
    let get = |i: isize| -> Vec2 {
        if i < 0 {
            control[0] * 2.0 - control[1]
        } else if i as usize >= n {
            control[n - 1] * 2.0 - control[n - 2]
        } else {
            control[i as usize]
        }
    };
    let mut pts = Vec::new();
    for i in 0..n - 1 {
        let (p0, p1, p2, p3) = (
            get(i as isize - 1),
            get(i as isize),
            get(i as isize + 1),
            get(i as isize + 2),
        );
        let pieces = ((p1.distance(p2) / spacing_m).ceil() as usize).max(2);
        for k in 0..pieces {
            let t = k as f64 / pieces as f64;
            let (t2, t3) = (t * t, t * t * t);
            pts.push(
                (p1 * 2.0
                    + (p2 - p0) * t
                    + (p0 * 2.0 - p1 * 5.0 + p2 * 4.0 - p3) * t2
                    + (p1 * 3.0 - p0 - p2 * 3.0 + p3) * t3)
                    * 0.5,
            );
        }
    }
    pts.push(control[n - 1]);
    Polyline::new(pts)
}

/// A pose with curvature: where a lane ends or begins.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pose {
    pub position: Vec2,
    pub heading: f64,
    pub curvature_per_m: f64,
}

/// The quintic Hermite curve from `a` to `b` that matches position, heading and curvature at
/// both ends (so a car following lane, turn path and lane sees continuous curvature),
/// sampled about every `spacing_m`. `stretch` scales the end tangents (1: the chord length).
pub fn quintic(a: Pose, b: Pose, stretch: f64, spacing_m: f64) -> Polyline {
    let chord = a.position.distance(b.position).max(0.5);
    let l = chord * stretch;
    let (da, db) = (Vec2::from_heading(a.heading), Vec2::from_heading(b.heading));
    let (v0, v1) = (da * l, db * l);
    let (a0, a1) = (
        da.perp() * (a.curvature_per_m * l * l),
        db.perp() * (b.curvature_per_m * l * l),
    );
    let pieces = ((chord * 1.6 / spacing_m).ceil() as usize).max(8);
    Polyline::new((0..=pieces).map(|k| {
        let t = k as f64 / pieces as f64;
        let (t2, t3, t4, t5) = (t * t, t * t * t, t.powi(4), t.powi(5));
        let h0 = 1.0 - 10.0 * t3 + 15.0 * t4 - 6.0 * t5;
        let h1 = t - 6.0 * t3 + 8.0 * t4 - 3.0 * t5;
        let h2 = 0.5 * t2 - 1.5 * t3 + 1.5 * t4 - 0.5 * t5;
        let h3 = 0.5 * t3 - t4 + 0.5 * t5;
        let h4 = -4.0 * t3 + 7.0 * t4 - 3.0 * t5;
        let h5 = 10.0 * t3 - 15.0 * t4 + 6.0 * t5;
        a.position * h0 + v0 * h1 + a0 * h2 + a1 * h3 + v1 * h4 + b.position * h5
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_turn_keeps_its_end_poses() {
        let a = Pose {
            position: Vec2::new(0.0, 0.0),
            heading: 0.0,
            curvature_per_m: 0.0,
        };
        let b = Pose {
            position: Vec2::new(10.0, 10.0),
            heading: std::f64::consts::FRAC_PI_2,
            curvature_per_m: 0.0,
        };
        let q = quintic(a, b, 1.0, 0.25);
        assert!(q.start().distance(a.position) < 1e-9 && q.end().distance(b.position) < 1e-9);
        assert!(q.start_heading().abs() < 0.02);
        assert!((q.end_heading() - b.heading).abs() < 0.02);
        assert!(q.curvature(q.length_m() / 2.0, 2.0) > 0.05);
    }
}
