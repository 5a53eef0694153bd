//! The privileged expert: pure pursuit on the track centreline, with optional seeded
//! Gaussian action noise (DART, Laskey et al. 2017) so recordings show how to recover.

use crate::sim::math::standard_normal;
pub use crate::sim::pursuit::ExpertConfig;
use crate::sim::pursuit::pursuit_curvature;
use crate::sim::simulation::AgentState;
use crate::sim::track::Track;
use crate::sim::vehicle::Action;
use rand::{SeedableRng, rngs::StdRng};

/// DART noise (Laskey et al. 2017) on what the expert applies; its labels stay clean.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DartNoise {
    /// Standard deviation of the curvature noise, 1/m (0: none).
    pub std_per_m: f64,
    /// Correlation time of the noise, seconds (0: white noise; otherwise an
    /// Ornstein–Uhlenbeck process of this correlation time and the same standard deviation).
    pub correlation_s: f64,
    /// Standard deviation of the speed noise, m/s (0: none), with the same correlation.
    pub speed_m_s: f64,
    /// Factor on the curvature noise inside a junction and on the last
    /// [`JUNCTION_NOISE_LEAD_M`] before it: where a learner drifts off a turn path that no paint
    /// marks, the drives wander further and the labels show the way back more often.
    pub junction_scale: f64,
}

/// How far before a junction's turn path [`DartNoise::junction_scale`] starts, metres.
pub const JUNCTION_NOISE_LEAD_M: f64 = 10.0;

impl DartNoise {
    /// The largest [`DartNoise::junction_scale`] a caller may ask for.
    pub const JUNCTION_SCALE_MAX: f64 = 10.0;

    /// No noise: the expert applies its labels.
    pub const NONE: DartNoise = DartNoise {
        std_per_m: 0.0,
        correlation_s: 0.0,
        speed_m_s: 0.0,
        junction_scale: 1.0,
    };

    /// White curvature noise of `std_per_m`, the same everywhere, and none on the speed.
    pub fn white(std_per_m: f64) -> DartNoise {
        DartNoise {
            std_per_m,
            ..DartNoise::NONE
        }
    }
}

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
    pub noise: DartNoise,
    /// How much of the last tick's noise carries into the next (0: white noise; e^(−dt/τ)).
    noise_keep: f64,
    curvature_noise: f64,
    speed_offset_m_s: f64,
    rng: StdRng,
}

impl Expert {
    /// An expert that applies its labels (no noise).
    pub fn new(config: ExpertConfig, seed: u64) -> Self {
        Self {
            config,
            noise: DartNoise::NONE,
            noise_keep: 0.0,
            curvature_noise: 0.0,
            speed_offset_m_s: 0.0,
            rng: StdRng::seed_from_u64(seed ^ 0xDA27_0000_0000_0001),
        }
    }

    /// DART noise on what it applies, in ticks of `dt_s`. Correlated noise makes the car
    /// wander off its line for about the correlation time, as a learner does, and the labels
    /// show the way back; white noise is corrected within a tick or two. On the speed, the car
    /// follows closer and faster, or further and slower, than the expert would, and the labels
    /// show how to brake and how to pull away, which an expert that never errs does not.
    pub fn with_noise(mut self, noise: DartNoise, dt_s: f64) -> Self {
        self.noise_keep = if noise.correlation_s > 0.0 {
            (-dt_s / noise.correlation_s).exp()
        } else {
            0.0
        };
        self.noise = DartNoise {
            speed_m_s: noise.speed_m_s.max(0.0),
            ..noise
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

    /// The label and the action to apply (label plus seeded DART noise).
    pub fn act(
        &mut self,
        track: &Track,
        agent: &AgentState,
        cruise_speed_m_s: f64,
    ) -> ExpertAction {
        let label = self.label(track, agent, cruise_speed_m_s);
        self.perturb(label, agent)
    }

    /// The action to apply for a `label` already computed (e.g. `Observation::info`) for a car
    /// in `agent` state now: the label plus seeded DART noise on the curvature (scaled by
    /// [`DartNoise::junction_scale`] in and just before a junction of its route) and, where
    /// speed noise is on, on the speed. Where the label slows the car the speed noise only
    /// ever slows it more (it reaches what it slows for faster than the expert would as it
    /// closes in, not once the expert brakes), and the speed never goes below 0.
    pub fn perturb(&mut self, label: Action, agent: &AgentState) -> ExpertAction {
        let mut applied = label;
        let k = self.noise_keep;
        let noise = self.noise;
        if noise.std_per_m > 0.0 {
            self.curvature_noise = k * self.curvature_noise
                + (1.0 - k * k).sqrt() * noise.std_per_m * standard_normal(&mut self.rng);
            let near_junction = agent.route.as_ref().is_some_and(|r| {
                r.in_junction || r.distance_to_junction_m <= JUNCTION_NOISE_LEAD_M
            });
            let scale = if near_junction {
                noise.junction_scale
            } else {
                1.0
            };
            applied.curvature_per_m += scale * self.curvature_noise;
        }
        let speed_m_s = agent.vehicle.speed_m_s;
        if noise.speed_m_s > 0.0 {
            self.speed_offset_m_s = k * self.speed_offset_m_s
                + (1.0 - k * k).sqrt() * noise.speed_m_s * standard_normal(&mut self.rng);
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
