//! Transposed convolution (FCN decoders): the convolution's adjoint, built from the same
//! phase-plane geometry, products and col2im as [`super::conv`].

use super::conv::{Conv2dSpec, Geometry, conv2d, matmul, plain, sum, transposed};
use super::element::Real;
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

/// Transposed convolution (the adjoint of [`conv2d`], as in FCN decoders): `x (B, Cin, H, W)`
/// with `weight (Cin, Cout, kh, kw)` (PyTorch's layout) plus `bias (Cout)` gives
/// `(B, Cout, (H−1)·s − 2p + kh + oh, (W−1)·s − 2p + kw + ow)` for output padding
/// `(oh, ow)` (each below the stride: the rows and columns a strided convolution of that size
/// skips), then a ReLU when `relu` is set. Forward
/// is the convolution's input-gradient path (product, then col2im over phase planes); its
/// input gradient is a forward convolution; its weight gradient the convolution's with the
/// roles of input and output gradient exchanged.
pub fn conv_transpose2d(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    spec: Conv2dSpec,
    output_padding: (usize, usize),
    relu: bool,
) -> Result<Tensor> {
    transposed_geometry(x.dims(), weight.dims(), spec, output_padding)?;
    if bias.dims() != [weight.dims().get(1).copied().unwrap_or(0)] {
        bail!(
            "conv_transpose2d: bias shape {:?}, expected [Cout]",
            bias.dims()
        );
    }
    x.contiguous()?.apply_op3(
        &weight.contiguous()?,
        &bias.contiguous()?,
        ConvTranspose2d {
            spec,
            output_padding,
            relu,
        },
    )
}

/// The geometry of the convolution whose adjoint this is: its input is the transposed
/// convolution's output.
fn transposed_geometry(
    x: &[usize],
    w: &[usize],
    spec: Conv2dSpec,
    (pad_h, pad_w): (usize, usize),
) -> Result<Geometry> {
    let (&[batch, cin, h, wd], &[wcin, cout, kh, kw]) = (x, w) else {
        bail!(
            "conv_transpose2d: expected x (B, Cin, H, W) and weight (Cin, Cout, kh, kw), got {x:?} and {w:?}"
        )
    };
    if wcin != cin {
        bail!("conv_transpose2d: input has {cin} channels, weight expects {wcin}");
    }
    let size =
        |n: usize, k: usize| ((n.max(1) - 1) * spec.stride + k).checked_sub(2 * spec.padding);
    if pad_h >= spec.stride || pad_w >= spec.stride {
        bail!(
            "conv_transpose2d: output padding must be below the stride {}",
            spec.stride
        );
    }
    let (Some(oh), Some(ow)) = (size(h, kh), size(wd, kw)) else {
        bail!(
            "conv_transpose2d: padding {} larger than the output",
            spec.padding
        )
    };
    let (oh, ow) = (oh + pad_h, ow + pad_w);
    let g = Geometry::new(&[batch, cout, oh, ow], &[cin, cout, kh, kw], spec)?;
    if (g.out_h, g.out_w) != (h, wd) {
        bail!("conv_transpose2d: {h}x{wd} input does not map back onto a {oh}x{ow} output");
    }
    Ok(g)
}

struct ConvTranspose2d {
    spec: Conv2dSpec,
    output_padding: (usize, usize),
    relu: bool,
}

impl ConvTranspose2d {
    /// `g` describes the adjoint convolution: its "input" is our output.
    fn forward<T: Real>(&self, g: &Geometry, x: &[T], w: &[T], bias: &[T]) -> Vec<T> {
        let per_chunk = g.per_chunk();
        let (patch, pixels, ow, o) = (g.patch(), g.pixels(), g.out_w, g.out_channels);
        let mut out = vec![T::ZERO; g.batch * g.input_len()];
        out.par_chunks_mut(per_chunk * g.input_len())
            .enumerate()
            .for_each(|(chunk, out)| {
                let mut col = vec![T::ZERO; patch * g.tile_rows() * ow];
                let mut q = vec![T::ZERO; g.phases_len()];
                for (i, y) in out.chunks_mut(g.input_len()).enumerate() {
                    let xs = &x[(chunk * per_chunk + i) * g.output_len()..][..g.output_len()];
                    q.fill(T::ZERO);
                    for rows in g.tiles() {
                        let n = rows.len() * ow;
                        let b = plain(&xs[rows.start * ow..], pixels);
                        matmul((patch, n, o), &mut col, n, false, transposed(w, patch), b);
                        g.col2im(&col, rows, &mut q);
                    }
                    g.from_phases(&q, T::from_f64(1.0), y);
                    for (plane, &b) in y.chunks_mut(g.height * g.width).zip(bias) {
                        plane.iter_mut().for_each(|v| {
                            let s = *v + b;
                            *v = if !self.relu || s > T::ZERO {
                                s
                            } else {
                                T::ZERO
                            };
                        });
                    }
                }
            });
        out
    }
}

impl CustomOp3 for ConvTranspose2d {
    fn name(&self) -> &'static str {
        "steerlab-conv-transpose2d"
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
        let g = transposed_geometry(lx.dims(), lw.dims(), self.spec, self.output_padding)?;
        let out = dispatch!("conv_transpose2d", sx, |T| self.forward::<T>(
            &g,
            T::slice(sx, lx, "conv_transpose2d x")?,
            T::slice(sw, lw, "conv_transpose2d weight")?,
            T::slice(sb, lb, "conv_transpose2d bias")?,
        ));
        Ok((out, Shape::from((g.batch, g.channels, g.height, g.width))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let gy = if self.relu {
            (grad * res.gt(0.0)?.to_dtype(grad.dtype())?)?
        } else {
            grad.clone()
        };
        // The input gradient is the forward convolution of the output gradient.
        let zero = Tensor::zeros(w.dims()[0], w.dtype(), w.device())?;
        let gx = conv2d(&gy.detach(), &w.detach(), &zero, self.spec, false)?;
        let op = TransposedWeightGradient {
            spec: self.spec,
            output_padding: self.output_padding,
            weight_dims: w.dims().to_vec(),
        };
        let params = x.apply_op2_no_bwd(&gy.contiguous()?, &op)?;
        let nw = w.elem_count();
        let gw = params.narrow(0, 0, nw)?.reshape(w.dims())?;
        let gb = params.narrow(0, nw, w.dims()[1])?;
        Ok((Some(gx), Some(gw), Some(gb)))
    }
}

/// `(x, output gradient)` → weight and bias gradients of a transposed convolution, summed per
/// fixed chunk of samples and the chunks added in order.
struct TransposedWeightGradient {
    spec: Conv2dSpec,
    output_padding: (usize, usize),
    weight_dims: Vec<usize>,
}

impl TransposedWeightGradient {
    fn run<T: Real>(&self, g: &Geometry, x: &[T], gy: &[T]) -> Vec<T> {
        let per_chunk = g.per_chunk();
        let (patch, pixels, ow, o) = (g.patch(), g.pixels(), g.out_w, g.out_channels);
        let chunks = g.batch.div_ceil(per_chunk);
        let partials: Vec<Vec<T>> = (0..chunks)
            .into_par_iter()
            .map(|chunk| {
                let mut col = vec![T::ZERO; patch * g.tile_rows() * ow];
                let mut q = vec![T::ZERO; g.phases_len()];
                let mut partial = vec![T::ZERO; o * patch + g.channels];
                for sample in chunk * per_chunk..((chunk + 1) * per_chunk).min(g.batch) {
                    let (gw, gb) = partial.split_at_mut(o * patch);
                    let gys = &gy[sample * g.input_len()..][..g.input_len()];
                    let xs = &x[sample * g.output_len()..][..g.output_len()];
                    g.to_phases(gys, (T::from_f64(1.0), T::ZERO), &mut q);
                    for rows in g.tiles() {
                        let n = rows.len() * ow;
                        g.im2col(&q, rows.clone(), &mut col);
                        let a = plain(&xs[rows.start * ow..], pixels);
                        matmul((o, patch, n), gw, patch, true, a, transposed(&col, n));
                    }
                    for (b, plane) in gb.iter_mut().zip(gys.chunks(g.height * g.width)) {
                        *b += sum(plane);
                    }
                }
                partial
            })
            .collect();
        let mut total = vec![T::ZERO; o * patch + g.channels];
        for partial in partials {
            total.iter_mut().zip(partial).for_each(|(a, b)| *a += b);
        }
        total
    }
}

impl candle_core::CustomOp2 for TransposedWeightGradient {
    fn name(&self) -> &'static str {
        "steerlab-conv-transpose2d-weight-gradient"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sg: &CpuStorage,
        lg: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = transposed_geometry(lx.dims(), &self.weight_dims, self.spec, self.output_padding)?;
        let out = dispatch!("conv_transpose2d", sx, |T| self.run::<T>(
            &g,
            T::slice(sx, lx, "conv_transpose2d x")?,
            T::slice(sg, lg, "conv_transpose2d grad")?,
        ));
        Ok((out, Shape::from(g.out_channels * g.patch() + g.channels)))
    }
}
