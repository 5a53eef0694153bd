//! `traffic:` in a scenario file: how many cars, their seed, speeds and following model.

use serde::{Deserialize, Serialize};

/// `traffic:` in a scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrafficSpec {
    /// Cars besides the ego cars.
    pub cars: u32,
    /// Mixed with the episode seed: routes, places and desired speeds.
    pub seed: u64,
    /// Desired speeds are drawn from this range, m/s.
    pub speed_range_m_s: (f64, f64),
    /// Intelligent Driver Model: gap kept at a standstill (m), time headway (s), largest
    /// acceleration and comfortable braking (m/s²).
    pub min_gap_m: f64,
    pub time_headway_s: f64,
    pub max_accel_m_s2: f64,
    pub comfortable_decel_m_s2: f64,
    /// How often a moving car brakes hard for no reason seen (to a stop, or for
    /// [`SUDDEN_BRAKE_S`]), per car and simulated minute; 0: never.
    pub sudden_brakes_per_min: f64,
}

/// A sudden brake lasts this long, seconds, at [`SUDDEN_BRAKE_M_S2`].
pub const SUDDEN_BRAKE_S: f64 = 2.0;
pub const SUDDEN_BRAKE_M_S2: f64 = 6.0;

impl Default for TrafficSpec {
    fn default() -> Self {
        Self {
            cars: 0,
            seed: 0,
            speed_range_m_s: (6.0, 10.0),
            min_gap_m: 2.5,
            time_headway_s: 1.2,
            max_accel_m_s2: 1.5,
            comfortable_decel_m_s2: 2.5,
            sudden_brakes_per_min: 0.0,
        }
    }
}

impl TrafficSpec {
    /// No traffic at all, as the default is (what scenario files leave out).
    pub fn is_none(&self) -> bool {
        *self == TrafficSpec::default()
    }

    /// Every problem, naming its field under `traffic`.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.cars > 1000 {
            p.push(format!("traffic.cars: {}; at most 1000", self.cars));
        }
        let (lo, hi) = self.speed_range_m_s;
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi && hi <= 40.0) {
            p.push(format!(
                "traffic.speed_range_m_s: ({lo}, {hi}) must be an increasing range within (0, 40] m/s"
            ));
        }
        for (name, v) in [
            ("min_gap_m", self.min_gap_m),
            ("time_headway_s", self.time_headway_s),
            ("max_accel_m_s2", self.max_accel_m_s2),
            ("comfortable_decel_m_s2", self.comfortable_decel_m_s2),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= 50.0) {
                p.push(format!("traffic.{name}: {v} must be in (0, 50]"));
            }
        }
        let b = self.sudden_brakes_per_min;
        if !(b.is_finite() && (0.0..=60.0).contains(&b)) {
            p.push(format!(
                "traffic.sudden_brakes_per_min: {b} must be in [0, 60] (per car and minute)"
            ));
        }
        p
    }
}
