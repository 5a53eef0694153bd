//! A minimal 2D vector in the ground plane and angle helpers.

use rand::RngExt;
use serde::{Deserialize, Serialize};
use std::ops::{Add, Mul, Neg, Sub};

/// A point or direction in the ground plane, metres (`x` east, `y` north).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Vec2 {
    pub x: f64,
    pub y: f64,
}

impl Vec2 {
    pub const ZERO: Vec2 = Vec2 { x: 0.0, y: 0.0 };

    pub const fn new(x: f64, y: f64) -> Self {
        Self { x, y }
    }

    /// Unit vector at `heading` radians counter-clockwise from `+x`.
    pub fn from_heading(heading: f64) -> Self {
        Self::new(heading.cos(), heading.sin())
    }

    pub fn dot(self, o: Vec2) -> f64 {
        self.x * o.x + self.y * o.y
    }

    /// z-component of the 3D cross product: positive when `o` is to the left of `self`.
    pub fn cross(self, o: Vec2) -> f64 {
        self.x * o.y - self.y * o.x
    }

    pub fn length(self) -> f64 {
        self.x.hypot(self.y)
    }

    pub fn distance(self, o: Vec2) -> f64 {
        (self - o).length()
    }

    /// Heading of this direction, radians in (-π, π].
    pub fn heading(self) -> f64 {
        self.y.atan2(self.x)
    }

    /// Rotated 90° counter-clockwise (points to the left of a direction).
    pub fn perp(self) -> Vec2 {
        Vec2::new(-self.y, self.x)
    }

    pub fn normalized(self) -> Vec2 {
        let l = self.length();
        if l > 0.0 {
            self * (1.0 / l)
        } else {
            Vec2::ZERO
        }
    }

    pub fn lerp(self, o: Vec2, t: f64) -> Vec2 {
        self + (o - self) * t
    }

    pub fn is_finite(self) -> bool {
        self.x.is_finite() && self.y.is_finite()
    }

    /// The Bevy world position of this ground point at height `height_m` (Y-up, ground XZ).
    pub fn to_world(self, height_m: f64) -> [f32; 3] {
        [self.x as f32, height_m as f32, -self.y as f32]
    }
}

impl Add for Vec2 {
    type Output = Vec2;
    fn add(self, o: Vec2) -> Vec2 {
        Vec2::new(self.x + o.x, self.y + o.y)
    }
}

impl Sub for Vec2 {
    type Output = Vec2;
    fn sub(self, o: Vec2) -> Vec2 {
        Vec2::new(self.x - o.x, self.y - o.y)
    }
}

impl Mul<f64> for Vec2 {
    type Output = Vec2;
    fn mul(self, k: f64) -> Vec2 {
        Vec2::new(self.x * k, self.y * k)
    }
}

impl Neg for Vec2 {
    type Output = Vec2;
    fn neg(self) -> Vec2 {
        Vec2::new(-self.x, -self.y)
    }
}

/// 64-bit FNV-1a over the concatenation of `parts`: a cheap, stable content hash.
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in parts.iter().flat_map(|p| p.iter()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Wraps an angle to (-π, π].
pub fn wrap_angle(a: f64) -> f64 {
    let two_pi = std::f64::consts::TAU;
    let mut r = a % two_pi;
    if r <= -std::f64::consts::PI {
        r += two_pi;
    } else if r > std::f64::consts::PI {
        r -= two_pi;
    }
    r
}

/// Whether segments `a0-a1` and `b0-b1` cross (touching end points excluded).
pub fn segments_intersect(a0: Vec2, a1: Vec2, b0: Vec2, b1: Vec2) -> bool {
    let d1 = (a1 - a0).cross(b0 - a0);
    let d2 = (a1 - a0).cross(b1 - a0);
    let d3 = (b1 - b0).cross(a0 - b0);
    let d4 = (b1 - b0).cross(a1 - b0);
    d1 * d2 < 0.0 && d3 * d4 < 0.0
}

/// Distance from `p` to the segment `a-b` and the segment parameter `t` in [0, 1].
pub fn point_segment(p: Vec2, a: Vec2, b: Vec2) -> (f64, f64) {
    let ab = b - a;
    let len2 = ab.dot(ab);
    let t = if len2 > 0.0 {
        ((p - a).dot(ab) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    ((a + ab * t).distance(p), t)
}

/// Minimum distance between segments `a0-a1` and `b0-b1`.
pub fn segment_distance(a0: Vec2, a1: Vec2, b0: Vec2, b1: Vec2) -> f64 {
    if segments_intersect(a0, a1, b0, b1) {
        return 0.0;
    }
    point_segment(a0, b0, b1)
        .0
        .min(point_segment(a1, b0, b1).0)
        .min(point_segment(b0, a0, a1).0)
        .min(point_segment(b1, a0, a1).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_angle_stays_in_range() {
        for k in -20..20 {
            let a = k as f64 * 0.7;
            let w = wrap_angle(a);
            assert!(w > -std::f64::consts::PI - 1e-12 && w <= std::f64::consts::PI + 1e-12);
            assert!(
                ((a - w) / std::f64::consts::TAU).fract().abs() < 1e-9
                    || ((a - w) / std::f64::consts::TAU).fract().abs() > 1.0 - 1e-9
            );
        }
    }

    #[test]
    fn crossing_segments_detected() {
        let o = Vec2::ZERO;
        assert!(segments_intersect(
            o,
            Vec2::new(1.0, 1.0),
            Vec2::new(0.0, 1.0),
            Vec2::new(1.0, 0.0)
        ));
        assert!(!segments_intersect(
            o,
            Vec2::new(1.0, 0.0),
            Vec2::new(0.0, 1.0),
            Vec2::new(1.0, 1.0)
        ));
        assert!(
            (segment_distance(
                o,
                Vec2::new(1.0, 0.0),
                Vec2::new(0.0, 1.0),
                Vec2::new(1.0, 1.0)
            ) - 1.0)
                .abs()
                < 1e-12
        );
    }
}

/// A standard normal sample (Box-Muller), from our own seeded generator.
pub fn standard_normal<R: rand::Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}
