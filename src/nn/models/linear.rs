//! The dense layer every model uses: `y = x·Wᵀ + b` (optionally followed by a ReLU, fused into
//! the product), built from a `VarBuilder` under the names `weight (out, in)` and `bias (out)`,
//! and a stack of them.

use crate::nn::ops;
use candle_core::{Module, Result, Tensor};
use candle_nn::{Init, VarBuilder};

/// One dense layer. Variables are created zeroed; the model's `initialise` draws them.
#[derive(Clone, Debug)]
pub struct Linear {
    weight: Tensor,
    bias: Tensor,
    relu: bool,
}

impl Linear {
    /// `inputs` → `outputs` under `vb` (`vb.pp(name)` at the call site names the checkpoint
    /// keys), followed by a ReLU when `relu` is set.
    pub fn new(inputs: usize, outputs: usize, relu: bool, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints((outputs, inputs), "weight", Init::Const(0.0))?,
            bias: vb.get_with_hints(outputs, "bias", Init::Const(0.0))?,
            relu,
        })
    }
}

impl Module for Linear {
    /// `(B, in)` → `(B, out)`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::linear(x, &self.weight, &self.bias, self.relu)
    }
}

/// Dense layers `dense0`, `dense1`, … through `widths` (input width first), a ReLU after every
/// layer but the last.
#[derive(Clone, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
}

impl Mlp {
    pub fn new(widths: &[usize], vb: VarBuilder) -> Result<Self> {
        let last = widths.len().saturating_sub(2);
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| Linear::new(w[0], w[1], i < last, vb.pp(format!("dense{i}"))))
            .collect::<Result<_>>()?;
        Ok(Self { layers })
    }
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.layers
            .iter()
            .try_fold(x.clone(), |x, layer| layer.forward(&x))
    }
}
