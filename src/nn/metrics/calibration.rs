//! Calibration of a steering distribution against the expert's actions, through the
//! probability integral transform: for each labelled tick, `u = F(κ_expert)` under the
//! policy's whole mixture. A calibrated policy gives uniform `u` (Dawid 1984; Gneiting et al.
//! 2007): a flat PIT histogram, a share `p` of the actions inside the central interval of
//! probability `p`, and a calibration error of zero. A ∪-shaped histogram means an
//! over-confident policy, a ∩-shaped one an under-confident policy.

use crate::nn::models::distribution::SteeringDistribution;
use serde::{Deserialize, Serialize};

/// Bins of the PIT histogram over [0, 1].
pub const PIT_BINS: usize = 20;
/// Probability of the central ±1σ and ±2σ intervals of a Gaussian.
pub const LEVEL_1_SIGMA: f64 = 0.682_689_492_137_085_9;
pub const LEVEL_2_SIGMA: f64 = 0.954_499_736_103_641_6;

/// Counts from which every calibration figure is derived; counts add, so the figures of
/// several drives are those of their merged counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Ticks whose `u` fell in each of [`PIT_BINS`] equal bins of [0, 1].
    pub pit_histogram: Vec<u64>,
    /// Ticks whose expert action lay in the central interval of probability
    /// [`LEVEL_1_SIGMA`] and [`LEVEL_2_SIGMA`].
    pub inside_1_sigma: u64,
    pub inside_2_sigma: u64,
}

impl Default for Calibration {
    fn default() -> Self {
        Self {
            pit_histogram: vec![0; PIT_BINS],
            inside_1_sigma: 0,
            inside_2_sigma: 0,
        }
    }
}

impl Calibration {
    /// Adds one labelled tick: the policy's distribution and the expert's action.
    pub fn add(&mut self, distribution: &SteeringDistribution, expert: f64) {
        let u = distribution.cdf(expert);
        let bin = ((u * PIT_BINS as f64) as usize).min(PIT_BINS - 1);
        self.pit_histogram[bin] += 1;
        let centred = (u - 0.5).abs();
        self.inside_1_sigma += (centred <= LEVEL_1_SIGMA / 2.0) as u64;
        self.inside_2_sigma += (centred <= LEVEL_2_SIGMA / 2.0) as u64;
    }

    /// Ticks counted.
    pub fn count(&self) -> u64 {
        self.pit_histogram.iter().sum()
    }

    /// Adds another tally's counts.
    pub fn merge(&mut self, other: &Calibration) {
        for (a, b) in self.pit_histogram.iter_mut().zip(&other.pit_histogram) {
            *a += b;
        }
        self.inside_1_sigma += other.inside_1_sigma;
        self.inside_2_sigma += other.inside_2_sigma;
    }

    fn share(&self, n: u64) -> Option<f64> {
        let total = self.count();
        (total > 0).then(|| n as f64 / total as f64)
    }

    /// Share of expert actions inside the central 68.3 % interval (calibrated: 0.683).
    pub fn coverage_1_sigma(&self) -> Option<f64> {
        self.share(self.inside_1_sigma)
    }

    /// Share inside the central 95.4 % interval (calibrated: 0.954).
    pub fn coverage_2_sigma(&self) -> Option<f64> {
        self.share(self.inside_2_sigma)
    }

    /// The PIT calibration error of a regression (reports call it "PIT error"): the mean over
    /// the levels p = 1/20 … 19/20 of |share of ticks with u ≤ p − p| (Kuleshov et al. 2018's
    /// calibration error, absolute instead of squared). 0 when calibrated, 0.5 at most.
    pub fn pit_calibration_error(&self) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let mut below = 0u64;
        let mut sum = 0.0;
        for (j, count) in self.pit_histogram[..PIT_BINS - 1].iter().enumerate() {
            below += count;
            let p = (j + 1) as f64 / PIT_BINS as f64;
            sum += (below as f64 / total as f64 - p).abs();
        }
        Some(sum / (PIT_BINS - 1) as f64)
    }

    /// Interval calibration error: the mean over the levels p = 0.1 … 0.9 of |share of ticks
    /// inside the central interval of probability p − p| (the interval edges fall on the PIT
    /// histogram's bins). Unlike [`Calibration::pit_calibration_error`] it does not see
    /// which side of the interval an action falls on, so a policy whose actions lie to one
    /// side of the expert's (a bias no factor on the spread can remove) is not widened until
    /// every action falls inside its central interval. 0 when calibrated.
    pub fn interval_calibration_error(&self) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let half = PIT_BINS / 2;
        let levels = half - 1;
        let sum: f64 = (1..=levels)
            .map(|k| {
                let inside: u64 = self.pit_histogram[half - k..half + k].iter().sum();
                let p = k as f64 / half as f64;
                (inside as f64 / total as f64 - p).abs()
            })
            .sum();
        Some(sum / levels as f64)
    }
}

/// The factor on the standard deviations that calibrates `distributions` best against
/// `targets`: the one of least interval calibration error (each central interval holding its
/// share of the actions, as near as one factor makes it; Kuleshov et al. 2018 likewise fit
/// their recalibration to the empirical distribution of the PIT), searched over factors
/// 1/20 … 20 in steps of 1 %. A factor fitted by likelihood is pulled wide by the heavy tails of
/// a policy's errors (on the main job: 75 % inside the central 68 % interval), and one fitted
/// by the PIT's PIT calibration error by a bias (the policy's own drives put the expert's
/// action to the outside of the bend, where it corrects the policy's drift: a factor of 3.8
/// and every action inside the 68 % interval). Ties go to the factor nearest 1; 1 when there
/// is nothing to fit.
pub fn fit_std_scale(distributions: &[SteeringDistribution], targets: &[f64]) -> f64 {
    let pairs: Vec<(&SteeringDistribution, f64)> = distributions
        .iter()
        .zip(targets.iter().copied())
        .filter(|(_, y)| y.is_finite())
        .collect();
    if pairs.is_empty() {
        return 1.0;
    }
    let error = |factor: f64| {
        let mut c = Calibration::default();
        for (d, y) in &pairs {
            c.add(&d.with_std_scale(factor), *y);
        }
        c.interval_calibration_error().unwrap_or(f64::INFINITY)
    };
    let steps = (20f64.ln() / 1.01f64.ln()).ceil() as i32;
    let mut best = (error(1.0), 1.0);
    for k in 1..=steps {
        for factor in [1.01f64.powi(k), 1.01f64.powi(-k)] {
            let e = error(factor);
            if e < best.0 {
                best = (e, factor);
            }
        }
    }
    best.1
}
