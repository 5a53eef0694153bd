//! Kinematic bicycle model driven by curvature and target speed.
//!
//! The reference point is the rear axle. The command is curvature κ = 1/r (1/m, positive
//! left), which is independent of the car's geometry; the model turns it into a front-wheel
//! angle, applies the steering limit and the steering-rate limit, and integrates the exact
//! circular arc over the tick.

use crate::sim::math::{Vec2, wrap_angle};
use crate::sim::scenario::VehicleSpec;
use serde::{Deserialize, Serialize};

/// A car slower than this stands still, m/s.
pub const STANDING_M_S: f64 = 0.1;

/// A driver's command for one tick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Requested path curvature, 1/m (positive turns left).
    pub curvature_per_m: f64,
    /// Requested speed, m/s.
    pub speed_m_s: f64,
}

impl Action {
    pub fn new(curvature_per_m: f64, speed_m_s: f64) -> Self {
        Self {
            curvature_per_m,
            speed_m_s,
        }
    }
}

/// Pose and motion of a car.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VehicleState {
    /// Rear-axle position, metres.
    pub position: Vec2,
    /// Direction the car points, radians counter-clockwise from east.
    pub heading: f64,
    pub speed_m_s: f64,
    /// Front-wheel angle, radians (positive left).
    pub steer_rad: f64,
}

impl VehicleState {
    /// Curvature the car currently drives, 1/m.
    pub fn curvature_per_m(&self, wheelbase_m: f64) -> f64 {
        self.steer_rad.tan() / wheelbase_m
    }

    /// Centre of the car body, half a wheelbase ahead of the rear axle.
    pub fn body_centre(&self, wheelbase_m: f64) -> Vec2 {
        self.position + Vec2::from_heading(self.heading) * (wheelbase_m / 2.0)
    }
}

/// A car integrating [`Action`]s at a fixed tick.
#[derive(Clone, Debug)]
pub struct Vehicle {
    pub spec: VehicleSpec,
    pub state: VehicleState,
}

impl Vehicle {
    pub fn new(spec: VehicleSpec, state: VehicleState) -> Self {
        Self { spec, state }
    }

    /// Largest curvature the steering can reach, 1/m.
    pub fn max_curvature_per_m(&self) -> f64 {
        self.spec.max_steer_deg.to_radians().tan() / self.spec.wheelbase_m
    }

    /// Advances the car by `dt_s`. Non-finite commands are treated as zero so that a bad
    /// driver cannot poison the state with NaN.
    pub fn step(&mut self, action: Action, dt_s: f64) {
        let spec = &self.spec;
        let kappa = if action.curvature_per_m.is_finite() {
            action.curvature_per_m
        } else {
            0.0
        };
        let target_speed = if action.speed_m_s.is_finite() {
            action.speed_m_s.max(0.0)
        } else {
            0.0
        };
        let max_steer = spec.max_steer_deg.to_radians();
        let target_steer = (kappa * spec.wheelbase_m)
            .atan()
            .clamp(-max_steer, max_steer);
        let max_delta = spec.max_steer_rate_deg_s.to_radians() * dt_s;
        let s = &mut self.state;
        s.steer_rad += (target_steer - s.steer_rad).clamp(-max_delta, max_delta);
        let max_dv = spec.max_accel_m_s2 * dt_s;
        let v0 = s.speed_m_s;
        s.speed_m_s = (v0 + (target_speed - v0).clamp(-max_dv, max_dv)).max(0.0);
        let distance = 0.5 * (v0 + s.speed_m_s) * dt_s;
        let k = s.steer_rad.tan() / spec.wheelbase_m;
        let turn = k * distance;
        let h = s.heading;
        let delta = if turn.abs() < 1e-9 {
            Vec2::from_heading(h) * distance
        } else {
            Vec2::new(
                ((h + turn).sin() - h.sin()) / k,
                (h.cos() - (h + turn).cos()) / k,
            )
        };
        s.position = s.position + delta;
        s.heading = wrap_angle(h + turn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_curvature_drives_a_circle() {
        // A car holding κ = 0.05 1/m drives a circle of radius 20 m: after 2πr metres it is
        // back where it started.
        let mut car = Vehicle::new(
            VehicleSpec {
                max_steer_rate_deg_s: 1e6,
                max_accel_m_s2: 1e6,
                ..VehicleSpec::default()
            },
            VehicleState::default(),
        );
        let dt = 0.01;
        let v = 10.0;
        let steps = (std::f64::consts::TAU * 20.0 / v / dt).round() as usize;
        for _ in 0..steps {
            car.step(Action::new(0.05, v), dt);
        }
        assert!(car.state.position.length() < 0.2, "{:?}", car.state);
    }

    #[test]
    fn steering_limits_hold() {
        let mut car = Vehicle::new(
            VehicleSpec::default(),
            VehicleState {
                speed_m_s: 5.0,
                ..Default::default()
            },
        );
        car.step(Action::new(10.0, 5.0), 0.05);
        let rate = VehicleSpec::default().max_steer_rate_deg_s.to_radians() * 0.05;
        assert!((car.state.steer_rad - rate).abs() < 1e-12);
        for _ in 0..100 {
            car.step(Action::new(10.0, 5.0), 0.05);
        }
        assert!(
            (car.state.steer_rad - VehicleSpec::default().max_steer_deg.to_radians()).abs() < 1e-12
        );
        car.step(Action::new(f64::NAN, f64::INFINITY), 0.05);
        assert!(car.state.position.is_finite() && car.state.speed_m_s.is_finite());
    }
}
