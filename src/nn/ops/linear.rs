//! Dense layer `y = x·Wᵀ + b`, optionally followed by a fused ReLU, with products through
//! OpenBLAS. Candle's own matrix product measured 34 µs for one 1×1152 by 1152×100 product
//! (PilotNet's first dense layer at batch 1), about ten times the arithmetic. Small layers run
//! on the calling thread; large ones are split over the rayon pool.

use super::blas::Operand;
use super::element::Real;
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

/// `x (B, in)` times `weight (out, in)` transposed plus `bias (out)`, then a ReLU when `relu`.
pub fn linear(x: &Tensor, weight: &Tensor, bias: &Tensor, relu: bool) -> Result<Tensor> {
    Sizes::new(x.dims(), weight.dims(), bias.dims())?;
    x.contiguous()?
        .apply_op3(&weight.contiguous()?, &bias.contiguous()?, Linear { relu })
}

#[derive(Clone, Copy, Debug)]
struct Sizes {
    batch: usize,
    inputs: usize,
    outputs: usize,
}

impl Sizes {
    fn new(x: &[usize], w: &[usize], b: &[usize]) -> Result<Self> {
        let (&[batch, inputs], &[outputs, w_inputs]) = (x, w) else {
            bail!("linear: expected x (B, in) and weight (out, in), got {x:?} and {w:?}")
        };
        if w_inputs != inputs {
            bail!("linear: input has {inputs} features, weight expects {w_inputs}");
        }
        if b != [outputs] {
            bail!("linear: bias shape {b:?}, expected [{outputs}]");
        }
        Ok(Self {
            batch,
            inputs,
            outputs,
        })
    }
}

fn operand<T>(data: &[T], ld: usize, transposed: bool) -> Operand<'_, T> {
    Operand {
        data,
        ld,
        transposed,
    }
}

struct Linear {
    relu: bool,
}

impl Linear {
    /// Output rows (samples) are split over the pool when there are enough; otherwise output
    /// columns are, each part a block of weight rows (a large layer at batch 1 is a
    /// matrix-vector product bound by reading the weights).
    fn forward<T: Real>(&self, s: Sizes, x: &[T], w: &[T], b: &[T]) -> Vec<T> {
        let mut out: Vec<T> = (0..s.batch).flat_map(|_| b.iter().copied()).collect();
        let parts = parts(s);
        if parts == 1 || s.batch >= parts {
            let rows = s.batch.div_ceil(parts);
            out.par_chunks_mut(rows * s.outputs)
                .zip(x.par_chunks(rows * s.inputs))
                .for_each(|(out, x)| {
                    T::gemm(
                        out.len() / s.outputs,
                        s.outputs,
                        s.inputs,
                        operand(x, s.inputs, false),
                        operand(w, s.inputs, true),
                        out,
                        s.outputs,
                        true,
                    )
                });
        } else {
            let cols = s.outputs.div_ceil(parts);
            let blocks: Vec<Vec<T>> = w
                .par_chunks(cols * s.inputs)
                .map(|w| {
                    let n = w.len() / s.inputs;
                    let mut block = vec![T::ZERO; s.batch * n];
                    T::gemm(
                        s.batch,
                        n,
                        s.inputs,
                        operand(x, s.inputs, false),
                        operand(w, s.inputs, true),
                        &mut block,
                        n,
                        false,
                    );
                    block
                })
                .collect();
            for (p, block) in blocks.iter().enumerate() {
                let n = block.len() / s.batch;
                for (row, out) in block.chunks(n).zip(out.chunks_mut(s.outputs)) {
                    out[p * cols..][..n]
                        .iter_mut()
                        .zip(row)
                        .for_each(|(o, &v)| *o += v);
                }
            }
        }
        if self.relu {
            out.iter_mut().for_each(|v| {
                let x = *v;
                *v = if x > T::ZERO { x } else { T::ZERO };
            });
        }
        out
    }
}

/// Parallel parts for a layer: one below about a million multiply-adds (thread hand-offs
/// would cost more than they save), else one per thread.
fn parts(s: Sizes) -> usize {
    if s.batch * s.inputs * s.outputs < 1 << 20 {
        1
    } else {
        rayon::current_num_threads().max(1)
    }
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "steerlab-linear"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
        sb: &CpuStorage,
        lb: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let s = Sizes::new(lx.dims(), lw.dims(), lb.dims())?;
        let out = super::profile::timed(4, || {
            Ok::<_, candle_core::Error>(dispatch!("linear", sx, |T| self.forward::<T>(
                s,
                T::slice(sx, lx, "linear x")?,
                T::slice(sw, lw, "linear weight")?,
                T::slice(sb, lb, "linear bias")?,
            )))
        })?;
        Ok((out, Shape::from((s.batch, s.outputs))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let op = Backward {
            relu: self.relu,
            weight: w.clone(),
        };
        let all = x.apply_op3_no_bwd(&grad.contiguous()?, res, &op)?;
        let (nx, nw) = (x.elem_count(), w.elem_count());
        let grad_x = all.narrow(0, 0, nx)?.reshape(x.dims())?;
        let grad_w = all.narrow(0, nx, nw)?.reshape(w.dims())?;
        let grad_b = all.narrow(0, nx + nw, w.dims()[0])?;
        Ok((Some(grad_x), Some(grad_w), Some(grad_b)))
    }
}

/// `(x, grad, output)` → input, weight and bias gradients, concatenated.
struct Backward {
    relu: bool,
    weight: Tensor,
}

impl Backward {
    fn run<T: Real>(&self, s: Sizes, x: &[T], grad: &[T], res: &[T], w: &[T]) -> Vec<T> {
        let (nx, nw) = (s.batch * s.inputs, s.outputs * s.inputs);
        let gy: Vec<T> = if self.relu {
            grad.iter()
                .zip(res)
                .map(|(&g, &r)| if r > T::ZERO { g } else { T::ZERO })
                .collect()
        } else {
            grad.to_vec()
        };
        let mut all = vec![T::ZERO; nx + nw + s.outputs];
        let (gx, rest) = all.split_at_mut(nx);
        let (gw, gb) = rest.split_at_mut(nw);
        let parts = parts(s);
        // gx (B×in) = gy (B×out) · W (out×in), samples split over the pool.
        let rows = s.batch.div_ceil(parts);
        gx.par_chunks_mut(rows * s.inputs)
            .zip(gy.par_chunks(rows * s.outputs))
            .for_each(|(gx, gy)| {
                T::gemm(
                    gx.len() / s.inputs,
                    s.inputs,
                    s.outputs,
                    operand(gy, s.outputs, false),
                    operand(w, s.inputs, false),
                    gx,
                    s.inputs,
                    false,
                )
            });
        // gW (out×in) = gyᵀ (out×B) · x (B×in), weight rows split over the pool.
        let rows = s.outputs.div_ceil(parts);
        gw.par_chunks_mut(rows * s.inputs)
            .enumerate()
            .for_each(|(p, gw)| {
                T::gemm(
                    gw.len() / s.inputs,
                    s.inputs,
                    s.batch,
                    operand(&gy[p * rows..], s.outputs, true),
                    operand(x, s.inputs, false),
                    gw,
                    s.inputs,
                    false,
                )
            });
        for row in gy.chunks(s.outputs) {
            gb.iter_mut().zip(row).for_each(|(b, &g)| *b += g);
        }
        all
    }
}

impl CustomOp3 for Backward {
    fn name(&self) -> &'static str {
        "steerlab-linear-backward"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sg: &CpuStorage,
        lg: &Layout,
        sr: &CpuStorage,
        lr: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let weight = self.weight.contiguous()?;
        let (storage, lw) = weight.storage_and_layout();
        let candle_core::Storage::Cpu(sw) = &*storage else {
            bail!("linear: weight is not on the CPU");
        };
        let s = Sizes::new(lx.dims(), lw.dims(), &[lw.dims()[0]])?;
        let out = super::profile::timed(5, || {
            Ok::<_, candle_core::Error>(dispatch!("linear", sx, |T| self.run::<T>(
                s,
                T::slice(sx, lx, "linear x")?,
                T::slice(sg, lg, "linear grad")?,
                T::slice(sr, lr, "linear output")?,
                T::slice(sw, lw, "linear weight")?,
            )))
        })?;
        let len = s.batch * s.inputs + s.outputs * s.inputs + s.outputs;
        Ok((out, Shape::from(len)))
    }
}
