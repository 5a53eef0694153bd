//! 2-D convolution with bias: im2col + gemm forward, col2im input gradient, and a weight
//! gradient accumulated per fixed chunk of samples.

use super::{Real, fixed_chunks};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, bail};
use gemm::Parallelism;
use rayon::prelude::*;

/// Stride and zero padding, the same along both axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Conv2dSpec {
    pub stride: usize,
    pub padding: usize,
}

/// `x (B, C, H, W)` convolved with `weight (O, C, kh, kw)` plus `bias (O)`.
pub fn conv2d(x: &Tensor, weight: &Tensor, bias: &Tensor, spec: Conv2dSpec) -> Result<Tensor> {
    Geometry::new(x.dims(), weight.dims(), spec)?;
    if bias.dims() != [weight.dims()[0]] {
        bail!("conv2d: bias shape {:?}, expected [{}]", bias.dims(), weight.dims()[0]);
    }
    x.contiguous()?.apply_op3(&weight.contiguous()?, &bias.contiguous()?, Conv2d { spec })
}

/// Sizes of one convolution.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    batch: usize,
    channels: usize,
    height: usize,
    width: usize,
    out_channels: usize,
    kernel_h: usize,
    kernel_w: usize,
    stride: usize,
    padding: usize,
    out_h: usize,
    out_w: usize,
}

impl Geometry {
    fn new(x: &[usize], w: &[usize], spec: Conv2dSpec) -> Result<Self> {
        let (&[batch, channels, height, width], &[out_channels, in_channels, kernel_h, kernel_w]) =
            (x, w)
        else {
            bail!("conv2d: expected x (B, C, H, W) and weight (O, C, kh, kw), got {x:?} and {w:?}")
        };
        if in_channels != channels {
            bail!("conv2d: input has {channels} channels, weight expects {in_channels}");
        }
        if spec.stride == 0 {
            bail!("conv2d: stride must be at least 1");
        }
        let (ph, pw) = (height + 2 * spec.padding, width + 2 * spec.padding);
        if kernel_h == 0 || kernel_w == 0 || ph < kernel_h || pw < kernel_w {
            bail!("conv2d: kernel {kernel_h}x{kernel_w} does not fit input {height}x{width} padded by {}", spec.padding);
        }
        Ok(Self {
            batch,
            channels,
            height,
            width,
            out_channels,
            kernel_h,
            kernel_w,
            stride: spec.stride,
            padding: spec.padding,
            out_h: (ph - kernel_h) / spec.stride + 1,
            out_w: (pw - kernel_w) / spec.stride + 1,
        })
    }

    /// Rows of the im2col matrix: C·kh·kw.
    fn patch(&self) -> usize {
        self.channels * self.kernel_h * self.kernel_w
    }

    /// Columns of the im2col matrix: output pixels per channel.
    fn pixels(&self) -> usize {
        self.out_h * self.out_w
    }

    fn input_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    fn output_len(&self) -> usize {
        self.out_channels * self.pixels()
    }

    /// Output columns `[first, end)` whose input column `o·s + offset − p` lies inside `0..extent`.
    fn valid(&self, offset: usize, extent: usize, outputs: usize) -> (usize, usize) {
        let (s, p) = (self.stride, self.padding);
        let first = if p > offset { (p - offset).div_ceil(s) } else { 0 };
        let end = if extent + p > offset { (extent + p - offset).div_ceil(s) } else { 0 };
        (first.min(outputs), end.min(outputs).max(first.min(outputs)))
    }

    /// Copies one sample's patches into `col` (patch × pixels, row-major).
    fn im2col<T: Real>(&self, x: &[T], col: &mut [T]) {
        let (h, w, s, p) = (self.height, self.width, self.stride, self.padding);
        let (oh, ow) = (self.out_h, self.out_w);
        let (x0, x1) = (0..self.kernel_w).fold((vec![], vec![]), |(mut a, mut b), j| {
            let (f, e) = self.valid(j, w, ow);
            a.push(f);
            b.push(e);
            (a, b)
        });
        let mut row = 0;
        for c in 0..self.channels {
            let plane = &x[c * h * w..(c + 1) * h * w];
            for i in 0..self.kernel_h {
                for j in 0..self.kernel_w {
                    let dst_rows = &mut col[row * oh * ow..(row + 1) * oh * ow];
                    for oy in 0..oh {
                        let dst = &mut dst_rows[oy * ow..(oy + 1) * ow];
                        let iy = (oy * s + i) as isize - p as isize;
                        if iy < 0 || iy >= h as isize {
                            dst.fill(T::ZERO);
                            continue;
                        }
                        let src = &plane[iy as usize * w..(iy as usize + 1) * w];
                        let (first, end) = (x0[j], x1[j]);
                        if first >= end {
                            dst.fill(T::ZERO);
                            continue;
                        }
                        dst[..first].fill(T::ZERO);
                        dst[end..].fill(T::ZERO);
                        let start = first * s + j - p;
                        if s == 1 {
                            dst[first..end].copy_from_slice(&src[start..start + end - first]);
                        } else {
                            for (k, d) in dst[first..end].iter_mut().enumerate() {
                                *d = src[start + k * s];
                            }
                        }
                    }
                    row += 1;
                }
            }
        }
    }

    /// Adds one sample's patch gradients back onto the input gradient (the adjoint of im2col).
    fn col2im<T: Real>(&self, col: &[T], gx: &mut [T]) {
        let (h, w, s, p) = (self.height, self.width, self.stride, self.padding);
        let (oh, ow) = (self.out_h, self.out_w);
        let mut row = 0;
        for c in 0..self.channels {
            let plane = &mut gx[c * h * w..(c + 1) * h * w];
            for i in 0..self.kernel_h {
                for j in 0..self.kernel_w {
                    let (first, end) = self.valid(j, w, ow);
                    let src_rows = &col[row * oh * ow..(row + 1) * oh * ow];
                    for oy in 0..oh {
                        let iy = (oy * s + i) as isize - p as isize;
                        if iy < 0 || iy >= h as isize || first >= end {
                            continue;
                        }
                        let dst = &mut plane[iy as usize * w..(iy as usize + 1) * w];
                        let src = &src_rows[oy * ow + first..oy * ow + end];
                        let start = first * s + j - p;
                        for (k, &v) in src.iter().enumerate() {
                            dst[start + k * s] += v;
                        }
                    }
                    row += 1;
                }
            }
        }
    }

    /// Samples per parallel chunk and the gemm parallelism inside each: with fewer samples than
    /// threads (inference at batch 1) the matrix product itself is split instead.
    fn plan(&self) -> (usize, Parallelism) {
        let chunks = fixed_chunks(self.batch);
        if chunks.len() > 1 {
            (self.batch.div_ceil(chunks.len()), Parallelism::None)
        } else {
            (self.batch.max(1), Parallelism::Rayon(rayon::current_num_threads()))
        }
    }
}

/// `dst (m×n) = [dst +] lhs (m×k) · rhs (k×n)`, all row-major; `lhs_t` means lhs is stored
/// k×m, `rhs_t` that rhs is stored n×k.
#[allow(clippy::too_many_arguments)]
fn matmul<T: Real>(
    (m, n, k): (usize, usize, usize),
    dst: &mut [T],
    accumulate: bool,
    lhs: &[T],
    lhs_t: bool,
    rhs: &[T],
    rhs_t: bool,
    parallelism: Parallelism,
) {
    assert!(dst.len() >= m * n && lhs.len() >= m * k && rhs.len() >= k * n);
    let (lhs_cs, lhs_rs) = if lhs_t { (m as isize, 1) } else { (1, k as isize) };
    let (rhs_cs, rhs_rs) = if rhs_t { (k as isize, 1) } else { (1, n as isize) };
    let alpha = if accumulate { T::ONE } else { T::ZERO };
    // SAFETY: the slices are at least as long as the strided m×n, m×k and k×n views read and
    // written (asserted above), and `dst` does not alias `lhs` or `rhs` (distinct borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs,
            lhs_rs,
            rhs.as_ptr(),
            rhs_cs,
            rhs_rs,
            alpha,
            T::ONE,
            false,
            false,
            false,
            parallelism,
        )
    }
}

struct Conv2d {
    spec: Conv2dSpec,
}

impl Conv2d {
    fn forward<T: Real>(&self, g: &Geometry, x: &[T], w: &[T], bias: &[T]) -> Vec<T> {
        let (per_chunk, parallelism) = g.plan();
        let (patch, pixels) = (g.patch(), g.pixels());
        let mut out = vec![T::ZERO; g.batch * g.output_len()];
        out.par_chunks_mut(per_chunk * g.output_len())
            .enumerate()
            .for_each(|(chunk, out)| {
                let mut col = vec![T::ZERO; patch * pixels];
                for (i, out) in out.chunks_mut(g.output_len()).enumerate() {
                    let sample = chunk * per_chunk + i;
                    g.im2col(&x[sample * g.input_len()..(sample + 1) * g.input_len()], &mut col);
                    for (o, plane) in out.chunks_mut(pixels).enumerate() {
                        plane.fill(bias[o]);
                    }
                    let shape = (g.out_channels, pixels, patch);
                    matmul(shape, out, true, w, false, &col, false, parallelism);
                }
            });
        out
    }
}

impl CustomOp3 for Conv2d {
    fn name(&self) -> &'static str {
        "steerlab-conv2d"
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
        let g = Geometry::new(lx.dims(), lw.dims(), self.spec)?;
        let out = match sx {
            CpuStorage::F32(_) => CpuStorage::F32(self.forward::<f32>(
                &g,
                f32::slice(sx, lx, "conv2d x")?,
                f32::slice(sw, lw, "conv2d weight")?,
                f32::slice(sb, lb, "conv2d bias")?,
            )),
            CpuStorage::F64(_) => CpuStorage::F64(self.forward::<f64>(
                &g,
                f64::slice(sx, lx, "conv2d x")?,
                f64::slice(sw, lw, "conv2d weight")?,
                f64::slice(sb, lb, "conv2d bias")?,
            )),
            other => bail!("conv2d: unsupported dtype {:?}", other.dtype()),
        };
        Ok((out, Shape::from((g.batch, g.out_channels, g.out_h, g.out_w))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let spec = self.spec;
        // The first layer's input is the image, which needs no gradient.
        let grad_x = if x.track_op() {
            Some(grad.apply_op2_no_bwd(w, &InputGrad { spec, input: x.dims().to_vec() })?)
        } else {
            None
        };
        let grad_w = x.apply_op2_no_bwd(&grad, &WeightGrad { spec, weight: w.dims().to_vec() })?;
        let grad_b = grad.sum([0, 2, 3])?;
        Ok((grad_x, Some(grad_w), Some(grad_b)))
    }
}

/// Gradient with respect to the input: `(grad (B, O, oh, ow), weight) -> (B, C, H, W)`.
struct InputGrad {
    spec: Conv2dSpec,
    input: Vec<usize>,
}

impl InputGrad {
    fn run<T: Real>(&self, g: &Geometry, grad: &[T], w: &[T]) -> Vec<T> {
        let (per_chunk, parallelism) = g.plan();
        let (patch, pixels) = (g.patch(), g.pixels());
        let mut gx = vec![T::ZERO; g.batch * g.input_len()];
        gx.par_chunks_mut(per_chunk * g.input_len())
            .enumerate()
            .for_each(|(chunk, gx)| {
                let mut col = vec![T::ZERO; patch * pixels];
                for (i, gx) in gx.chunks_mut(g.input_len()).enumerate() {
                    let sample = chunk * per_chunk + i;
                    let gout = &grad[sample * g.output_len()..(sample + 1) * g.output_len()];
                    let shape = (patch, pixels, g.out_channels);
                    matmul(shape, &mut col, false, w, true, gout, false, parallelism);
                    g.col2im(&col, gx);
                }
            });
        gx
    }
}

impl CustomOp2 for InputGrad {
    fn name(&self) -> &'static str {
        "steerlab-conv2d-input-grad"
    }

    fn cpu_fwd(
        &self,
        sg: &CpuStorage,
        lg: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = Geometry::new(&self.input, lw.dims(), self.spec)?;
        let out = match sg {
            CpuStorage::F32(_) => CpuStorage::F32(self.run::<f32>(
                &g,
                f32::slice(sg, lg, "conv2d grad")?,
                f32::slice(sw, lw, "conv2d weight")?,
            )),
            CpuStorage::F64(_) => CpuStorage::F64(self.run::<f64>(
                &g,
                f64::slice(sg, lg, "conv2d grad")?,
                f64::slice(sw, lw, "conv2d weight")?,
            )),
            other => bail!("conv2d: unsupported dtype {:?}", other.dtype()),
        };
        Ok((out, Shape::from(self.input.clone())))
    }
}

/// Gradient with respect to the weight: `(x, grad (B, O, oh, ow)) -> (O, C, kh, kw)`, summed
/// over the batch chunk by chunk in a fixed order.
struct WeightGrad {
    spec: Conv2dSpec,
    weight: Vec<usize>,
}

impl WeightGrad {
    fn run<T: Real>(&self, g: &Geometry, x: &[T], grad: &[T]) -> Vec<T> {
        let (per_chunk, parallelism) = g.plan();
        let (patch, pixels) = (g.patch(), g.pixels());
        let chunks = g.batch.div_ceil(per_chunk);
        let partials: Vec<Vec<T>> = (0..chunks)
            .into_par_iter()
            .map(|chunk| {
                let mut col = vec![T::ZERO; patch * pixels];
                let mut gw = vec![T::ZERO; g.out_channels * patch];
                for sample in chunk * per_chunk..((chunk + 1) * per_chunk).min(g.batch) {
                    g.im2col(&x[sample * g.input_len()..(sample + 1) * g.input_len()], &mut col);
                    let gout = &grad[sample * g.output_len()..(sample + 1) * g.output_len()];
                    let shape = (g.out_channels, patch, pixels);
                    matmul(shape, &mut gw, true, gout, false, &col, true, parallelism);
                }
                gw
            })
            .collect();
        let mut total = partials.into_iter();
        let mut gw = total.next().unwrap_or_else(|| vec![T::ZERO; g.out_channels * patch]);
        for partial in total {
            gw.iter_mut().zip(partial).for_each(|(a, b)| *a += b);
        }
        gw
    }
}

impl CustomOp2 for WeightGrad {
    fn name(&self) -> &'static str {
        "steerlab-conv2d-weight-grad"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sg: &CpuStorage,
        lg: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = Geometry::new(lx.dims(), &self.weight, self.spec)?;
        let out = match sx {
            CpuStorage::F32(_) => CpuStorage::F32(self.run::<f32>(
                &g,
                f32::slice(sx, lx, "conv2d x")?,
                f32::slice(sg, lg, "conv2d grad")?,
            )),
            CpuStorage::F64(_) => CpuStorage::F64(self.run::<f64>(
                &g,
                f64::slice(sx, lx, "conv2d x")?,
                f64::slice(sg, lg, "conv2d grad")?,
            )),
            other => bail!("conv2d: unsupported dtype {:?}", other.dtype()),
        };
        Ok((out, Shape::from(self.weight.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct six-loop convolution, the reference the im2col path must match.
    fn direct(g: &Geometry, x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; g.batch * g.output_len()];
        for n in 0..g.batch {
            for o in 0..g.out_channels {
                for oy in 0..g.out_h {
                    for ox in 0..g.out_w {
                        let mut acc = b[o];
                        for c in 0..g.channels {
                            for i in 0..g.kernel_h {
                                for j in 0..g.kernel_w {
                                    let iy = (oy * g.stride + i) as isize - g.padding as isize;
                                    let ix = (ox * g.stride + j) as isize - g.padding as isize;
                                    if iy >= 0 && ix >= 0 && (iy as usize) < g.height && (ix as usize) < g.width {
                                        acc += x[((n * g.channels + c) * g.height + iy as usize) * g.width + ix as usize]
                                            * w[((o * g.channels + c) * g.kernel_h + i) * g.kernel_w + j];
                                    }
                                }
                            }
                        }
                        out[((n * g.out_channels + o) * g.out_h + oy) * g.out_w + ox] = acc;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn im2col_matches_direct_convolution() {
        for (h, w, k, s, p) in [(7, 8, 3, 2, 0), (66, 20, 5, 2, 0), (5, 5, 3, 1, 1), (6, 9, 2, 3, 2), (3, 3, 3, 1, 0)] {
            let spec = Conv2dSpec { stride: s, padding: p };
            let g = Geometry::new(&[3, 2, h, w], &[4, 2, k, k], spec).unwrap();
            let x: Vec<f64> = (0..3 * 2 * h * w).map(|i| ((i * 37 % 101) as f64 - 50.0) / 25.0).collect();
            let wt: Vec<f64> = (0..4 * 2 * k * k).map(|i| ((i * 13 % 29) as f64 - 14.0) / 10.0).collect();
            let b = [0.5, -0.25, 1.0, 0.0];
            let ours = Conv2d { spec }.forward(&g, &x, &wt, &b);
            let reference = direct(&g, &x, &wt, &b);
            for (a, r) in ours.iter().zip(&reference) {
                assert!((a - r).abs() < 1e-9, "{h}x{w} k{k} s{s} p{p}: {a} vs {r}");
            }
        }
    }
}
