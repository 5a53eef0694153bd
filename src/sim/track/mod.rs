//! Track geometry: a closed centreline sampled densely and parameterised by arc length.
//!
//! Control points are joined by a centripetal Catmull-Rom spline (no cusps or loops between
//! points), sampled about every [`SAMPLE_SPACING_M`]; queries interpolate the samples.

use crate::sim::math::{Vec2, point_segment, segment_distance, segments_intersect, wrap_angle};
use rand::{RngExt, SeedableRng, rngs::StdRng};

mod spec;

pub use spec::{MAX_TRACK_LENGTH_M, TrackSpec};

/// Target distance between centreline samples, metres.
pub const SAMPLE_SPACING_M: f64 = 0.5;

/// Segments on each side of a sample over which its curvature is measured (about 1.5 m).
const CURVATURE_WINDOW: usize = 3;

/// A closed centreline with arc-length parameterisation.
#[derive(Clone, Debug)]
pub struct Track {
    /// Samples; segment `i` joins `points[i]` to `points[(i + 1) % n]`.
    points: Vec<Vec2>,
    /// Arc length at each sample, plus the total length at the end (`n + 1` values).
    s: Vec<f64>,
    /// Signed curvature at each sample, 1/m (positive: the track turns left).
    curvature: Vec<f64>,
}

/// A point of the centreline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackPoint {
    pub position: Vec2,
    /// Direction of travel, radians.
    pub heading: f64,
    pub curvature_per_m: f64,
}

/// Where a ground point lies relative to the centreline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackProjection {
    /// Arc length of the closest centreline point, metres in [0, length).
    pub s_m: f64,
    /// Signed distance from the centreline, metres (positive: left of the direction of travel).
    pub lateral_offset_m: f64,
    /// The closest centreline point.
    pub closest: Vec2,
    /// Direction of travel at the closest point, radians.
    pub heading: f64,
}

impl Track {
    /// Builds the track of a scenario's spec; `road_width_m` guides the procedural generator.
    pub fn from_spec(spec: &TrackSpec, road_width_m: f64) -> Result<Track, String> {
        match spec {
            TrackSpec::ControlPoints { points } => {
                let mut pts: Vec<Vec2> = points.iter().map(|&(x, y)| Vec2::new(x, y)).collect();
                if pts.len() > 1 && pts[0].distance(pts[pts.len() - 1]) < 1e-6 {
                    pts.pop();
                }
                Track::from_control_points(&pts)
            }
            TrackSpec::Procedural {
                seed,
                length_m,
                curviness,
            } => Track::procedural(*seed, *length_m, *curviness, road_width_m),
            TrackSpec::Network { .. } | TrackSpec::Town { .. } => {
                let (network, route) = spec
                    .build_network(road_width_m)
                    .map_err(|p| p.join("; "))?
                    .ok_or("not a network")?;
                Track::from_samples(route.samples(&network))
            }
        }
    }

    /// A closed spline through `control` (the first point is not repeated).
    pub fn from_control_points(control: &[Vec2]) -> Result<Track, String> {
        if control.len() < 4 {
            return Err(format!(
                "need at least 4 distinct control points, got {}",
                control.len()
            ));
        }
        let n = control.len();
        let mut points = Vec::new();
        for i in 0..n {
            let p0 = control[(i + n - 1) % n];
            let p1 = control[i];
            let p2 = control[(i + 1) % n];
            let p3 = control[(i + 2) % n];
            if p1.distance(p2) < 1e-6 {
                return Err(format!("control points {i} and {} coincide", (i + 1) % n));
            }
            let pieces = ((p1.distance(p2) / SAMPLE_SPACING_M).ceil() as usize).max(2);
            for k in 0..pieces {
                points.push(centripetal_catmull_rom(
                    p0,
                    p1,
                    p2,
                    p3,
                    k as f64 / pieces as f64,
                ));
            }
        }
        Track::from_samples(points)
    }

    /// A closed polyline resampled at [`SAMPLE_SPACING_M`].
    pub fn from_samples(raw: Vec<Vec2>) -> Result<Track, String> {
        if raw.iter().any(|p| !p.is_finite()) {
            return Err("centreline has non-finite points".into());
        }
        let raw_track = Track::with_arc_length(raw)?;
        let len = raw_track.length_m();
        let n = ((len / SAMPLE_SPACING_M).round() as usize).max(8);
        let resampled = (0..n)
            .map(|i| raw_track.interpolate(len * i as f64 / n as f64).0)
            .collect();
        Track::with_arc_length(resampled)
    }

    fn with_arc_length(points: Vec<Vec2>) -> Result<Track, String> {
        let n = points.len();
        if n < 3 {
            return Err("centreline has fewer than 3 samples".into());
        }
        let mut s = Vec::with_capacity(n + 1);
        s.push(0.0);
        for i in 0..n {
            let d = points[i].distance(points[(i + 1) % n]);
            s.push(s[i] + d);
        }
        if s[n].is_nan() || s[n] <= 1.0 {
            return Err(format!("centreline is only {:.3} m long", s[n]));
        }
        // Curvature: change of heading across a window of CURVATURE_WINDOW segments on each
        // side, over the arc length between the midpoints of the two end segments. A window
        // smooths the kinks that resampling a polyline leaves at single samples.
        let seg_heading: Vec<f64> = (0..n)
            .map(|i| (points[(i + 1) % n] - points[i]).heading())
            .collect();
        let seg_mid: Vec<f64> = (0..n).map(|i| 0.5 * (s[i] + s[i + 1])).collect();
        let total = s[n];
        let k = CURVATURE_WINDOW.min(n / 4);
        let curvature = (0..n)
            .map(|i| {
                let (a, b) = ((i + n - k - 1) % n, (i + k) % n);
                let turn = wrap_angle(seg_heading[b] - seg_heading[a]);
                let ds = (seg_mid[b] - seg_mid[a]).rem_euclid(total);
                if ds > 0.0 { turn / ds } else { 0.0 }
            })
            .collect();
        Ok(Track {
            points,
            s,
            curvature,
        })
    }

    /// A star-shaped loop of `length_m` whose radius varies with harmonics 2..=5 scaled by
    /// `curviness`. Candidates that would fold the road onto itself are damped and retried.
    pub fn procedural(
        seed: u64,
        length_m: f64,
        curviness: f64,
        road_width_m: f64,
    ) -> Result<Track, String> {
        let mut rng = StdRng::seed_from_u64(seed);
        let harmonics: Vec<(f64, f64, f64)> = (2..=5)
            .map(|k| {
                (
                    k as f64,
                    rng.random_range(-1.0..1.0),
                    rng.random_range(0.0..std::f64::consts::TAU),
                )
            })
            .collect();
        let mut amplitude = curviness.clamp(0.0, 1.0);
        for _ in 0..12 {
            let control: Vec<Vec2> = (0..36)
                .map(|i| {
                    let phi = std::f64::consts::TAU * i as f64 / 36.0;
                    let wobble: f64 = harmonics
                        .iter()
                        .map(|&(k, a, ph)| 0.45 * amplitude * a / k.sqrt() * (k * phi + ph).cos())
                        .sum();
                    Vec2::from_heading(phi) * (1.0 + wobble).max(0.2)
                })
                .collect();
            // Scale to the target length; a second pass removes the sampling error of the first.
            let mut scaled: Vec<Vec2> = control
                .iter()
                .map(|&p| p * (length_m / std::f64::consts::TAU))
                .collect();
            let first = Track::from_control_points(&scaled)?;
            scaled
                .iter_mut()
                .for_each(|p| *p = *p * (length_m / first.length_m()));
            let track = Track::from_control_points(&scaled)?;
            if track.problems(road_width_m).is_empty() {
                return Ok(track);
            }
            amplitude *= 0.7;
        }
        Err(format!(
            "procedural generator found no track of {length_m} m with road width {road_width_m} m; lower curviness or widen length_m"
        ))
    }

    /// The largest |curvature| of the centreline, 1/m (one over the tightest bend's radius).
    pub fn max_abs_curvature_per_m(&self) -> f64 {
        self.curvature.iter().fold(0.0, |m, k| m.max(k.abs()))
    }

    pub fn length_m(&self) -> f64 {
        self.s[self.points.len()]
    }

    /// The centreline samples (closed: the last joins the first).
    pub fn samples(&self) -> &[Vec2] {
        &self.points
    }

    /// Arc length of each sample.
    pub fn sample_s(&self) -> &[f64] {
        &self.s[..self.points.len()]
    }

    /// Wraps an arc length to [0, length).
    pub fn wrap_s(&self, s: f64) -> f64 {
        let r = s.rem_euclid(self.length_m());
        if r >= self.length_m() { 0.0 } else { r }
    }

    fn segment_at(&self, s: f64) -> (usize, f64) {
        let s = self.wrap_s(s);
        let i = match self.s.binary_search_by(|v| v.total_cmp(&s)) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
        .min(self.points.len() - 1);
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

    fn interpolate(&self, s: f64) -> (Vec2, f64) {
        let (i, t) = self.segment_at(s);
        let a = self.points[i];
        let b = self.points[(i + 1) % self.points.len()];
        (a.lerp(b, t), (b - a).heading())
    }

    /// The centreline point at arc length `s` (wrapped).
    pub fn at(&self, s: f64) -> TrackPoint {
        let (i, t) = self.segment_at(s);
        let n = self.points.len();
        let (position, heading) = self.interpolate(s);
        let curvature_per_m = self.curvature[i] * (1.0 - t) + self.curvature[(i + 1) % n] * t;
        TrackPoint {
            position,
            heading,
            curvature_per_m,
        }
    }

    /// The ground point `offset_m` to the left of the centreline at `s`.
    pub fn offset_point(&self, s: f64, offset_m: f64) -> Vec2 {
        let tp = self.at(s);
        tp.position + Vec2::from_heading(tp.heading).perp() * offset_m
    }

    /// Closest centreline point to `p`, searching the whole track.
    pub fn project(&self, p: Vec2) -> TrackProjection {
        self.projection_on(p, self.closest_segment(p, 0..self.points.len()))
    }

    /// Closest centreline point to `p` among the stretch within a few road widths of arc
    /// length `s_hint`, for a car that was near `s_hint` a tick ago. Within half the road width
    /// of that stretch this is the global answer, because a valid track keeps its
    /// non-neighbouring parts at least a road width apart (see [`Track::problems`]). Further
    /// off it is still the stretch's closest point, never a far part of the track that happens
    /// to be nearer: a car that left by a wrong exit onto a road the route takes later is off
    /// its route, not on it.
    pub fn project_near(&self, p: Vec2, s_hint: f64, road_width_m: f64) -> TrackProjection {
        let n = self.points.len();
        let window_m = (2.5 * road_width_m).max(20.0);
        let half_window = ((window_m / (self.length_m() / n as f64)).ceil() as usize).min(n / 2);
        let (centre, _) = self.segment_at(s_hint);
        let segments = (0..=2 * half_window).map(|k| (centre + n + k - half_window) % n);
        self.projection_on(p, self.closest_segment(p, segments))
    }

    /// Map-matching: the closest point to `p` among the centreline from `s_from` to `s_to`
    /// (forward, wrapping; the whole track when that span is at least its length) whose
    /// direction is within `max_heading_diff` of `heading`. `None` when no segment there points
    /// that way. A navigation system matches a position to the road it is driving this way, so
    /// that the other direction of a two-way road, or a road the route takes later, never wins.
    pub fn project_matching(
        &self,
        p: Vec2,
        (s_from, s_to): (f64, f64),
        heading: f64,
        max_heading_diff: f64,
    ) -> Option<TrackProjection> {
        let n = self.points.len();
        let segments: Box<dyn Iterator<Item = usize>> = if s_to - s_from >= self.length_m() {
            Box::new(0..n)
        } else {
            let (first, _) = self.segment_at(s_from);
            let (last, _) = self.segment_at(s_to);
            let count = (last + n - first) % n + 1;
            Box::new((0..count).map(move |k| (first + k) % n))
        };
        let mut best = (f64::INFINITY, 0usize, 0.0f64);
        for i in segments {
            let (a, b) = (self.points[i], self.points[(i + 1) % n]);
            if (b - a).length() < 1e-12
                || wrap_angle((b - a).heading() - heading).abs() > max_heading_diff
            {
                continue;
            }
            let (d, t) = point_segment(p, a, b);
            if d < best.0 {
                best = (d, i, t);
            }
        }
        best.0.is_finite().then(|| self.projection_on(p, best))
    }

    /// (distance, segment, parameter) of the closest point of the given segments.
    fn closest_segment(&self, p: Vec2, segments: impl Iterator<Item = usize>) -> (f64, usize, f64) {
        let n = self.points.len();
        let mut best = (f64::INFINITY, 0usize, 0.0f64);
        for i in segments {
            let (d, t) = point_segment(p, self.points[i], self.points[(i + 1) % n]);
            if d < best.0 {
                best = (d, i, t);
            }
        }
        best
    }

    fn projection_on(&self, p: Vec2, (_, i, t): (f64, usize, f64)) -> TrackProjection {
        let a = self.points[i];
        let b = self.points[(i + 1) % self.points.len()];
        let dir = (b - a).normalized();
        let closest = a.lerp(b, t);
        let distance = p.distance(closest);
        let lateral = if dir.cross(p - closest) >= 0.0 {
            distance
        } else {
            -distance
        };
        TrackProjection {
            s_m: self.wrap_s(self.s[i] + t * (self.s[i + 1] - self.s[i])),
            lateral_offset_m: lateral,
            closest,
            heading: dir.heading(),
        }
    }

    /// Heading error of a vehicle heading relative to the track at a projection, radians
    /// (positive: the car points left of the direction of travel).
    pub fn heading_error(&self, projection: &TrackProjection, heading: f64) -> f64 {
        wrap_angle(heading - projection.heading)
    }

    /// Geometric problems for a road of `road_width_m`: self-crossing, parts of the road
    /// overlapping each other, curves tighter than the half width. Empty when sound.
    pub fn problems(&self, road_width_m: f64) -> Vec<String> {
        let mut problems = Vec::new();
        let n = self.points.len();
        let len = self.length_m();
        let half = road_width_m / 2.0;
        if let Some((i, k)) = self
            .curvature
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            && k.abs() * half > 1.0
        {
            problems.push(format!(
                "track: curve at s = {:.0} m has radius {:.1} m, tighter than half the road width ({half:.1} m): the road would fold",
                self.s[i],
                1.0 / k.abs()
            ));
        }
        // Parts of the centreline closer than the road width, further apart along the track
        // than any single curve can bring them, overlap. Reported once per pair of places.
        let min_arc = (2.0 * road_width_m).max(4.0);
        // (distance, crosses, s_i, s_j) of every offending pair of segments.
        let mut offending: Vec<(f64, bool, f64, f64)> = Vec::new();
        // Segment starts bucketed in a grid whose cell is the largest start-to-start distance
        // of a pair that can be closer than the road width: only neighbouring cells are checked.
        let reach = road_width_m + 2.0 * SAMPLE_SPACING_M + 1.0;
        let cell = |p: Vec2| ((p.x / reach).floor() as i64, (p.y / reach).floor() as i64);
        let mut grid: std::collections::HashMap<(i64, i64), Vec<usize>> =
            std::collections::HashMap::new();
        for (i, &p) in self.points.iter().enumerate() {
            grid.entry(cell(p)).or_default().push(i);
        }
        for i in 0..n {
            let (a0, a1) = (self.points[i], self.points[(i + 1) % n]);
            let (cx, cy) = cell(a0);
            for dx in -1..=1 {
                for dy in -1..=1 {
                    let Some(bucket) = grid.get(&(cx + dx, cy + dy)) else {
                        continue;
                    };
                    for &j in bucket.iter().filter(|&&j| j > i) {
                        let arc = (self.s[j] - self.s[i]).min(len - (self.s[j] - self.s[i]));
                        let (b0, b1) = (self.points[j], self.points[(j + 1) % n]);
                        if arc < min_arc || (a0 - b0).length() > reach {
                            continue;
                        }
                        let crosses = segments_intersect(a0, a1, b0, b1);
                        let d = segment_distance(a0, a1, b0, b1);
                        if crosses || d < road_width_m {
                            offending.push((d, crosses, self.s[i], self.s[j]));
                        }
                    }
                }
            }
        }
        // Report the worst pair of each place: crossings first, then the closest.
        offending.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.total_cmp(&b.0)));
        let mut reported: Vec<(f64, f64)> = Vec::new();
        for (d, crosses, si, sj) in offending {
            if reported
                .iter()
                .any(|&(ri, rj)| (ri - si).abs() < 20.0 && (rj - sj).abs() < 20.0)
            {
                continue;
            }
            reported.push((si, sj));
            problems.push(if crosses {
                format!("track: centreline crosses itself at s = {si:.0} m and s = {sj:.0} m")
            } else {
                format!(
                    "track: road overlaps itself: s = {si:.0} m and s = {sj:.0} m are {d:.1} m apart, less than the road width {road_width_m:.1} m"
                )
            });
            if reported.len() >= 8 {
                break;
            }
        }
        problems
    }
}

/// Centripetal (alpha = 0.5) Catmull-Rom point between `p1` and `p2` at `u` in [0, 1].
fn centripetal_catmull_rom(p0: Vec2, p1: Vec2, p2: Vec2, p3: Vec2, u: f64) -> Vec2 {
    let knot = |a: Vec2, b: Vec2| a.distance(b).sqrt().max(1e-9);
    let t0 = 0.0;
    let t1 = t0 + knot(p0, p1);
    let t2 = t1 + knot(p1, p2);
    let t3 = t2 + knot(p2, p3);
    let t = t1 + u * (t2 - t1);
    let mix = |a: Vec2, b: Vec2, ta: f64, tb: f64| {
        a * ((tb - t) / (tb - ta)) + b * ((t - ta) / (tb - ta))
    };
    let a1 = mix(p0, p1, t0, t1);
    let a2 = mix(p1, p2, t1, t2);
    let a3 = mix(p2, p3, t2, t3);
    let b1 = mix(a1, a2, t0, t2);
    let b2 = mix(a2, a3, t1, t3);
    mix(b1, b2, t1, t2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn circle(radius: f64, n: usize) -> Vec<Vec2> {
        (0..n)
            .map(|i| Vec2::from_heading(std::f64::consts::TAU * i as f64 / n as f64) * radius)
            .collect()
    }

    #[test]
    fn circle_has_length_and_curvature_of_a_circle() {
        // Expected values from the circle's formulas: 2πr and 1/r.
        let t = Track::from_control_points(&circle(50.0, 24)).unwrap();
        assert!(
            (t.length_m() - std::f64::consts::TAU * 50.0).abs() < 0.5,
            "{}",
            t.length_m()
        );
        for s in [0.0, 40.0, 100.0, 250.0] {
            assert!(
                (t.at(s).curvature_per_m - 0.02).abs() < 0.001,
                "{}",
                t.at(s).curvature_per_m
            );
        }
    }

    #[test]
    fn projection_gives_signed_offset() {
        let t = Track::from_control_points(&circle(50.0, 24)).unwrap();
        // Counter-clockwise circle: the centre is on the left.
        let inside = t.project(Vec2::new(48.0, 0.0));
        assert!((inside.lateral_offset_m - 2.0).abs() < 0.05, "{inside:?}");
        let outside = t.project(Vec2::new(0.0, 53.0));
        assert!((outside.lateral_offset_m + 3.0).abs() < 0.05, "{outside:?}");
        assert!((outside.s_m - t.length_m() / 4.0).abs() < 0.5);
    }

    #[test]
    fn figure_eight_is_reported_as_crossing() {
        let pts: Vec<Vec2> = (0..40)
            .map(|i| {
                let a = std::f64::consts::TAU * i as f64 / 40.0;
                Vec2::new(80.0 * a.sin(), 40.0 * (2.0 * a).sin())
            })
            .collect();
        let t = Track::from_control_points(&pts).unwrap();
        let p = t.problems(6.0);
        assert!(p.iter().any(|m| m.contains("crosses itself")), "{p:?}");
    }
}
