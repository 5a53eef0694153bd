//! Closed-loop driving metrics as the field reports them: PilotNet's autonomy (Bojarski et al.
//! 2016), interventions per km, lateral offset and heading error, VISTA-style crashes and
//! distance to the first crash (Amini et al. 2020), steering whiteness, and, for a stochastic
//! policy, the likelihood of the expert's action and the calibration of the policy's whole
//! mixture (probability integral transform, [`Calibration`]).

use crate::drive::junctions::JunctionStats;
use crate::nn::{Calibration, SpeedDistribution, SteeringDistribution};
use crate::sim::Crash;
use serde::{Deserialize, Serialize};

/// When an intervention happens and what it costs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterventionRule {
    /// |lateral offset| above which a safety driver takes over, metres (PilotNet: 1 m).
    pub max_offset_m: f64,
    /// Time charged per intervention in the autonomy figure, seconds (PilotNet: 6 s).
    pub penalty_s: f64,
}

impl Default for InterventionRule {
    fn default() -> Self {
        Self {
            max_offset_m: 1.0,
            penalty_s: 6.0,
        }
    }
}

/// Who keeps the car on the road during a scored drive.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Supervision {
    /// A safety driver puts the car back on the centreline whenever the rule calls for it
    /// (PilotNet's evaluation); crashes are counted but the drive goes on.
    SafetyDriver(InterventionRule),
    /// Nobody: the drive ends at the first crash (VISTA's evaluation, `eval --free`).
    Free,
}

impl Default for Supervision {
    fn default() -> Self {
        Supervision::SafetyDriver(InterventionRule::default())
    }
}

/// What happened in one tick, as the metrics need it.
#[derive(Clone, Copy, Debug)]
pub struct TickOutcome<'a> {
    pub dt_s: f64,
    /// Path length driven this tick, metres.
    pub distance_m: f64,
    /// Lateral offset and heading error after the tick.
    pub lateral_offset_m: f64,
    pub heading_error_rad: f64,
    /// The crash the car is in after the tick (off the road or touching a prop), if any.
    pub crash: Option<Crash>,
    /// The curvature applied during the tick, 1/m.
    pub applied_curvature_per_m: f64,
    /// The expert's curvature for the state the policy saw, 1/m.
    pub expert_curvature_per_m: f64,
    /// The policy's distribution for that state (absent when the expert drove).
    pub distribution: Option<&'a SteeringDistribution>,
    /// When the policy set the speed: its mixture over target speed, the speed it chose and
    /// the expert's, m/s.
    pub speed: Option<SpeedOutcome<'a>>,
}

/// The speed a policy chose at a tick, beside the expert's.
#[derive(Clone, Copy, Debug)]
pub struct SpeedOutcome<'a> {
    pub distribution: &'a SpeedDistribution,
    pub applied_m_s: f64,
    pub expert_m_s: f64,
}

/// What the supervision makes of a tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Continue,
    /// The safety driver takes over: the caller puts the car back on the centreline.
    Intervene,
    /// Unsupervised and crashed: the drive is over.
    Stop,
}

/// The first crash of a drive.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FirstCrash {
    pub cause: Crash,
    /// Distance and time driven when it happened.
    pub distance_m: f64,
    pub time_s: f64,
}

/// Running sums over a drive.
#[derive(Clone, Debug, Default)]
pub struct DriveSums {
    supervision: Supervision,
    ticks: u64,
    elapsed_s: f64,
    distance_m: f64,
    interventions: u32,
    crashes: u32,
    crashed: bool,
    first_crash: Option<FirstCrash>,
    sum_abs_offset_m: f64,
    max_abs_offset_m: f64,
    sum_abs_heading_rad: f64,
    sum_abs_curvature_rate: f64,
    rate_ticks: u64,
    previous_curvature: Option<f64>,
    nll_sum: f64,
    calibration: Calibration,
    speed_calibration: Calibration,
    sum_abs_speed_error_m_s: f64,
}

/// The summary of a drive.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub supervision: Supervision,
    /// Junction passages by manoeuvre, in a town (whether the car left on its route's road).
    #[serde(default)]
    pub junctions: JunctionStats,
    /// PilotNet autonomy: (1 − interventions · penalty / elapsed) · 100, floored at 0
    /// (100 without a safety driver, who never intervenes).
    pub autonomy_pct: f64,
    pub interventions: u32,
    pub interventions_per_km: f64,
    pub distance_km: f64,
    pub elapsed_s: f64,
    pub ticks: u64,
    pub mean_abs_offset_m: f64,
    pub max_abs_offset_m: f64,
    pub mean_abs_heading_error_rad: f64,
    /// Crashes (a wheel off the paved road, or the body touching a prop), once per contact.
    pub crashes: u32,
    /// The first crash, when there was one.
    pub first_crash: Option<FirstCrash>,
    /// Mean |dκ/dt| of the applied curvature over `rate_ticks` tick pairs, 1/(m·s): how
    /// jerky the steering is.
    pub whiteness_per_m_s: f64,
    pub rate_ticks: u64,
    /// Ticks on which the policy's distribution was scored against the expert.
    pub scored_ticks: u64,
    /// Mean negative log-likelihood of the expert's curvature under the policy (nats).
    pub expert_nll: Option<f64>,
    /// Share of expert curvatures inside the policy's central 68.3 % and 95.4 % intervals
    /// (calibrated: 0.683 and 0.954), and the PIT calibration error (calibrated: 0).
    pub coverage_1_sigma: Option<f64>,
    pub coverage_2_sigma: Option<f64>,
    pub calibration_error: Option<f64>,
    /// The counts the three figures above come from (PIT histogram).
    pub calibration: Calibration,
    /// Route completion, for drives in a town without a safety driver (`--free`), as on
    /// CARLA's leaderboard: the route distance planned, and the distance driven before the
    /// drive ended at its first crash or its first departure from the route, km.
    #[serde(default)]
    pub route_planned_km: f64,
    #[serde(default)]
    pub route_completed_km: f64,
    /// Free drives that ended by leaving the route (a wrong exit, or driving off its lane).
    #[serde(default)]
    pub left_route: u32,
    /// In a town: where the safety driver took over.
    #[serde(default)]
    pub intervention_places: InterventionPlaces,
    /// In a town: how much of the expert's curvature the policy commanded, by place and by
    /// whether the car was on its path.
    #[serde(default)]
    pub steering_gains: SteeringGains,
    /// Drives that ended because the car stood still for [`STALL_S`] (blocked: a locked
    /// junction, a car that never moves on), and where the first one stood.
    #[serde(default)]
    pub stalls: u32,
    #[serde(default)]
    pub stall: Option<String>,
    /// Drives that ran out of time before they had driven their distance.
    #[serde(default)]
    pub timed_out: u32,
    /// When the policy set the speed: the calibration of its mixture over target speed
    /// against the expert's speed (PIT counts; its ticks are `speed_calibration.count()`),
    /// the shares of expert speeds inside its central 68.3 % and 95.4 % intervals, and the
    /// mean |chosen − expert| target speed, m/s.
    #[serde(default)]
    pub speed_calibration: Calibration,
    #[serde(default)]
    pub speed_coverage_1_sigma: Option<f64>,
    #[serde(default)]
    pub speed_coverage_2_sigma: Option<f64>,
    #[serde(default)]
    pub mean_abs_speed_error_m_s: Option<f64>,
}

/// A car that stands still this long has stalled: its drive ends as a failure, seconds.
pub const STALL_S: f64 = 60.0;
pub use crate::sim::vehicle::STANDING_M_S;

/// Where on its route a car was when the safety driver took over: on a road away from
/// junctions, on the approach to one (within [`crate::sim::map_input::COMMAND_RANGE_M`] of it,
/// where the navigation command names its manoeuvre), or inside one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterventionPlaces {
    pub road: u32,
    pub approach: u32,
    pub junction: u32,
}

impl InterventionPlaces {
    /// Counts one intervention at a car's place on its route.
    pub fn count(&mut self, route: &crate::sim::route_path::RoutePosition) {
        *at_place(
            route,
            &mut self.road,
            &mut self.approach,
            &mut self.junction,
        ) += 1;
    }

    pub fn merge(&mut self, other: &InterventionPlaces) {
        self.road += other.road;
        self.approach += other.approach;
        self.junction += other.junction;
    }
}

/// Of `road`, `approach` and `junction`, the one for a car's place on its route: inside a
/// junction, within [`crate::sim::map_input::COMMAND_RANGE_M`] before one, or elsewhere.
fn at_place<'a, T>(
    route: &crate::sim::route_path::RoutePosition,
    road: &'a mut T,
    approach: &'a mut T,
    junction: &'a mut T,
) -> &'a mut T {
    if route.in_junction {
        junction
    } else if route.distance_to_junction_m <= crate::sim::map_input::COMMAND_RANGE_M {
        approach
    } else {
        road
    }
}

/// A car this close to its path (lateral offset, metres, and heading error, radians) is on it
/// for [`SteeringGains`]; farther, the expert's label is mostly its correction back.
pub const ON_PATH_M: f64 = 0.25;
pub const ON_PATH_RAD: f64 = 0.05;

/// The policy's commanded curvature regressed on the expert's label through the origin:
/// Σ policy·expert / Σ expert² over the ticks the policy steered (1: it steers as much as the
/// expert asks, 0: it ignores it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GainSums {
    pub ticks: u64,
    pub policy_times_expert: f64,
    pub expert_squared: f64,
}

impl GainSums {
    /// The gain, when the expert asked for any curvature at all (Σ expert² of at least
    /// 0.02 1/m held for 10 ticks).
    pub fn gain(&self) -> Option<f64> {
        (self.expert_squared >= 10.0 * 0.02f64.powi(2))
            .then(|| self.policy_times_expert / self.expert_squared)
    }

    fn add(&mut self, policy: f64, expert: f64) {
        self.ticks += 1;
        self.policy_times_expert += policy * expert;
        self.expert_squared += expert * expert;
    }

    fn merge(&mut self, other: &GainSums) {
        self.ticks += other.ticks;
        self.policy_times_expert += other.policy_times_expert;
        self.expert_squared += other.expert_squared;
    }
}

/// [`GainSums`] on a road, on the approach to a junction and inside one (the places of
/// [`InterventionPlaces`]), each on the car's path and off it ([`ON_PATH_M`], [`ON_PATH_RAD`]).
/// A policy that follows the road but does not steer back to its path where the paint ends
/// shows a gain near 1 on the path and far below it off the path, inside junctions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SteeringGains {
    pub road: [GainSums; 2],
    pub approach: [GainSums; 2],
    pub junction: [GainSums; 2],
}

impl SteeringGains {
    /// Counts a tick the policy steered `policy` (1/m) where the expert's label was `expert`.
    pub fn count(
        &mut self,
        route: &crate::sim::route_path::RoutePosition,
        lateral_offset_m: f64,
        heading_error_rad: f64,
        policy: f64,
        expert: f64,
    ) {
        let place = at_place(
            route,
            &mut self.road,
            &mut self.approach,
            &mut self.junction,
        );
        let off = lateral_offset_m.abs() >= ON_PATH_M || heading_error_rad.abs() >= ON_PATH_RAD;
        place[off as usize].add(policy, expert);
    }

    pub fn merge(&mut self, other: &SteeringGains) {
        for (mine, theirs) in [
            (&mut self.road, &other.road),
            (&mut self.approach, &other.approach),
            (&mut self.junction, &other.junction),
        ] {
            mine[0].merge(&theirs[0]);
            mine[1].merge(&theirs[1]);
        }
    }

    /// Whether any tick was counted.
    pub fn is_empty(&self) -> bool {
        [self.road, self.approach, self.junction]
            .iter()
            .all(|p| p[0].ticks + p[1].ticks == 0)
    }
}

impl DriveSums {
    pub fn new(supervision: Supervision) -> Self {
        Self {
            supervision,
            ..Self::default()
        }
    }

    /// Adds one tick; returns what the supervision does next.
    pub fn tick(&mut self, t: &TickOutcome) -> Verdict {
        self.ticks += 1;
        self.elapsed_s += t.dt_s;
        self.distance_m += t.distance_m;
        let offset = t.lateral_offset_m.abs();
        self.sum_abs_offset_m += offset;
        self.max_abs_offset_m = self.max_abs_offset_m.max(offset);
        self.sum_abs_heading_rad += t.heading_error_rad.abs();
        if let Some(cause) = t.crash {
            if !self.crashed {
                self.crashes += 1;
            }
            self.first_crash.get_or_insert(FirstCrash {
                cause,
                distance_m: self.distance_m,
                time_s: self.elapsed_s,
            });
        }
        self.crashed = t.crash.is_some();
        if let Some(previous) = self.previous_curvature {
            self.sum_abs_curvature_rate +=
                (t.applied_curvature_per_m - previous).abs() / t.dt_s.max(1e-9);
            self.rate_ticks += 1;
        }
        self.previous_curvature = Some(t.applied_curvature_per_m);
        if let Some(d) = t.distribution {
            let x = t.expert_curvature_per_m;
            self.nll_sum -= d.log_prob(x);
            self.calibration.add(d, x);
        }
        if let Some(s) = &t.speed {
            self.speed_calibration.add(s.distribution, s.expert_m_s);
            self.sum_abs_speed_error_m_s += (s.applied_m_s - s.expert_m_s).abs();
        }
        match self.supervision {
            Supervision::Free if self.crashed => Verdict::Stop,
            Supervision::Free => Verdict::Continue,
            Supervision::SafetyDriver(rule) if offset > rule.max_offset_m => {
                self.interventions += 1;
                // The car restarts on the centreline: no steering history, no contact.
                self.previous_curvature = None;
                self.crashed = false;
                Verdict::Intervene
            }
            Supervision::SafetyDriver(_) => Verdict::Continue,
        }
    }

    pub fn metrics(&self) -> Metrics {
        let scored = self.calibration.count();
        Metrics {
            supervision: self.supervision,
            interventions: self.interventions,
            distance_km: self.distance_m / 1000.0,
            elapsed_s: self.elapsed_s,
            ticks: self.ticks,
            mean_abs_offset_m: per(self.sum_abs_offset_m, self.ticks),
            max_abs_offset_m: self.max_abs_offset_m,
            mean_abs_heading_error_rad: per(self.sum_abs_heading_rad, self.ticks),
            crashes: self.crashes,
            first_crash: self.first_crash,
            whiteness_per_m_s: per(self.sum_abs_curvature_rate, self.rate_ticks),
            rate_ticks: self.rate_ticks,
            scored_ticks: scored,
            expert_nll: (scored > 0).then(|| self.nll_sum / scored as f64),
            calibration: self.calibration.clone(),
            mean_abs_speed_error_m_s: (self.speed_calibration.count() > 0)
                .then(|| self.sum_abs_speed_error_m_s / self.speed_calibration.count() as f64),
            speed_calibration: self.speed_calibration.clone(),
            ..Metrics::default()
        }
        .with_derived()
    }
}

fn per(sum: f64, n: u64) -> f64 {
    if n == 0 { 0.0 } else { sum / n as f64 }
}

impl Metrics {
    /// Fills the figures derived from the others: autonomy, interventions per km, coverage.
    fn with_derived(mut self) -> Self {
        let penalty_s = match self.supervision {
            Supervision::SafetyDriver(rule) => rule.penalty_s,
            Supervision::Free => 0.0,
        };
        self.autonomy_pct = if self.elapsed_s > 0.0 {
            ((1.0 - self.interventions as f64 * penalty_s / self.elapsed_s) * 100.0).max(0.0)
        } else {
            100.0
        };
        self.interventions_per_km = if self.distance_km > 0.0 {
            self.interventions as f64 / self.distance_km
        } else {
            0.0
        };
        self.coverage_1_sigma = self.calibration.coverage_1_sigma();
        self.coverage_2_sigma = self.calibration.coverage_2_sigma();
        self.calibration_error = self.calibration.pit_calibration_error();
        self.speed_coverage_1_sigma = self.speed_calibration.coverage_1_sigma();
        self.speed_coverage_2_sigma = self.speed_calibration.coverage_2_sigma();
        self
    }

    /// Route completion in percent (free drives in a town; `None` elsewhere).
    pub fn route_completion_pct(&self) -> Option<f64> {
        (self.route_planned_km > 0.0)
            .then(|| 100.0 * (self.route_completed_km / self.route_planned_km).min(1.0))
    }

    /// Kilometres driven per crash: the total distance over the number of crashes (the rate's
    /// maximum-likelihood estimate when drives end at their first crash); `None` without one.
    pub fn km_per_crash(&self) -> Option<f64> {
        (self.crashes > 0).then(|| self.distance_km / self.crashes as f64)
    }
}

/// Metrics over several drives with the same supervision: counts and sums re-derived from
/// each drive's figures, each mean weighted by what it is a mean over (ticks, scored ticks,
/// steering-rate ticks). Drives have first crashes of their own; their combination has none.
pub fn combine(parts: &[Metrics]) -> Metrics {
    let weighted = |f: &dyn Fn(&Metrics) -> (f64, u64)| {
        let (sum, n) = parts
            .iter()
            .map(f)
            .fold((0.0, 0u64), |(s, n), (v, k)| (s + v * k as f64, n + k));
        (per(sum, n), n)
    };
    let mut calibration = Calibration::default();
    let mut speed_calibration = Calibration::default();
    let mut junctions = JunctionStats::default();
    let mut intervention_places = InterventionPlaces::default();
    let mut steering_gains = SteeringGains::default();
    for m in parts {
        calibration.merge(&m.calibration);
        speed_calibration.merge(&m.speed_calibration);
        junctions.merge(&m.junctions);
        intervention_places.merge(&m.intervention_places);
        steering_gains.merge(&m.steering_gains);
    }
    let (nll, scored) = weighted(&|m| (m.expert_nll.unwrap_or(0.0), m.scored_ticks));
    let (whiteness, rate_ticks) = weighted(&|m| (m.whiteness_per_m_s, m.rate_ticks));
    let (speed_error, speed_ticks) = weighted(&|m| {
        let n = m.speed_calibration.count();
        (m.mean_abs_speed_error_m_s.unwrap_or(0.0), n)
    });
    Metrics {
        supervision: parts.first().map(|m| m.supervision).unwrap_or_default(),
        interventions: parts.iter().map(|m| m.interventions).sum(),
        distance_km: parts.iter().map(|m| m.distance_km).sum(),
        elapsed_s: parts.iter().map(|m| m.elapsed_s).sum(),
        ticks: parts.iter().map(|m| m.ticks).sum(),
        mean_abs_offset_m: weighted(&|m| (m.mean_abs_offset_m, m.ticks)).0,
        max_abs_offset_m: parts.iter().map(|m| m.max_abs_offset_m).fold(0.0, f64::max),
        mean_abs_heading_error_rad: weighted(&|m| (m.mean_abs_heading_error_rad, m.ticks)).0,
        crashes: parts.iter().map(|m| m.crashes).sum(),
        whiteness_per_m_s: whiteness,
        rate_ticks,
        scored_ticks: scored,
        expert_nll: (scored > 0).then_some(nll),
        calibration,
        junctions,
        route_planned_km: parts.iter().map(|m| m.route_planned_km).sum(),
        route_completed_km: parts.iter().map(|m| m.route_completed_km).sum(),
        left_route: parts.iter().map(|m| m.left_route).sum(),
        intervention_places,
        steering_gains,
        stalls: parts.iter().map(|m| m.stalls).sum(),
        stall: parts.iter().find_map(|m| m.stall.clone()),
        timed_out: parts.iter().map(|m| m.timed_out).sum(),
        speed_calibration,
        mean_abs_speed_error_m_s: (speed_ticks > 0).then_some(speed_error),
        ..Metrics::default()
    }
    .with_derived()
}
