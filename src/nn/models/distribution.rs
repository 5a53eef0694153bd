//! A K-component Gaussian mixture over curvature κ (1/m): what a steering policy believes.
//!
//! The network head produces, per component, a logit, a mean and a raw scale; weights are
//! the softmax of the logits and standard deviations are `softplus(raw) + floor`
//! ([`SteeringDistribution::from_head`]). All log-densities use log-sum-exp, so they stay
//! finite far in the tails where the density itself underflows to zero.

use crate::error::{Error, Result};
use crate::record::schema::DistributionMsg;
use crate::sim::math::standard_normal;
use rand::{RngExt, rngs::StdRng};

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// One Gaussian of the mixture.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Component {
    pub weight: f64,
    pub mean: f64,
    pub std_dev: f64,
}

impl Component {
    fn log_density(&self, x: f64) -> f64 {
        let z = (x - self.mean) / self.std_dev;
        -0.5 * z * z - self.std_dev.ln() - LN_SQRT_2PI
    }
}

/// A Gaussian mixture over curvature.
#[derive(Clone, Debug, PartialEq)]
pub struct SteeringDistribution {
    components: Vec<Component>,
}

/// The same Gaussian mixture over target speed, m/s (a speed head's output).
pub type SpeedDistribution = SteeringDistribution;

/// `Φ(z)` of the standard normal, accurate in both tails (through `erfc`).
pub fn standard_normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

/// `ln(1 + e^x)` without overflow.
pub fn softplus(x: f64) -> f64 {
    if x > 30.0 { x } else { x.exp().ln_1p() }
}

/// `ln Σ e^v` without overflow; `-inf` for an empty slice.
pub fn log_sum_exp(values: &[f64]) -> f64 {
    let max = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + values.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

impl SteeringDistribution {
    /// A mixture from weights (normalised here), means and standard deviations.
    pub fn new(weights: &[f64], means: &[f64], std_devs: &[f64]) -> Result<Self> {
        let k = weights.len();
        if k == 0 || means.len() != k || std_devs.len() != k {
            return Err(Error::InvalidArgument(format!(
                "a mixture needs as many weights, means and standard deviations (got {k}, {}, {})",
                means.len(),
                std_devs.len()
            )));
        }
        let total: f64 = weights.iter().sum();
        let valid = weights.iter().all(|w| w.is_finite() && *w >= 0.0)
            && total > 0.0
            && means.iter().all(|m| m.is_finite())
            && std_devs.iter().all(|s| s.is_finite() && *s > 0.0);
        if !valid {
            return Err(Error::InvalidArgument(format!(
                "invalid mixture: weights {weights:?}, means {means:?}, standard deviations {std_devs:?}"
            )));
        }
        let components = (0..k)
            .map(|i| Component {
                weight: weights[i] / total,
                mean: means[i],
                std_dev: std_devs[i],
            })
            .collect();
        Ok(Self { components })
    }

    /// The mixture a network head outputs: softmax of `logits`, `means`, and
    /// `softplus(raw_scales) + std_floor` as standard deviations.
    pub fn from_head(
        logits: &[f64],
        means: &[f64],
        raw_scales: &[f64],
        std_floor: f64,
    ) -> Result<Self> {
        let lse = log_sum_exp(logits);
        let weights: Vec<f64> = logits.iter().map(|l| (l - lse).exp()).collect();
        let stds: Vec<f64> = raw_scales
            .iter()
            .map(|r| softplus(*r) + std_floor)
            .collect();
        Self::new(&weights, means, &stds)
    }

    pub fn components(&self) -> &[Component] {
        &self.components
    }

    /// `ln p(x)`, finite for every finite `x`.
    pub fn log_prob(&self, x: f64) -> f64 {
        let terms: Vec<f64> = self
            .components
            .iter()
            .map(|c| c.weight.ln() + c.log_density(x))
            .collect();
        log_sum_exp(&terms)
    }

    pub fn pdf(&self, x: f64) -> f64 {
        self.log_prob(x).exp()
    }

    pub fn mean(&self) -> f64 {
        self.components.iter().map(|c| c.weight * c.mean).sum()
    }

    pub fn variance(&self) -> f64 {
        let mean = self.mean();
        self.components
            .iter()
            .map(|c| c.weight * (c.std_dev * c.std_dev + (c.mean - mean).powi(2)))
            .sum()
    }

    /// Index of the component with the largest weight (the first on ties).
    pub fn most_likely_component(&self) -> usize {
        let mut best = 0;
        for (i, c) in self.components.iter().enumerate() {
            if c.weight > self.components[best].weight {
                best = i;
            }
        }
        best
    }

    /// The mean of the most likely component: the action a policy takes by default.
    pub fn mode(&self) -> f64 {
        self.components[self.most_likely_component()].mean
    }

    /// The mean of the component nearest `previous` (1/m) among those carrying at least half
    /// the leading component's weight: where the mixture offers several roads, a driver keeps
    /// to the one it took rather than switching at each tick between modes of equal weight.
    pub fn mode_near(&self, previous: f64) -> f64 {
        let lead = self.components[self.most_likely_component()].weight;
        self.components
            .iter()
            .filter(|c| c.weight >= 0.5 * lead)
            .min_by(|a, b| {
                (a.mean - previous)
                    .abs()
                    .total_cmp(&(b.mean - previous).abs())
            })
            .map_or_else(|| self.mode(), |c| c.mean)
    }

    /// A draw from the mixture with our own seeded generator.
    pub fn sample(&self, rng: &mut StdRng) -> f64 {
        let u: f64 = rng.random_range(0.0..1.0);
        let mut acc = 0.0;
        let mut chosen = self.components[self.components.len() - 1];
        for c in &self.components {
            acc += c.weight;
            if u < acc {
                chosen = *c;
                break;
            }
        }
        chosen.mean + chosen.std_dev * standard_normal(rng)
    }

    /// Differential entropy in nats. A mixture has no closed form: Simpson's rule over
    /// ±10 standard deviations around every component, on a grid fine enough for the
    /// narrowest one.
    pub fn entropy(&self) -> f64 {
        let lo = self
            .components
            .iter()
            .map(|c| c.mean - 10.0 * c.std_dev)
            .fold(f64::INFINITY, f64::min);
        let hi = self
            .components
            .iter()
            .map(|c| c.mean + 10.0 * c.std_dev)
            .fold(f64::NEG_INFINITY, f64::max);
        let narrowest = self
            .components
            .iter()
            .map(|c| c.std_dev)
            .fold(f64::INFINITY, f64::min);
        let n = (((hi - lo) / (narrowest / 20.0)).ceil() as usize).clamp(200, 2_000_000) & !1;
        let h = (hi - lo) / n as f64;
        let f = |x: f64| {
            let lp = self.log_prob(x);
            -lp.exp() * lp
        };
        let mut sum = f(lo) + f(hi);
        for i in 1..n {
            sum += f(lo + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        sum * h / 3.0
    }

    /// `P(κ ≤ x)`: the mixture's cumulative distribution, `Σ w_k Φ((x − μ_k)/σ_k)`.
    pub fn cdf(&self, x: f64) -> f64 {
        self.components
            .iter()
            .map(|c| c.weight * standard_normal_cdf((x - c.mean) / c.std_dev))
            .sum::<f64>()
            .clamp(0.0, 1.0)
    }

    /// Whether `x` lies in the central interval holding `level` of the mixture's probability
    /// (`|F(x) − ½| ≤ level/2`). For a calibrated policy, a share `level` of the expert's
    /// actions do; for a single Gaussian and `level` = 0.683 this is "within 1σ".
    pub fn central_interval_contains(&self, x: f64, level: f64) -> bool {
        (self.cdf(x) - 0.5).abs() <= level / 2.0
    }

    /// The same mixture with every standard deviation multiplied by `factor`.
    pub fn with_std_scale(&self, factor: f64) -> Self {
        Self {
            components: self
                .components
                .iter()
                .map(|c| Component {
                    std_dev: c.std_dev * factor,
                    ..*c
                })
                .collect(),
        }
    }

    /// The message recorded in episode files.
    pub fn to_msg(&self, tick: u64) -> DistributionMsg {
        DistributionMsg {
            tick,
            weights: self.components.iter().map(|c| c.weight).collect(),
            means: self.components.iter().map(|c| c.mean).collect(),
            std_devs: self.components.iter().map(|c| c.std_dev).collect(),
        }
    }

    /// The distribution of a recorded message.
    pub fn from_msg(msg: &DistributionMsg) -> Result<Self> {
        Self::new(&msg.weights, &msg.means, &msg.std_devs)
    }
}
