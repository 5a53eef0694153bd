//! A batch of Gaussian mixtures as a network head outputs them (log-weights, means, standard
//! deviations, each `(B, K)`), built from the head's raw outputs, and their negative
//! log-likelihood computed with log-sum-exp: the steering head's mixture over curvature and
//! the speed head's over target speed alike.

use crate::nn::data::route_blind::AnchoredTargets;
use crate::nn::models::distribution::SteeringDistribution;
use candle_core::{D, Result, Tensor, bail};

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// How a head's raw outputs `(B, 3K)` become a mixture: `components` K, the value one unit of
/// a mean or scale output stands for, the value a mean output of 0 stands for, the smallest
/// standard deviation, and a factor on every standard deviation (temperature scaling).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MixtureScale {
    pub components: usize,
    pub scale: f64,
    pub offset: f64,
    pub std_floor: f64,
    pub std_scale: f64,
}

/// A batch of mixtures, each tensor `(B, K)`: log-weights, means and standard deviations (in
/// the target's unit: 1/m for curvature, m/s for speed).
pub struct MixtureBatch {
    pub log_weights: Tensor,
    pub means: Tensor,
    pub std_devs: Tensor,
}

/// `ln(1 + eˣ)` computed as `max(x, 0) + ln(1 + e^−|x|)`, finite for any x.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?
}

impl MixtureBatch {
    /// The head's raw outputs `(B, 3K)` → mixtures: softmax of the first K (as log-weights),
    /// the next K times the scale plus the offset as means, `(scale·softplus(·) + floor)·std_scale` of the
    /// last K as standard deviations.
    pub fn from_raw(raw: &Tensor, config: &MixtureScale) -> Result<Self> {
        let k = config.components;
        match raw.dims() {
            &[_, n] if n == 3 * k => {}
            dims => bail!(
                "mixture head: expected raw outputs (B, {}), got {dims:?}",
                3 * k
            ),
        }
        let scale = config.scale;
        let log_weights = candle_nn::ops::log_softmax(&raw.narrow(1, 0, k)?, D::Minus1)?;
        let means = raw.narrow(1, k, k)?.affine(scale, config.offset)?;
        let t = config.std_scale;
        let std_devs =
            softplus(&raw.narrow(1, 2 * k, k)?)?.affine(scale * t, config.std_floor * t)?;
        Ok(MixtureBatch {
            log_weights,
            means,
            std_devs,
        })
    }

    /// Per-sample log-density of `targets (B,)` (1/m): log-sum-exp over components of
    /// `ln w_k + ln N(y; μ_k, σ_k)`.
    pub fn log_prob(&self, targets: &Tensor) -> Result<Tensor> {
        let y = targets.unsqueeze(1)?.broadcast_as(self.means.shape())?; // (B, K)
        let joint = self.log_joint(&y)?;
        let max = joint.max_keepdim(1)?.detach();
        let lse = (joint.broadcast_sub(&max)?.exp()?.sum_keepdim(1)?.log()? + max)?;
        lse.squeeze(1)
    }

    /// Mean negative log-likelihood of `targets (B,)`, the training loss.
    pub fn nll(&self, targets: &Tensor) -> Result<Tensor> {
        self.log_prob(targets)?.mean_all()?.neg()
    }

    /// The negative log-likelihood of `targets (B,)` averaged with `weights (B,)`:
    /// `−Σ wᵢ ln p(yᵢ) / Σ wᵢ`.
    pub fn weighted_nll(&self, targets: &Tensor, weights: &Tensor) -> Result<Tensor> {
        let weighted = (self.log_prob(targets)? * weights)?.sum_all()?;
        (weighted / weights.sum_all()?)?.neg()
    }

    /// `ln w_k + ln N(y_k; μ_k, σ_k)` for targets `y (B, K)`, one per component.
    fn log_joint(&self, y: &Tensor) -> Result<Tensor> {
        let z = ((y - &self.means)? / &self.std_devs)?;
        let log_normal = ((z.sqr()? * -0.5)? - self.std_devs.log()?)?.affine(1.0, -LN_SQRT_2PI)?;
        &self.log_weights + log_normal
    }

    /// The training loss of a model not told the route (see [`crate::nn::data::route_blind`]): per
    /// sample, `plain_b · (−ln p(y_b))` plus, near a junction, `−Σ_k a_k (ln w_k + ln N(v_k;
    /// μ_k, σ_k))` over each exit's label `v_k` on its component with share `a_k`; the batch
    /// mean of these.
    pub fn route_blind_nll(&self, targets: &Tensor, anchored: &AnchoredTargets) -> Result<Tensor> {
        let plain = (self.log_prob(targets)? * &anchored.plain)?;
        let exits = (self.log_joint(&anchored.values)? * &anchored.shares)?.sum(1)?;
        (plain + exits)?.mean_all()?.neg()
    }

    /// The mixtures as plain values, one per sample.
    pub fn to_distributions(&self) -> Result<Vec<SteeringDistribution>> {
        let weights = self
            .log_weights
            .exp()?
            .to_dtype(candle_core::DType::F64)?
            .to_vec2::<f64>()?;
        let means = self
            .means
            .to_dtype(candle_core::DType::F64)?
            .to_vec2::<f64>()?;
        let stds = self
            .std_devs
            .to_dtype(candle_core::DType::F64)?
            .to_vec2::<f64>()?;
        weights
            .iter()
            .zip(&means)
            .zip(&stds)
            .map(|((w, m), s)| {
                SteeringDistribution::new(w, m, s)
                    .map_err(|e| candle_core::Error::Msg(e.to_string()))
            })
            .collect()
    }
}
