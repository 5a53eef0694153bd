//! Closed-loop driving metrics as the field reports them: PilotNet's autonomy (Bojarski et al.
//! 2016), interventions per km, lateral offset and heading error, VISTA-style crashes and
//! steering whiteness (Amini et al. 2020), and, for a stochastic policy, the likelihood of the
//! expert's action and the calibration of the policy's distribution.

use crate::nn::SteeringDistribution;
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

/// What happened in one tick, as the metrics need it.
#[derive(Clone, Copy, Debug)]
pub struct TickOutcome<'a> {
    pub dt_s: f64,
    /// Path length driven this tick, metres.
    pub distance_m: f64,
    /// Lateral offset and heading error after the tick.
    pub lateral_offset_m: f64,
    pub heading_error_rad: f64,
    pub road_half_width_m: f64,
    /// The curvature applied during the tick, 1/m.
    pub applied_curvature_per_m: f64,
    /// The expert's curvature for the state the policy saw, 1/m.
    pub expert_curvature_per_m: f64,
    /// The policy's distribution for that state (absent when the expert drove).
    pub distribution: Option<&'a SteeringDistribution>,
}

/// Running sums over a drive.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    rule: InterventionRule,
    ticks: u64,
    elapsed_s: f64,
    distance_m: f64,
    interventions: u32,
    crashes: u32,
    crashed: bool,
    sum_abs_offset_m: f64,
    max_abs_offset_m: f64,
    sum_abs_heading_rad: f64,
    sum_abs_curvature_rate: f64,
    rate_ticks: u64,
    previous_curvature: Option<f64>,
    nll_sum: f64,
    scored: u64,
    within_1: u64,
    within_2: u64,
}

/// The summary of a drive.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// PilotNet autonomy: (1 − interventions · penalty / elapsed) · 100, floored at 0.
    pub autonomy_pct: f64,
    pub interventions: u32,
    pub interventions_per_km: f64,
    pub distance_km: f64,
    pub elapsed_s: f64,
    pub ticks: u64,
    pub mean_abs_offset_m: f64,
    pub max_abs_offset_m: f64,
    pub mean_abs_heading_error_rad: f64,
    /// Times the car left the road (|offset| beyond half the road width), once per excursion.
    pub crashes: u32,
    /// Mean |dκ/dt| of the applied curvature, 1/(m·s): how jerky the steering is.
    pub whiteness_per_m_s: f64,
    /// Mean negative log-likelihood of the expert's curvature under the policy (nats).
    pub expert_nll: Option<f64>,
    /// Share of expert curvatures within 1σ and 2σ of the policy's most likely component
    /// (a calibrated Gaussian: 0.683 and 0.954).
    pub within_1_sigma: Option<f64>,
    pub within_2_sigma: Option<f64>,
}

impl Tally {
    pub fn new(rule: InterventionRule) -> Self {
        Self {
            rule,
            ..Self::default()
        }
    }

    /// Adds one tick; returns whether it calls for an intervention (the caller puts the car
    /// back on the centreline).
    pub fn tick(&mut self, t: &TickOutcome) -> bool {
        self.ticks += 1;
        self.elapsed_s += t.dt_s;
        self.distance_m += t.distance_m;
        let offset = t.lateral_offset_m.abs();
        self.sum_abs_offset_m += offset;
        self.max_abs_offset_m = self.max_abs_offset_m.max(offset);
        self.sum_abs_heading_rad += t.heading_error_rad.abs();
        let off_road = offset > t.road_half_width_m;
        if off_road && !self.crashed {
            self.crashes += 1;
        }
        self.crashed = off_road;
        if let Some(previous) = self.previous_curvature {
            self.sum_abs_curvature_rate +=
                (t.applied_curvature_per_m - previous).abs() / t.dt_s.max(1e-9);
            self.rate_ticks += 1;
        }
        self.previous_curvature = Some(t.applied_curvature_per_m);
        if let Some(d) = t.distribution {
            let x = t.expert_curvature_per_m;
            self.nll_sum -= d.log_prob(x);
            self.scored += 1;
            self.within_1 += d.within(x, 1.0) as u64;
            self.within_2 += d.within(x, 2.0) as u64;
        }
        let intervene = offset > self.rule.max_offset_m;
        if intervene {
            self.interventions += 1;
            // The car restarts on the centreline: no steering history, no excursion.
            self.previous_curvature = None;
            self.crashed = false;
        }
        intervene
    }

    pub fn metrics(&self) -> Metrics {
        let per = |sum: f64, n: u64| if n == 0 { 0.0 } else { sum / n as f64 };
        let scored = (self.scored > 0).then_some(self.scored);
        let autonomy = if self.elapsed_s > 0.0 {
            (1.0 - self.interventions as f64 * self.rule.penalty_s / self.elapsed_s) * 100.0
        } else {
            100.0
        };
        Metrics {
            autonomy_pct: autonomy.max(0.0),
            interventions: self.interventions,
            interventions_per_km: if self.distance_m > 0.0 {
                self.interventions as f64 / (self.distance_m / 1000.0)
            } else {
                0.0
            },
            distance_km: self.distance_m / 1000.0,
            elapsed_s: self.elapsed_s,
            ticks: self.ticks,
            mean_abs_offset_m: per(self.sum_abs_offset_m, self.ticks),
            max_abs_offset_m: self.max_abs_offset_m,
            mean_abs_heading_error_rad: per(self.sum_abs_heading_rad, self.ticks),
            crashes: self.crashes,
            whiteness_per_m_s: per(self.sum_abs_curvature_rate, self.rate_ticks),
            expert_nll: scored.map(|n| self.nll_sum / n as f64),
            within_1_sigma: scored.map(|n| self.within_1 as f64 / n as f64),
            within_2_sigma: scored.map(|n| self.within_2 as f64 / n as f64),
        }
    }
}

/// Metrics over several drives: sums re-derived from each drive's figures, weighted by time,
/// distance or ticks as each figure is defined.
pub fn combine(parts: &[Metrics], rule: InterventionRule) -> Metrics {
    let ticks: u64 = parts.iter().map(|m| m.ticks).sum();
    let elapsed: f64 = parts.iter().map(|m| m.elapsed_s).sum();
    let km: f64 = parts.iter().map(|m| m.distance_km).sum();
    let interventions: u32 = parts.iter().map(|m| m.interventions).sum();
    let by_ticks = |f: &dyn Fn(&Metrics) -> f64| {
        if ticks == 0 {
            0.0
        } else {
            parts.iter().map(|m| f(m) * m.ticks as f64).sum::<f64>() / ticks as f64
        }
    };
    let scored = |f: &dyn Fn(&Metrics) -> Option<f64>| {
        let with: Vec<(f64, u64)> = parts
            .iter()
            .filter_map(|m| f(m).map(|v| (v, m.ticks)))
            .collect();
        let n: u64 = with.iter().map(|w| w.1).sum();
        (n > 0).then(|| with.iter().map(|(v, t)| v * *t as f64).sum::<f64>() / n as f64)
    };
    let autonomy = if elapsed > 0.0 {
        (1.0 - interventions as f64 * rule.penalty_s / elapsed) * 100.0
    } else {
        100.0
    };
    Metrics {
        autonomy_pct: autonomy.max(0.0),
        interventions,
        interventions_per_km: if km > 0.0 {
            interventions as f64 / km
        } else {
            0.0
        },
        distance_km: km,
        elapsed_s: elapsed,
        ticks,
        mean_abs_offset_m: by_ticks(&|m| m.mean_abs_offset_m),
        max_abs_offset_m: parts.iter().map(|m| m.max_abs_offset_m).fold(0.0, f64::max),
        mean_abs_heading_error_rad: by_ticks(&|m| m.mean_abs_heading_error_rad),
        crashes: parts.iter().map(|m| m.crashes).sum(),
        whiteness_per_m_s: by_ticks(&|m| m.whiteness_per_m_s),
        expert_nll: scored(&|m| m.expert_nll),
        within_1_sigma: scored(&|m| m.within_1_sigma),
        within_2_sigma: scored(&|m| m.within_2_sigma),
    }
}
