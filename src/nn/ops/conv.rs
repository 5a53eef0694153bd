//! 2-D convolution with bias: im2col + gemm forward, col2im input gradient, and a weight
//! gradient accumulated per fixed chunk of samples.

use super::blas::Operand;
use super::element::{Real, chunk_count};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Stride and zero padding, the same along both axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Conv2dSpec {
    pub stride: usize,
    pub padding: usize,
}

/// `x (B, C, H, W)` convolved with `weight (O, C, kh, kw)` plus `bias (O)`, followed by a ReLU
/// when `relu` is set (fused: the backward pass masks the gradient with the output itself).
pub fn conv2d(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    spec: Conv2dSpec,
    relu: bool,
) -> Result<Tensor> {
    conv2d_of_affine(x, (1.0, 0.0), weight, bias, spec, relu)
}

/// [`conv2d`] of `scale·x + shift` (zero padding added after the affine map), the map applied
/// while the input is rearranged for the product instead of in a pass of its own: the
/// network's input normalisation.
pub fn conv2d_of_affine(
    x: &Tensor,
    (scale, shift): (f64, f64),
    weight: &Tensor,
    bias: &Tensor,
    spec: Conv2dSpec,
    relu: bool,
) -> Result<Tensor> {
    Geometry::new(x.dims(), weight.dims(), spec)?;
    if bias.dims() != [weight.dims()[0]] {
        bail!(
            "conv2d: bias shape {:?}, expected [{}]",
            bias.dims(),
            weight.dims()[0]
        );
    }
    x.contiguous()?.apply_op3(
        &weight.contiguous()?,
        &bias.contiguous()?,
        Conv2d {
            spec,
            relu,
            scale,
            shift,
        },
    )
}

/// Sizes of one convolution.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    pub(super) batch: usize,
    pub(super) channels: usize,
    pub(super) height: usize,
    pub(super) width: usize,
    pub(super) out_channels: usize,
    pub(super) kernel_h: usize,
    pub(super) kernel_w: usize,
    pub(super) stride: usize,
    pub(super) padding: usize,
    pub(super) out_h: usize,
    pub(super) out_w: usize,
}

impl Geometry {
    pub(super) fn new(x: &[usize], w: &[usize], spec: Conv2dSpec) -> Result<Self> {
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
            bail!(
                "conv2d: kernel {kernel_h}x{kernel_w} does not fit input {height}x{width} padded by {}",
                spec.padding
            );
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
    pub(super) fn patch(&self) -> usize {
        self.channels * self.kernel_h * self.kernel_w
    }

    /// Columns of the im2col matrix: output pixels per channel.
    pub(super) fn pixels(&self) -> usize {
        self.out_h * self.out_w
    }

    pub(super) fn input_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    pub(super) fn output_len(&self) -> usize {
        self.out_channels * self.pixels()
    }

    /// Rows and columns of each phase plane: the zero-padded input split by the remainder of
    /// its row and column index modulo the stride.
    #[inline]
    pub(super) fn phase_dims(&self) -> (usize, usize) {
        let s = self.stride;
        (
            (self.height + 2 * self.padding).div_ceil(s),
            (self.width + 2 * self.padding).div_ceil(s),
        )
    }

    /// Length of one sample's phase planes: C·s·s planes.
    pub(super) fn phases_len(&self) -> usize {
        let (pu, pv) = self.phase_dims();
        self.channels * self.stride * self.stride * pu * pv
    }

    /// Index in the phase planes of padded input position (c, py, px).
    #[inline]
    pub(super) fn phase_index(&self, c: usize, py: usize, px: usize) -> usize {
        let (s, (pu, pv)) = (self.stride, self.phase_dims());
        (((c * s + py % s) * s + px % s) * pu + py / s) * pv + px / s
    }

    /// Splits one sample into phase planes, padding included: a stride-s convolution then reads
    /// every patch row as a contiguous run, which makes im2col plain copies for any stride.
    /// Without padding, cells that no input element lands in are never read by a patch, so
    /// the planes are not zeroed first.
    /// Each value enters as `a·x + b`.
    pub(super) fn to_phases<T: Real>(&self, x: &[T], (a, b): (T, T), q: &mut [T]) {
        let (h, w) = (self.height, self.width);
        let f = |v: T| v * a + b;
        if self.padding > 0 {
            q.fill(T::ZERO);
        }
        for c in 0..self.channels {
            for iy in 0..h {
                let row = &x[(c * h + iy) * w..][..w];
                let p = self.padding;
                if self.stride == 1 {
                    let dst = &mut q[self.phase_index(c, iy + p, p)..][..w];
                    dst.iter_mut().zip(row).for_each(|(d, &v)| *d = f(v));
                    continue;
                }
                if self.stride == 2 && p % 2 == 0 {
                    // PilotNet's case: deinterleave the row into its two phases in one pass.
                    let (even, odd) = (
                        self.phase_index(c, iy + p, p),
                        self.phase_index(c, iy + p, p + 1),
                    );
                    let (low, high) = q.split_at_mut(odd);
                    let (even, odd) = (&mut low[even..][..w.div_ceil(2)], &mut high[..w / 2]);
                    for ((e, o), pair) in
                        even.iter_mut().zip(odd.iter_mut()).zip(row.chunks_exact(2))
                    {
                        *e = f(pair[0]);
                        *o = f(pair[1]);
                    }
                    if w % 2 == 1 {
                        even[w / 2] = f(row[w - 1]);
                    }
                    continue;
                }
                for (first, start, count) in self.phase_runs() {
                    let dst = &mut q[self.phase_index(c, iy + p, start)..][..count];
                    dst.iter_mut()
                        .zip(row[first..].iter().step_by(self.stride))
                        .for_each(|(d, &v)| *d = f(v));
                }
            }
        }
    }

    /// For each column phase: the first input column in it, that column's padded index, and
    /// how many input columns the phase holds. A phase's columns are contiguous in its plane.
    pub(super) fn phase_runs(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let (s, p, w) = (self.stride, self.padding, self.width);
        (0..s.min(w)).map(move |first| (first, first + p, (w - first).div_ceil(s)))
    }

    /// The adjoint of [`Geometry::to_phases`] with scale `a`: phase-plane gradients back onto
    /// the input.
    pub(super) fn from_phases<T: Real>(&self, q: &[T], a: T, gx: &mut [T]) {
        let (h, w) = (self.height, self.width);
        for c in 0..self.channels {
            for iy in 0..h {
                let row = &mut gx[(c * h + iy) * w..][..w];
                let p = self.padding;
                if self.stride == 1 {
                    let src = &q[self.phase_index(c, iy + p, p)..][..w];
                    row.iter_mut().zip(src).for_each(|(d, &v)| *d = v * a);
                    continue;
                }
                if self.stride == 2 && p % 2 == 0 {
                    let even = &q[self.phase_index(c, iy + p, p)..][..w.div_ceil(2)];
                    let odd = &q[self.phase_index(c, iy + p, p + 1)..][..w / 2];
                    for ((pair, &e), &o) in row.chunks_exact_mut(2).zip(even).zip(odd) {
                        pair[0] = e * a;
                        pair[1] = o * a;
                    }
                    if w % 2 == 1 {
                        row[w - 1] = even[w / 2] * a;
                    }
                    continue;
                }
                for (first, start, count) in self.phase_runs() {
                    let src = &q[self.phase_index(c, iy + p, start)..][..count];
                    row[first..]
                        .iter_mut()
                        .step_by(self.stride)
                        .zip(src)
                        .for_each(|(d, &v)| *d = v * a);
                }
            }
        }
    }

    /// Output rows per tile: the im2col block of a tile (patch × rows·out_w) stays within 2 MB,
    /// which bounds scratch memory for large images. Smaller tiles that stay in L2 measured
    /// slower here: the matrix product then repacks the weights for every few rows.
    pub(super) fn tile_rows(&self) -> usize {
        let budget = 2048 * 1024 / std::mem::size_of::<f32>();
        (budget / (self.patch() * self.out_w).max(1)).clamp(1, self.out_h)
    }

    /// Where the runs of patch row (c, i, j) start in the phase planes: the run for output
    /// row `oy` (`out_w` elements) starts at `first + oy · step`.
    #[inline]
    pub(super) fn patch_runs(&self, c: usize, i: usize, j: usize) -> (usize, usize) {
        (self.phase_index(c, i, j), self.phase_dims().1)
    }

    /// Copies the patches of output rows `rows` of one sample (as phase planes `q`) into `col`
    /// (patch × rows.len()·out_w, row-major).
    pub(super) fn im2col<T: Real>(&self, q: &[T], rows: std::ops::Range<usize>, col: &mut [T]) {
        let (ow, n) = (self.out_w, rows.len() * self.out_w);
        let mut dst = col[..self.patch() * n].chunks_exact_mut(ow);
        for c in 0..self.channels {
            for i in 0..self.kernel_h {
                for j in 0..self.kernel_w {
                    let (first, step) = self.patch_runs(c, i, j);
                    for oy in rows.clone() {
                        let start = first + oy * step;
                        dst.next()
                            .expect("col holds patch × tile")
                            .copy_from_slice(&q[start..start + ow]);
                    }
                }
            }
        }
    }

    /// Adds the patch gradients of output rows `rows` onto phase-plane gradients `gq` (the
    /// adjoint of [`Geometry::im2col`]).
    pub(super) fn col2im<T: Real>(&self, col: &[T], rows: std::ops::Range<usize>, gq: &mut [T]) {
        let (ow, n) = (self.out_w, rows.len() * self.out_w);
        let mut src = col[..self.patch() * n].chunks_exact(ow);
        for c in 0..self.channels {
            for i in 0..self.kernel_h {
                for j in 0..self.kernel_w {
                    let (first, step) = self.patch_runs(c, i, j);
                    for oy in rows.clone() {
                        let start = first + oy * step;
                        let run = src.next().expect("col holds patch × tile");
                        gq[start..start + ow]
                            .iter_mut()
                            .zip(run)
                            .for_each(|(g, &v)| *g += v);
                    }
                }
            }
        }
    }

    /// Row tiles of the output: `[start, end)` ranges of `tile_rows` rows.
    pub(super) fn tiles(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        let step = self.tile_rows();
        (0..self.out_h)
            .step_by(step)
            .map(move |r| r..(r + step).min(self.out_h))
    }

    /// Samples per parallel chunk (see [`chunk_count`]).
    pub(super) fn per_chunk(&self) -> usize {
        self.batch.div_ceil(chunk_count(self.batch)).max(1)
    }
}

/// `c (m×n, leading dimension ldc) = [c +] a (m×k) · b (k×n)`, row-major operands.
pub(super) fn matmul<T: Real>(
    (m, n, k): (usize, usize, usize),
    c: &mut [T],
    ldc: usize,
    accumulate: bool,
    a: Operand<T>,
    b: Operand<T>,
) {
    T::gemm(m, n, k, a, b, c, ldc, accumulate)
}

pub(super) fn plain<T>(data: &[T], ld: usize) -> Operand<'_, T> {
    Operand {
        data,
        ld,
        transposed: false,
    }
}

pub(super) fn transposed<T>(data: &[T], ld: usize) -> Operand<'_, T> {
    Operand {
        data,
        ld,
        transposed: true,
    }
}

struct Conv2d {
    spec: Conv2dSpec,
    relu: bool,
    /// The input enters as `scale·x + shift`.
    scale: f64,
    shift: f64,
}

impl Conv2d {
    fn affine<T: Real>(&self) -> (T, T) {
        (T::from_f64(self.scale), T::from_f64(self.shift))
    }

    fn forward<T: Real>(&self, g: &Geometry, x: &[T], w: &[T], bias: &[T]) -> Vec<T> {
        if g.batch == 1 && rayon::current_num_threads() > 1 {
            return self.forward_one(g, x, w, bias);
        }
        let per_chunk = g.per_chunk();
        let (patch, pixels, ow) = (g.patch(), g.pixels(), g.out_w);
        let total = g.batch * g.output_len();
        // Every element is first written with its bias, so the output is not zeroed first.
        let mut out: Vec<T> = Vec::with_capacity(total);
        out.spare_capacity_mut()[..total]
            .par_chunks_mut(per_chunk * g.output_len())
            .enumerate()
            .for_each(|(chunk, out)| {
                let mut col = vec![T::ZERO; patch * g.tile_rows() * ow];
                let mut q = vec![T::ZERO; g.phases_len()];
                for (i, out) in out.chunks_mut(g.output_len()).enumerate() {
                    g.to_phases(
                        &x[(chunk * per_chunk + i) * g.input_len()..][..g.input_len()],
                        self.affine(),
                        &mut q,
                    );
                    let out = fill_planes(out, pixels, bias);
                    for rows in g.tiles() {
                        let n = rows.len() * ow;
                        g.im2col(&q, rows.clone(), &mut col);
                        let c = &mut out[rows.start * ow..];
                        matmul(
                            (g.out_channels, n, patch),
                            c,
                            pixels,
                            true,
                            plain(w, patch),
                            plain(&col, n),
                        );
                        // The tile is still in cache.
                        for plane in c.chunks_mut(pixels) {
                            self.activate(&mut plane[..n]);
                        }
                    }
                }
            });
        // SAFETY: the chunks cover all `total` elements and `fill_planes` wrote every one.
        unsafe { out.set_len(total) };
        out
    }

    /// The ReLU, written without a branch so that it vectorises (a branch per element
    /// mispredicts on half of them and cost 15 % of a training step).
    fn activate<T: Real>(&self, out: &mut [T]) {
        if self.relu {
            out.iter_mut().for_each(|v| {
                let x = *v;
                *v = if x > T::ZERO { x } else { T::ZERO };
            });
        }
    }

    /// One image (inference): its output rows are split over the pool, each part doing its
    /// own im2col and product into a block that is then copied into place.
    fn forward_one<T: Real>(&self, g: &Geometry, x: &[T], w: &[T], bias: &[T]) -> Vec<T> {
        let (patch, pixels, ow) = (g.patch(), g.pixels(), g.out_w);
        let mut q = vec![T::ZERO; g.phases_len()];
        g.to_phases(x, self.affine(), &mut q);
        let parts = rayon::current_num_threads().min(g.out_h);
        let rows_per_part = g.out_h.div_ceil(parts);
        let blocks: Vec<(usize, Vec<T>)> = (0..g.out_h.div_ceil(rows_per_part))
            .into_par_iter()
            .map(|part| {
                let rows = part * rows_per_part..((part + 1) * rows_per_part).min(g.out_h);
                let n = rows.len() * ow;
                let mut col = vec![T::ZERO; patch * n];
                g.im2col(&q, rows.clone(), &mut col);
                let mut block = vec![T::ZERO; g.out_channels * n];
                for (o, plane) in block.chunks_mut(n).enumerate() {
                    plane.fill(bias[o]);
                }
                matmul(
                    (g.out_channels, n, patch),
                    &mut block,
                    n,
                    true,
                    plain(w, patch),
                    plain(&col, n),
                );
                self.activate(&mut block);
                (rows.start * ow, block)
            })
            .collect();
        let mut out = vec![T::ZERO; g.output_len()];
        for (start, block) in blocks {
            let n = block.len() / g.out_channels;
            for (o, run) in block.chunks(n).enumerate() {
                out[o * pixels + start..][..n].copy_from_slice(run);
            }
        }
        out
    }
}

/// Writes `bias[o]` into every element of plane `o` of one sample's output and returns the
/// sample as initialised values.
pub(super) fn fill_planes<'a, T: Real>(
    sample: &'a mut [MaybeUninit<T>],
    pixels: usize,
    bias: &[T],
) -> &'a mut [T] {
    assert_eq!(sample.len(), pixels * bias.len(), "conv2d: output planes");
    for (plane, &b) in sample.chunks_mut(pixels).zip(bias) {
        plane.fill(MaybeUninit::new(b));
    }
    // SAFETY: the planes cover the whole slice (asserted above) and each was filled just above;
    // MaybeUninit<T> has the layout of T.
    unsafe { &mut *(sample as *mut [MaybeUninit<T>] as *mut [T]) }
}

/// The sum of `values` over eight interleaved partial sums, so that it vectorises (a single
/// running sum must add in order); the order is fixed, so the result is repeatable.
pub(super) fn sum<T: Real>(values: &[T]) -> T {
    let mut lanes = [T::ZERO; 8];
    let chunks = values.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        lanes.iter_mut().zip(chunk).for_each(|(l, &v)| *l += v);
    }
    rest.iter()
        .fold(lanes.iter().fold(T::ZERO, |a, &l| a + l), |a, &v| a + v)
}

/// The output gradient of one sample, zeroed where the ReLU was inactive.
pub(super) fn masked<'a, T: Real>(
    grad: &'a [T],
    res: &[T],
    relu: bool,
    scratch: &'a mut Vec<T>,
) -> &'a [T] {
    if !relu {
        return grad;
    }
    scratch.clear();
    scratch.extend(
        grad.iter()
            .zip(res)
            .map(|(&g, &r)| if r > T::ZERO { g } else { T::ZERO }),
    );
    scratch
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
        let out = super::profile::timed(0, || {
            Ok::<_, candle_core::Error>(dispatch!("conv2d", sx, |T| self.forward::<T>(
                &g,
                T::slice(sx, lx, "conv2d x")?,
                T::slice(sw, lw, "conv2d weight")?,
                T::slice(sb, lb, "conv2d bias")?,
            )))
        })?;
        Ok((
            out,
            Shape::from((g.batch, g.out_channels, g.out_h, g.out_w)),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // The first layer's input is the image, which needs no gradient.
        let input = x.track_op();
        let op = Backward {
            spec: self.spec,
            relu: self.relu,
            scale: self.scale,
            shift: self.shift,
            weight: w.clone(),
            input,
        };
        let all = x.apply_op3_no_bwd(&grad.contiguous()?, res, &op)?;
        let (nx, nw, o) = (
            if input { x.elem_count() } else { 0 },
            w.elem_count(),
            w.dims()[0],
        );
        let grad_x = if input {
            Some(all.narrow(0, 0, nx)?.reshape(x.dims())?)
        } else {
            None
        };
        let grad_w = all.narrow(0, nx, nw)?.reshape(w.dims())?;
        let grad_b = all.narrow(0, nx + nw, o)?;
        Ok((grad_x, Some(grad_w), Some(grad_b)))
    }
}

/// The whole backward pass in one sweep over the samples: `(x, grad, output)` → input gradient
/// (when `input`), weight gradient and bias gradient, concatenated. Each sample's output
/// gradient is masked by the ReLU once and used for both products while it is in cache;
/// weight and bias gradients are summed per fixed chunk and the chunks added in order.
struct Backward {
    spec: Conv2dSpec,
    relu: bool,
    scale: f64,
    shift: f64,
    weight: Tensor,
    input: bool,
}

impl Backward {
    /// Input gradient (when asked for), then weight and bias gradients.
    fn output_len(&self, g: &Geometry) -> usize {
        let input = if self.input {
            g.batch * g.input_len()
        } else {
            0
        };
        input + g.out_channels * g.patch() + g.out_channels
    }

    fn run<T: Real>(&self, g: &Geometry, x: &[T], grad: &[T], res: &[T], w: &[T]) -> Vec<T> {
        let per_chunk = g.per_chunk();
        let (patch, pixels, len, o, ow) = (
            g.patch(),
            g.pixels(),
            g.output_len(),
            g.out_channels,
            g.out_w,
        );
        let chunks = g.batch.div_ceil(per_chunk);
        let total = self.output_len(g);
        let nx = total - (o * patch + o);
        let mut all = vec![T::ZERO; total];
        let (gx_all, params) = all.split_at_mut(nx);
        let gx_parts: Vec<Option<&mut [T]>> = if self.input {
            gx_all
                .chunks_mut(per_chunk * g.input_len())
                .map(Some)
                .collect()
        } else {
            (0..chunks).map(|_| None).collect()
        };
        let partials: Vec<Vec<T>> = gx_parts
            .into_par_iter()
            .enumerate()
            .map(|(chunk, mut gx)| {
                let mut col = vec![T::ZERO; patch * g.tile_rows() * ow];
                let mut q = vec![T::ZERO; g.phases_len()];
                let mut scratch = Vec::with_capacity(len);
                let mut partial = vec![T::ZERO; o * patch + o];
                for sample in chunk * per_chunk..((chunk + 1) * per_chunk).min(g.batch) {
                    let range = sample * len..(sample + 1) * len;
                    let gout = masked(&grad[range.clone()], &res[range], self.relu, &mut scratch);
                    let (gw, gb) = partial.split_at_mut(o * patch);
                    g.to_phases(
                        &x[sample * g.input_len()..][..g.input_len()],
                        (T::from_f64(self.scale), T::from_f64(self.shift)),
                        &mut q,
                    );
                    for rows in g.tiles() {
                        let n = rows.len() * ow;
                        g.im2col(&q, rows.clone(), &mut col);
                        let a = plain(&gout[rows.start * ow..], pixels);
                        matmul((o, patch, n), gw, patch, true, a, transposed(&col, n));
                    }
                    for (b, plane) in gb.iter_mut().zip(gout.chunks(pixels)) {
                        *b += sum(plane);
                    }
                    if let Some(gx) = gx.as_deref_mut() {
                        // q now serves as the phase-plane gradient.
                        q.fill(T::ZERO);
                        for rows in g.tiles() {
                            let n = rows.len() * ow;
                            let b = plain(&gout[rows.start * ow..], pixels);
                            matmul((patch, n, o), &mut col, n, false, transposed(w, patch), b);
                            g.col2im(&col, rows, &mut q);
                        }
                        let first = sample - chunk * per_chunk;
                        g.from_phases(
                            &q,
                            T::from_f64(self.scale),
                            &mut gx[first * g.input_len()..][..g.input_len()],
                        );
                    }
                }
                partial
            })
            .collect();
        for partial in partials {
            params.iter_mut().zip(partial).for_each(|(a, b)| *a += b);
        }
        all
    }
}

impl CustomOp3 for Backward {
    fn name(&self) -> &'static str {
        "steerlab-conv2d-backward"
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
        let g = Geometry::new(lx.dims(), self.weight.dims(), self.spec)?;
        let weight = self.weight.contiguous()?;
        let (storage, lw) = weight.storage_and_layout();
        let candle_core::Storage::Cpu(sw) = &*storage else {
            bail!("conv2d: weight is not on the CPU");
        };
        let out = super::profile::timed(1, || {
            Ok::<_, candle_core::Error>(dispatch!("conv2d", sx, |T| self.run::<T>(
                &g,
                T::slice(sx, lx, "conv2d x")?,
                T::slice(sg, lg, "conv2d grad")?,
                T::slice(sr, lr, "conv2d output")?,
                T::slice(sw, lw, "conv2d weight")?,
            )))
        })?;
        Ok((out, Shape::from(self.output_len(&g))))
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
                                    if iy >= 0
                                        && ix >= 0
                                        && (iy as usize) < g.height
                                        && (ix as usize) < g.width
                                    {
                                        acc += x[((n * g.channels + c) * g.height + iy as usize)
                                            * g.width
                                            + ix as usize]
                                            * w[((o * g.channels + c) * g.kernel_h + i)
                                                * g.kernel_w
                                                + j];
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
        for (h, w, k, s, p) in [
            (7, 8, 3, 2, 0),
            (66, 20, 5, 2, 0),
            (5, 5, 3, 1, 1),
            (6, 9, 2, 3, 2),
            (3, 3, 3, 1, 0),
        ] {
            let spec = Conv2dSpec {
                stride: s,
                padding: p,
            };
            let g = Geometry::new(&[3, 2, h, w], &[4, 2, k, k], spec).unwrap();
            let x: Vec<f64> = (0..3 * 2 * h * w)
                .map(|i| ((i * 37 % 101) as f64 - 50.0) / 25.0)
                .collect();
            let wt: Vec<f64> = (0..4 * 2 * k * k)
                .map(|i| ((i * 13 % 29) as f64 - 14.0) / 10.0)
                .collect();
            let b = [0.5, -0.25, 1.0, 0.0];
            let ours = Conv2d {
                spec,
                relu: false,
                scale: 1.0,
                shift: 0.0,
            }
            .forward(&g, &x, &wt, &b);
            let reference = direct(&g, &x, &wt, &b);
            for (a, r) in ours.iter().zip(&reference) {
                assert!((a - r).abs() < 1e-9, "{h}x{w} k{k} s{s} p{p}: {a} vs {r}");
            }
        }
    }
}
