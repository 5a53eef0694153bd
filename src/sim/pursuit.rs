//! Pure pursuit, the expert's steering law: the arc from the car through a point one look-ahead
//! distance along the path it follows.

use crate::sim::math::Vec2;
use crate::sim::vehicle::VehicleState;

/// Pure-pursuit tuning.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpertConfig {
    /// Look-ahead distance at standstill, metres. Shorter tracks the line tighter but
    /// oscillates at speed.
    pub lookahead_min_m: f64,
    /// Extra look-ahead per m/s of speed, seconds.
    pub lookahead_gain_s: f64,
    /// Largest lateral acceleration the expert plans for, m/s²; it slows for curves so that
    /// v² κ stays below this.
    pub max_lateral_accel_m_s2: f64,
    /// How far ahead the expert looks for curves when choosing its speed, seconds of travel.
    pub speed_preview_s: f64,
}

impl Default for ExpertConfig {
    fn default() -> Self {
        Self {
            lookahead_min_m: 3.0,
            lookahead_gain_s: 0.3,
            max_lateral_accel_m_s2: 4.0,
            speed_preview_s: 2.0,
        }
    }
}

impl ExpertConfig {
    /// How far ahead the expert aims at `speed_m_s`, metres.
    pub fn lookahead_m(&self, speed_m_s: f64) -> f64 {
        self.lookahead_min_m + self.lookahead_gain_s * speed_m_s
    }
}

/// Pure pursuit: the curvature of the arc from a car in `state` through `target`.
pub fn pursuit_curvature(state: &VehicleState, target: Vec2) -> f64 {
    let to_target = target - state.position;
    let alpha = to_target.heading() - state.heading;
    2.0 * alpha.sin() / to_target.length().max(1e-3)
}
