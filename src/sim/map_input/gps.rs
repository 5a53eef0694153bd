//! A GPS receiver's fix: an error that wanders as a first-order Gauss–Markov process, and
//! the dropouts of the fix.

use crate::sim::math::standard_normal;
use crate::sim::math::{Vec2, fnv1a, wrap_angle};
use crate::sim::vehicle::VehicleState;
use rand::{SeedableRng, rngs::Xoshiro256PlusPlus as SensorRng};
use serde::{Deserialize, Serialize};

/// How wrong the GPS fix is: standard deviations of its position and heading errors, and
/// how long an error takes to be forgotten (its correlation time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpsNoise {
    pub position_m: f64,
    pub heading_deg: f64,
    pub correlation_s: f64,
}

/// Correlation time of the fix's error when none is given, seconds.
pub const GPS_CORRELATION_S: f64 = 10.0;

impl std::str::FromStr for GpsNoise {
    type Err = String;

    /// `σ_pos,σ_heading` (metres, degrees), optionally `,τ` (seconds; 10 when left out).
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let values: Vec<f64> = text
            .split(',')
            .map(|v| v.trim().parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| {
                format!("{text:?}: {e}; write σ_pos,σ_heading in metres and degrees, e.g. 10,5")
            })?;
        let noise = match values[..] {
            [p, h] => GpsNoise {
                position_m: p,
                heading_deg: h,
                correlation_s: GPS_CORRELATION_S,
            },
            [p, h, t] => GpsNoise {
                position_m: p,
                heading_deg: h,
                correlation_s: t,
            },
            _ => {
                return Err(format!(
                    "{text:?}: write σ_pos,σ_heading (and optionally the correlation time in seconds), e.g. 10,5"
                ));
            }
        };
        let ok = |v: f64, max: f64| v.is_finite() && (0.0..=max).contains(&v);
        if !(ok(noise.position_m, 1000.0)
            && ok(noise.heading_deg, 180.0)
            && noise.correlation_s.is_finite()
            && (0.01..=1e6).contains(&noise.correlation_s))
        {
            return Err(format!(
                "{text:?}: σ_pos must be in [0, 1000] m, σ_heading in [0, 180]°, the correlation time in [0.01, 1e6] s"
            ));
        }
        Ok(noise)
    }
}

impl std::fmt::Display for GpsNoise {
    /// The form [`GpsNoise::from_str`] reads: `σ_pos,σ_heading,τ`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{},{},{}",
            self.position_m, self.heading_deg, self.correlation_s
        )
    }
}

/// A GPS receiver's fix of one car: the true pose plus an error that wanders.
#[derive(Clone, Debug)]
pub struct GpsFix {
    noise: GpsNoise,
    rng: SensorRng,
    /// Current error: east, north (metres) and heading (radians).
    error: [f64; 3],
}

impl GpsFix {
    /// A receiver whose first error is drawn from the stationary distribution, seeded.
    pub fn new(noise: GpsNoise, seed: u64) -> GpsFix {
        let mut fix = GpsFix {
            noise,
            rng: SensorRng::seed_from_u64(fnv1a(&[b"gps", &seed.to_le_bytes()])),
            error: [0.0; 3],
        };
        let sigma = fix.sigmas();
        for (e, s) in fix.error.iter_mut().zip(sigma) {
            *e = s * standard_normal(&mut fix.rng);
        }
        fix
    }

    /// A receiver whose current error is `error` (east and north metres, heading radians),
    /// wandering on from there.
    pub fn with_error(noise: GpsNoise, seed: u64, error: [f64; 3]) -> GpsFix {
        GpsFix {
            error,
            ..GpsFix::new(noise, seed)
        }
    }

    /// The current error: east and north (metres) and heading (radians).
    pub fn error(&self) -> [f64; 3] {
        self.error
    }

    /// Sets the current error (a replay of a recorded receiver), which wanders on from there.
    pub fn set_error(&mut self, error: [f64; 3]) {
        self.error = error;
    }

    fn sigmas(&self) -> [f64; 3] {
        let p = self.noise.position_m;
        [p, p, self.noise.heading_deg.to_radians()]
    }

    /// Advances the error by `dt_s`: `e ← a·e + √(1 − a²)·σ·n` with `a = exp(−dt/τ)`, which
    /// keeps its standard deviation at σ.
    pub fn step(&mut self, dt_s: f64) {
        let a = (-dt_s / self.noise.correlation_s.max(1e-9)).exp();
        let b = (1.0 - a * a).sqrt();
        let sigma = self.sigmas();
        for (e, s) in self.error.iter_mut().zip(sigma) {
            *e = a * *e + b * s * standard_normal(&mut self.rng);
        }
    }

    /// The pose the receiver reports for the true `state`: position and heading.
    pub fn fix(&self, state: &VehicleState) -> (Vec2, f64) {
        (
            state.position + Vec2::new(self.error[0], self.error[1]),
            wrap_angle(state.heading + self.error[2]),
        )
    }
}

/// Occasional losses of the fix (tunnels, urban canyons): the map is blank or stale meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dropouts {
    /// How often a dropout starts, per minute of driving.
    pub per_minute: f64,
    /// How long one lasts, seconds (drawn uniformly from this range).
    pub duration_s: (f64, f64),
    /// The chance that the map shown meanwhile is the last one (stale) rather than blank.
    pub stale_probability: f64,
}

impl Dropouts {
    /// Every value out of range, each naming its field.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !(self.per_minute.is_finite() && (0.0..=60.0).contains(&self.per_minute)) {
            p.push(format!(
                "dropouts.per_minute: {} must be in [0, 60]",
                self.per_minute
            ));
        }
        let (lo, hi) = self.duration_s;
        if !(lo.is_finite() && hi.is_finite() && 0.0 < lo && lo <= hi && hi <= 600.0) {
            p.push(format!(
                "dropouts.duration_s: ({lo}, {hi}) must satisfy 0 < lo ≤ hi ≤ 600 seconds"
            ));
        }
        if !(0.0..=1.0).contains(&self.stale_probability) {
            p.push(format!(
                "dropouts.stale_probability: {} must be in [0, 1]",
                self.stale_probability
            ));
        }
        p
    }
}
