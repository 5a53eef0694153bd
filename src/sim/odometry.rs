//! Odometry as a car measures it: the distance from its wheel-speed sensors and the heading
//! change from its yaw-rate gyro, each with the errors such sensors have. A wheel's rolling
//! radius is off by a fraction that stays for the drive (tyre wear, pressure, load), so every
//! distance is scaled by it; a MEMS gyro reads the yaw rate plus a bias that wanders as a
//! random walk; both add white noise every tick. Dead reckoning on these drifts as a real car's
//! does, so a filter that fuses them is not flattered by exact motion.

use crate::sim::math::standard_normal;
use crate::sim::math::{fnv1a, wrap_angle};
use crate::sim::vehicle::VehicleState;
use rand::{SeedableRng, rngs::Xoshiro256PlusPlus as SensorRng};
use serde::{Deserialize, Serialize};

/// The errors of a car's odometry.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OdometryNoise {
    /// Standard deviation of the per-drive wheel-speed scale error (0.01: distances 1 % off).
    pub scale_sigma: f64,
    /// Standard deviation of the gyro's bias at the start of a drive, degrees per second.
    pub gyro_bias_deg_s: f64,
    /// How fast the bias wanders: its random walk, degrees per second per √second.
    pub gyro_bias_walk_deg_s_per_sqrt_s: f64,
    /// White noise of each tick's distance, relative (0.01: 1 % of the tick's distance).
    pub distance_noise: f64,
    /// White noise of the yaw rate, degrees per second per √hertz (noise density).
    pub gyro_noise_deg_s_per_sqrt_hz: f64,
}

impl Default for OdometryNoise {
    /// An automotive wheel-speed sensor and a consumer-grade MEMS gyro: distances 1 % off for
    /// the drive, a gyro bias of 0.05 °/s wandering by 0.005 °/s/√s, white noise of 1 % per
    /// tick and 0.02 °/s/√Hz.
    fn default() -> Self {
        Self {
            scale_sigma: 0.01,
            gyro_bias_deg_s: 0.05,
            gyro_bias_walk_deg_s_per_sqrt_s: 0.005,
            distance_noise: 0.01,
            gyro_noise_deg_s_per_sqrt_hz: 0.02,
        }
    }
}

impl OdometryNoise {
    /// Exact odometry (for tests and as a reference).
    pub const EXACT: OdometryNoise = OdometryNoise {
        scale_sigma: 0.0,
        gyro_bias_deg_s: 0.0,
        gyro_bias_walk_deg_s_per_sqrt_s: 0.0,
        distance_noise: 0.0,
        gyro_noise_deg_s_per_sqrt_hz: 0.0,
    };

    /// Every value out of range, each naming its field.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        for (name, v, max) in [
            ("scale_sigma", self.scale_sigma, 0.5),
            ("gyro_bias_deg_s", self.gyro_bias_deg_s, 10.0),
            (
                "gyro_bias_walk_deg_s_per_sqrt_s",
                self.gyro_bias_walk_deg_s_per_sqrt_s,
                10.0,
            ),
            ("distance_noise", self.distance_noise, 0.5),
            (
                "gyro_noise_deg_s_per_sqrt_hz",
                self.gyro_noise_deg_s_per_sqrt_hz,
                10.0,
            ),
        ] {
            if !(v.is_finite() && (0.0..=max).contains(&v)) {
                p.push(format!("odometry.{name}: {v} must be in [0, {max}]"));
            }
        }
        p
    }
}

/// What the odometry measured over one tick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OdometryReading {
    /// Distance travelled, metres.
    pub distance_m: f64,
    /// Heading change, radians (positive: left).
    pub heading_change_rad: f64,
    /// The wheel speed: the car's own speed as it measures it, m/s.
    pub speed_m_s: f64,
}

/// One car's wheel-speed sensors and gyro for one drive.
#[derive(Clone, Debug)]
pub struct Odometry {
    noise: OdometryNoise,
    rng: SensorRng,
    /// The drive's wheel-speed scale (1 + error).
    scale: f64,
    /// The gyro's current bias, radians per second.
    bias_rad_s: f64,
    last: Option<(crate::sim::Vec2, f64)>,
}

impl Odometry {
    /// Sensors with `noise`, their errors drawn from `seed`.
    pub fn new(noise: OdometryNoise, seed: u64) -> Odometry {
        let mut rng = SensorRng::seed_from_u64(fnv1a(&[b"odometry", &seed.to_le_bytes()]));
        let scale = 1.0 + noise.scale_sigma * standard_normal(&mut rng);
        let bias_rad_s = noise.gyro_bias_deg_s.to_radians() * standard_normal(&mut rng);
        Odometry {
            noise,
            rng,
            scale,
            bias_rad_s,
            last: None,
        }
    }

    /// The drive's wheel-speed scale error (0.01: distances read 1 % long).
    pub fn scale_error(&self) -> f64 {
        self.scale - 1.0
    }

    /// The gyro's bias now, degrees per second.
    pub fn gyro_bias_deg_s(&self) -> f64 {
        self.bias_rad_s.to_degrees()
    }

    /// Forgets the last pose: the car was put somewhere else (the next reading is zero motion).
    pub fn restart(&mut self) {
        self.last = None;
    }

    /// The reading over the `dt_s` seconds that took the car to `truth` (zero motion on the
    /// first call or after [`Odometry::restart`]). The sensors read the true motion: this is
    /// where it enters, with its errors.
    pub fn measure(&mut self, truth: &VehicleState, dt_s: f64) -> OdometryReading {
        let now = (truth.position, truth.heading);
        let Some((position, heading)) = self.last.replace(now) else {
            return OdometryReading {
                speed_m_s: truth.speed_m_s.abs() * self.scale,
                ..OdometryReading::default()
            };
        };
        let n = &self.noise;
        let dt = dt_s.max(1e-9);
        let distance = now.0.distance(position)
            * self.scale
            * (1.0 + n.distance_noise * standard_normal(&mut self.rng));
        let white = n.gyro_noise_deg_s_per_sqrt_hz.to_radians() / dt.sqrt();
        let rate = wrap_angle(now.1 - heading) / dt
            + self.bias_rad_s
            + white * standard_normal(&mut self.rng);
        self.bias_rad_s += n.gyro_bias_walk_deg_s_per_sqrt_s.to_radians()
            * dt.sqrt()
            * standard_normal(&mut self.rng);
        OdometryReading {
            distance_m: distance.max(0.0),
            heading_change_rad: rate * dt,
            speed_m_s: distance.max(0.0) / dt,
        }
    }
}
