//! The privileged expert: pure pursuit on the track centreline, with optional seeded
//! Gaussian action noise (DART, Laskey et al. 2017) so recordings show how to recover.

use crate::sim::math::standard_normal;
pub use crate::sim::pursuit::ExpertConfig;
use crate::sim::pursuit::pursuit_curvature;
use crate::sim::simulation::AgentState;
use crate::sim::track::Track;
use crate::sim::vehicle::Action;
use rand::{SeedableRng, rngs::StdRng};

/// What the expert decided for one tick.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExpertAction {
    /// The clean pure-pursuit action: the training label.
    pub label: Action,
    /// The action to execute: the label plus DART noise when noise is on.
    pub applied: Action,
}

/// Pure pursuit toward the centreline point one look-ahead distance ahead.
#[derive(Debug)]
pub struct Expert {
    pub config: ExpertConfig,
    /// Standard deviation of the curvature noise, 1/m (0 disables noise).
    pub noise_std_per_m: f64,
    /// How much of the last tick's noise carries into the next (0: white noise; e^(−dt/τ):
    /// an Ornstein–Uhlenbeck process of correlation time τ and the same standard deviation).
    noise_keep: f64,
    noise: f64,
    /// Standard deviation of the speed noise, m/s (0 disables it), with the same correlation.
    speed_noise_m_s: f64,
    speed_offset_m_s: f64,
    rng: StdRng,
}

impl Expert {
    pub fn new(config: ExpertConfig, noise_std_per_m: f64, seed: u64) -> Self {
        Self {
            config,
            noise_std_per_m,
            noise_keep: 0.0,
            noise: 0.0,
            speed_noise_m_s: 0.0,
            speed_offset_m_s: 0.0,
            rng: StdRng::seed_from_u64(seed ^ 0xDA27_0000_0000_0001),
        }
    }

    /// DART noise correlated over `correlation_s` (ticks of `dt_s`): the car wanders off its
    /// line for about that long, as a learner does, and the labels show the way back. 0 keeps
    /// white noise, which the expert corrects within a tick or two.
    pub fn with_noise_correlation(mut self, correlation_s: f64, dt_s: f64) -> Self {
        self.noise_keep = if correlation_s > 0.0 {
            (-dt_s / correlation_s).exp()
        } else {
            0.0
        };
        self
    }

    /// The clean action for a car in `agent` state on `track` cruising at `cruise_speed_m_s`.
    /// The expert is privileged: it reads the car's place on the track (`s_m`) from the state.
    pub fn label(&self, track: &Track, agent: &AgentState, cruise_speed_m_s: f64) -> Action {
        self.labels(track, agent, cruise_speed_m_s).0
    }

    /// The clean action ([`Expert::label`]) and the target speed a speed policy learns: cruise
    /// speed, slowed for curves, and in traffic the speed the car ahead and the junction rule
    /// would have the car at a second from now ([`AgentState::speed_target_m_s`]), where the
    /// action's speed is next tick's.
    pub fn labels(
        &self,
        track: &Track,
        agent: &AgentState,
        cruise_speed_m_s: f64,
    ) -> (Action, f64) {
        let c = &self.config;
        let state = &agent.vehicle;
        let target = track
            .at(agent.s_m + c.lookahead_m(state.speed_m_s))
            .position;
        let curvature = pursuit_curvature(state, target);
        // In traffic, the car ahead or a junction it must wait at may allow less.
        let cap = |v: Option<f64>| v.unwrap_or(f64::INFINITY);
        let free = self.free_speed(track, agent, cruise_speed_m_s);
        (
            Action::new(curvature, free.min(cap(agent.speed_cap_m_s))),
            free.min(cap(agent.speed_target_m_s)),
        )
    }

    /// Cruise speed, slowed for the sharpest curve within the preview horizon.
    fn free_speed(&self, track: &Track, agent: &AgentState, cruise_speed_m_s: f64) -> f64 {
        let c = &self.config;
        let preview = (cruise_speed_m_s * c.speed_preview_s).max(1.0);
        let mut max_k: f64 = 0.0;
        let mut d = 0.0;
        while d <= preview {
            max_k = max_k.max(track.at(agent.s_m + d).curvature_per_m.abs());
            d += 1.0;
        }
        let curve_speed = if max_k > 1e-6 {
            (c.max_lateral_accel_m_s2 / max_k).sqrt()
        } else {
            f64::INFINITY
        };
        cruise_speed_m_s.min(curve_speed)
    }

    /// DART noise on the speed too, of standard deviation `std_m_s` with the curvature
    /// noise's correlation: the car follows closer and faster, or further and slower, than the
    /// expert would, and the labels (clean) show how to brake and how to pull away, which an
    /// expert that never errs does not. Where the label slows the car the noise only ever slows
    /// it more (it reaches what it slows for faster than the expert would as it closes in,
    /// not once the expert brakes), and the speed never goes below 0.
    pub fn with_speed_noise(mut self, std_m_s: f64) -> Self {
        self.speed_noise_m_s = std_m_s.max(0.0);
        self
    }

    /// The label and the action to apply (label plus seeded DART noise).
    pub fn act(
        &mut self,
        track: &Track,
        agent: &AgentState,
        cruise_speed_m_s: f64,
    ) -> ExpertAction {
        let label = self.label(track, agent, cruise_speed_m_s);
        self.perturb(label, agent.vehicle.speed_m_s)
    }

    /// The action to apply for a `label` already computed (e.g. `Observation::info`) for a car
    /// at `speed_m_s` now: the label plus seeded DART noise on the curvature and, where speed
    /// noise is on, on the speed.
    pub fn perturb(&mut self, label: Action, speed_m_s: f64) -> ExpertAction {
        let mut applied = label;
        let k = self.noise_keep;
        if self.noise_std_per_m > 0.0 {
            self.noise = k * self.noise
                + (1.0 - k * k).sqrt() * self.noise_std_per_m * standard_normal(&mut self.rng);
            applied.curvature_per_m += self.noise;
        }
        if self.speed_noise_m_s > 0.0 {
            self.speed_offset_m_s = k * self.speed_offset_m_s
                + (1.0 - k * k).sqrt() * self.speed_noise_m_s * standard_normal(&mut self.rng);
            // Where the label slows the car (for a car ahead, a junction, a bend), it is only
            // ever slowed more: a faster command there runs into what it slows for.
            let braking = label.speed_m_s < 0.5 || label.speed_m_s < speed_m_s - 0.1;
            let offset = match braking {
                true => self.speed_offset_m_s.min(0.0),
                false => self.speed_offset_m_s,
            };
            applied.speed_m_s = (label.speed_m_s + offset).max(0.0);
        }
        ExpertAction { label, applied }
    }
}
