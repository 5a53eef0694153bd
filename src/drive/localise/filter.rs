//! The particle filter over a car's pose, its options, and the localiser of a recorded drive
//! (odometry and GPS; the evidence comes from outside).

use crate::error::{Error, Result};
use crate::sim::map_input::{GpsFix, GpsNoise};
use crate::sim::math::standard_normal;
use crate::sim::math::{fnv1a, wrap_angle};
use crate::sim::odometry::{Odometry, OdometryNoise, OdometryReading};
use crate::sim::{Vec2, VehicleState};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde::Serialize;

use crate::sim::map_input::Pose;

/// How the filters run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LocaliseOptions {
    /// Particles (candidate poses) per filter.
    pub particles: usize,
    /// The GPS receiver's error; the fix the filters start from and are weighted by.
    pub gps: GpsNoise,
    /// Ticks between the network's updates (1: every tick).
    pub every_ticks: u64,
    /// The exponent on the network's likelihood: successive frames are far from independent
    /// evidence, so each update counts for this fraction of one.
    pub network_weight: f64,
    /// The same exponent for a lane-pose model's reading: each reading pins the car's offset
    /// from its lane sharply and successive readings are closely correlated, so each counts
    /// for far less.
    pub lane_pose_weight: f64,
    /// The errors of the car's odometry (wheel-speed scale, gyro bias and noise) that both
    /// filters are fed.
    pub odometry: OdometryNoise,
    /// The filters' model of that odometry's error per tick: relative distance error and
    /// heading-change error (radians).
    pub odometry_distance: f64,
    pub odometry_heading_rad: f64,
    /// Jitter given to particles after resampling: metres and radians.
    pub roughen_m: f64,
    pub roughen_rad: f64,
    pub seed: u64,
}

impl Default for LocaliseOptions {
    fn default() -> Self {
        Self {
            particles: 256,
            gps: GpsNoise {
                position_m: 10.0,
                heading_deg: 5.0,
                correlation_s: crate::sim::map_input::GPS_CORRELATION_S,
            },
            every_ticks: 2,
            network_weight: 0.25,
            lane_pose_weight: 0.01,
            odometry: OdometryNoise::default(),
            odometry_distance: 0.02,
            odometry_heading_rad: 0.002,
            roughen_m: 0.3,
            roughen_rad: 0.004,
            seed: 0,
        }
    }
}

impl LocaliseOptions {
    /// Every value out of range, named.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.particles < 2 || self.particles > 100_000 {
            p.push(format!(
                "particles: {} must be in 2..=100000",
                self.particles
            ));
        }
        p.extend(self.odometry.problems());
        if self.every_ticks == 0 {
            p.push("every: must be at least 1 tick".into());
        }
        let g = &self.gps;
        if !(g.position_m.is_finite() && g.position_m > 0.0 && g.position_m <= 1000.0) {
            p.push(format!(
                "gps-noise: σ_pos {} must be in (0, 1000] metres",
                g.position_m
            ));
        }
        if !(g.heading_deg.is_finite() && (0.0..=90.0).contains(&g.heading_deg)) {
            p.push(format!(
                "gps-noise: σ_heading {} must be in [0, 90] degrees",
                g.heading_deg
            ));
        }
        for (name, v) in [
            ("network-weight", self.network_weight),
            ("lane-pose-weight", self.lane_pose_weight),
            ("odometry_distance", self.odometry_distance),
            ("odometry_heading_rad", self.odometry_heading_rad),
            ("roughen_m", self.roughen_m),
            ("roughen_rad", self.roughen_rad),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                p.push(format!("{name}: {v} must be a finite number ≥ 0"));
            }
        }
        p
    }
}

/// Weighted candidate poses.
#[derive(Debug)]
pub struct ParticleFilter {
    pub particles: Vec<Pose>,
    log_weights: Vec<f64>,
    rng: StdRng,
    roughen: (f64, f64),
    odometry: (f64, f64),
}

impl ParticleFilter {
    /// `n` particles drawn around `around` with standard deviations `sigma_m` per axis and
    /// `sigma_rad` in heading, seeded.
    pub fn new(
        around: Pose,
        (sigma_m, sigma_rad): (f64, f64),
        options: &LocaliseOptions,
        seed: u64,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let particles = (0..options.particles)
            .map(|_| Pose {
                position: around.position
                    + Vec2::new(
                        sigma_m * standard_normal(&mut rng),
                        sigma_m * standard_normal(&mut rng),
                    ),
                heading: wrap_angle(around.heading + sigma_rad * standard_normal(&mut rng)),
            })
            .collect();
        Self {
            particles,
            log_weights: vec![0.0; options.particles],
            rng,
            roughen: (options.roughen_m, options.roughen_rad),
            odometry: (options.odometry_distance, options.odometry_heading_rad),
        }
    }

    /// Moves every particle by the odometry `reading` ([`Pose::moved`]), each with its own
    /// noise.
    pub fn predict(&mut self, reading: &OdometryReading) {
        let (sd, sh) = self.odometry;
        for p in &mut self.particles {
            *p = p.moved(&OdometryReading {
                distance_m: reading.distance_m * (1.0 + sd * standard_normal(&mut self.rng)),
                heading_change_rad: reading.heading_change_rad
                    + sh * standard_normal(&mut self.rng),
                speed_m_s: reading.speed_m_s,
            });
        }
    }

    /// Multiplies the weights by `exp(log_likelihood)` (non-finite values count as
    /// impossible); resamples when fewer than half the particles carry the weight.
    pub fn update(&mut self, log_likelihood: &[f64]) {
        for (w, l) in self.log_weights.iter_mut().zip(log_likelihood) {
            *w += if l.is_finite() { *l } else { -1e6 };
        }
        let max = self.log_weights.iter().copied().fold(f64::MIN, f64::max);
        self.log_weights.iter_mut().for_each(|w| *w -= max);
        if self.effective_size() < self.particles.len() as f64 / 2.0 {
            self.resample();
        }
    }

    /// Weighs the particles by a GPS fix whose error has standard deviations `sigma` (metres
    /// per axis, radians in heading).
    pub fn weigh_by_fix(&mut self, fix: Pose, (sigma_m, sigma_rad): (f64, f64)) {
        let l: Vec<f64> = self
            .particles
            .iter()
            .map(|p| {
                let d = p.position - fix.position;
                let h = wrap_angle(p.heading - fix.heading);
                -0.5 * (d.dot(d) / (sigma_m * sigma_m) + (h / sigma_rad).powi(2))
            })
            .collect();
        self.update(&l);
    }

    /// Normalised weights.
    pub fn weights(&self) -> Vec<f64> {
        let w: Vec<f64> = self.log_weights.iter().map(|l| l.exp()).collect();
        let sum: f64 = w.iter().sum();
        w.iter().map(|x| x / sum).collect()
    }

    /// `1 / Σ wᵢ²`: how many particles effectively carry the weight.
    pub fn effective_size(&self) -> f64 {
        1.0 / self.weights().iter().map(|w| w * w).sum::<f64>()
    }

    /// Systematic resampling, then jitter so that copies of one particle spread again.
    fn resample(&mut self) {
        let w = self.weights();
        let n = self.particles.len();
        let start: f64 = self.rng.random_range(0.0..1.0) / n as f64;
        let mut out = Vec::with_capacity(n);
        let (mut i, mut cumulative) = (0, w[0]);
        for k in 0..n {
            let u = start + k as f64 / n as f64;
            while u > cumulative && i + 1 < n {
                i += 1;
                cumulative += w[i];
            }
            out.push(self.particles[i]);
        }
        let (rm, rr) = self.roughen;
        for p in &mut out {
            p.position = p.position
                + Vec2::new(
                    rm * standard_normal(&mut self.rng),
                    rm * standard_normal(&mut self.rng),
                );
            p.heading = wrap_angle(p.heading + rr * standard_normal(&mut self.rng));
        }
        self.particles = out;
        self.log_weights = vec![0.0; n];
    }

    /// The weighted mean pose (circular mean for the heading).
    pub fn mean(&self) -> Pose {
        let w = self.weights();
        let (mut x, mut y, mut c, mut s) = (0.0, 0.0, 0.0, 0.0);
        for (p, w) in self.particles.iter().zip(&w) {
            x += w * p.position.x;
            y += w * p.position.y;
            c += w * p.heading.cos();
            s += w * p.heading.sin();
        }
        Pose::new(x, y, s.atan2(c))
    }

    /// Weighted RMS distance of the particles from their mean, metres.
    pub fn spread_m(&self) -> f64 {
        let m = self.mean().position;
        let w = self.weights();
        self.particles
            .iter()
            .zip(&w)
            .map(|(p, w)| w * (p.position - m).dot(p.position - m))
            .sum::<f64>()
            .sqrt()
    }
}

/// One tick of localisation: the truth, the raw fix and both filters' posterior means.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct TickEstimates {
    pub t_s: f64,
    pub truth: Pose,
    pub fix: Pose,
    /// The filter with the network's likelihood.
    pub with_network: Pose,
    /// The filter with odometry and GPS alone.
    pub without_network: Pose,
    pub spread_m: f64,
}

/// A move longer than this in one tick is no drive but a reset of the car, metres.
const TELEPORT_M: f64 = 5.0;

/// The GPS receiver and the two filters of one drive.
pub struct Localiser {
    options: LocaliseOptions,
    dt_s: f64,
    gps: GpsFix,
    odometry: Odometry,
    filters: Option<(ParticleFilter, ParticleFilter)>,
    last: Option<Pose>,
    tick: u64,
    /// Ticks between the GPS fixes the filters use (one correlation time).
    gps_every: u64,
}

impl Localiser {
    /// A localiser for a drive ticking every `dt_s` seconds; `drive_seed` (with the options'
    /// seed) draws its GPS error and particles, so that different drives get different ones.
    pub fn new(options: &LocaliseOptions, dt_s: f64, drive_seed: u64) -> Result<Localiser> {
        let problems = options.problems();
        if !problems.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "localise: {}",
                problems.join("; ")
            )));
        }
        let mut options = options.clone();
        options.seed = fnv1a(&[&options.seed.to_le_bytes(), &drive_seed.to_le_bytes()]);
        Ok(Localiser {
            dt_s,
            gps: GpsFix::new(
                options.gps,
                fnv1a(&[b"localise", &options.seed.to_le_bytes()]),
            ),
            odometry: Odometry::new(
                options.odometry,
                fnv1a(&[b"localise odometry", &options.seed.to_le_bytes()]),
            ),
            filters: None,
            last: None,
            tick: 0,
            gps_every: ((options.gps.correlation_s / dt_s).round() as u64).max(1),
            options,
        })
    }

    /// The filter that uses the network (after the first tick).
    pub fn filter(&self) -> Option<&ParticleFilter> {
        self.filters.as_ref().map(|f| &f.0)
    }

    /// Whether the network is asked at this tick.
    pub fn wants_network(&self) -> bool {
        self.tick % self.options.every_ticks == 0
    }

    /// Advances by one tick at the true pose `truth`; `likelihood` gives ln p(observation |
    /// pose) for candidate poses (`None`: no evidence this tick). It is only called when
    /// [`Localiser::wants_network`] says so.
    pub fn tick(
        &mut self,
        truth: Pose,
        likelihood: &mut dyn FnMut(&[Pose]) -> Result<Option<Vec<f64>>>,
    ) -> Result<TickEstimates> {
        if self.tick > 0 {
            self.gps.step(self.dt_s);
        }
        let state = VehicleState {
            position: truth.position,
            heading: truth.heading,
            ..VehicleState::default()
        };
        let (position, heading) = self.gps.fix(&state);
        let fix = Pose { position, heading };
        let sigma = (
            self.options.gps.position_m,
            self.options.gps.heading_deg.max(1.0).to_radians(),
        );
        let seed = fnv1a(&[b"particles", &self.options.seed.to_le_bytes()]);
        let (with, without) = self.filters.get_or_insert_with(|| {
            (
                ParticleFilter::new(fix, sigma, &self.options, seed),
                ParticleFilter::new(fix, sigma, &self.options, seed),
            )
        });
        if let Some(last) = self.last {
            if truth.position.distance(last.position) > TELEPORT_M {
                // The car was put somewhere else (a safety driver's reset, which the car is
                // told of): start again from the fix.
                self.odometry.restart();
                self.odometry.measure(&state, self.dt_s);
                *with = ParticleFilter::new(fix, sigma, &self.options, seed ^ self.tick);
                *without = ParticleFilter::new(fix, sigma, &self.options, seed ^ self.tick);
            } else {
                // The filters read the odometry, errors and all; never the true motion.
                let reading = self.odometry.measure(&state, self.dt_s);
                with.predict(&reading);
                without.predict(&reading);
            }
        } else {
            self.odometry.measure(&state, self.dt_s);
        }
        if self.tick > 0 && self.tick % self.gps_every == 0 {
            for f in [&mut *with, &mut *without] {
                f.weigh_by_fix(fix, sigma);
            }
        }
        if self.tick % self.options.every_ticks == 0
            && let Some(l) = likelihood(&with.particles)?
        {
            let scaled: Vec<f64> = l.iter().map(|x| x * self.options.network_weight).collect();
            with.update(&scaled);
        }
        let point = TickEstimates {
            t_s: self.tick as f64 * self.dt_s,
            truth,
            fix,
            with_network: with.mean(),
            without_network: without.mean(),
            spread_m: with.spread_m(),
        };
        self.last = Some(truth);
        self.tick += 1;
        Ok(point)
    }
}
