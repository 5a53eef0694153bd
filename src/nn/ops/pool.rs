//! Max-pooling (no padding, floor mode) whose gradient goes to the first maximum of each window.

use super::element::Real;
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

/// `x (B, C, H, W)` max-pooled over `kernel`×`kernel` windows every `stride` pixels.
pub fn max_pool2d(x: &Tensor, kernel: usize, stride: usize) -> Result<Tensor> {
    Pool::new(x.dims(), kernel, stride)?;
    x.contiguous()?.apply_op1(MaxPool { kernel, stride })
}

#[derive(Clone, Copy, Debug)]
struct Pool {
    planes: usize,
    height: usize,
    width: usize,
    kernel: usize,
    stride: usize,
    out_h: usize,
    out_w: usize,
}

impl Pool {
    fn new(dims: &[usize], kernel: usize, stride: usize) -> Result<Self> {
        let &[b, c, height, width] = dims else {
            bail!("max_pool2d: expected (B, C, H, W), got {dims:?}")
        };
        if kernel == 0 || stride == 0 || height < kernel || width < kernel {
            bail!("max_pool2d: window {kernel} stride {stride} does not fit {height}x{width}");
        }
        Ok(Self {
            planes: b * c,
            height,
            width,
            kernel,
            stride,
            out_h: (height - kernel) / stride + 1,
            out_w: (width - kernel) / stride + 1,
        })
    }

    /// Windows that tile the input without overlap (kernel = stride, the usual 2×2 pooling).
    fn tiled(&self) -> bool {
        self.kernel == self.stride
    }

    /// Visits the windows of output row `oy` of `plane` element by element, in window order
    /// ((0, 0) first, then row by row): `visit(ox, index in plane, value)`. Row-wise sweeps with
    /// branch-free selects measured 5–10× faster than finding each window's maximum in turn
    /// (a data-dependent branch per element mispredicts on random inputs).
    #[inline]
    fn sweep<T: Real>(&self, plane: &[T], oy: usize, mut visit: impl FnMut(usize, usize, T)) {
        let (s, w) = (self.stride, self.width);
        for i in 0..self.kernel {
            let row = (oy * s + i) * w;
            for j in 0..self.kernel {
                let run = &plane[row + j..];
                for (ox, &v) in run.iter().step_by(s).take(self.out_w).enumerate() {
                    visit(ox, row + j + ox * s, v);
                }
            }
        }
    }

    fn forward<T: Real>(&self, x: &[T]) -> Vec<T> {
        let plane_in = self.height * self.width;
        let plane_out = self.out_h * self.out_w;
        let mut out = vec![T::ZERO; self.planes * plane_out];
        out.par_chunks_mut(plane_out)
            .enumerate()
            .for_each(|(p, out)| {
                let plane = &x[p * plane_in..(p + 1) * plane_in];
                for (oy, best) in out.chunks_mut(self.out_w).enumerate() {
                    best.fill(T::NEG_INFINITY);
                    if self.tiled() {
                        for i in 0..self.kernel {
                            let row = &plane[(oy * self.stride + i) * self.width..];
                            for (b, window) in best.iter_mut().zip(row.chunks_exact(self.kernel)) {
                                for &v in window {
                                    *b = if v > *b { v } else { *b };
                                }
                            }
                        }
                        continue;
                    }
                    self.sweep(plane, oy, |ox, _, v| {
                        let b = best[ox];
                        best[ox] = if v > b { v } else { b };
                    });
                }
            });
        out
    }

    /// Each output's gradient goes to the first element of its window equal to the output
    /// (the window's first maximum: the output is a copy of it).
    fn backward<T: Real>(&self, x: &[T], out: &[T], grad: &[T]) -> Vec<T> {
        let plane_in = self.height * self.width;
        let plane_out = self.out_h * self.out_w;
        let mut gx = vec![T::ZERO; self.planes * plane_in];
        gx.par_chunks_mut(plane_in).enumerate().for_each(|(p, gx)| {
            let plane = &x[p * plane_in..(p + 1) * plane_in];
            let rows = out[p * plane_out..(p + 1) * plane_out]
                .chunks(self.out_w)
                .zip(grad[p * plane_out..(p + 1) * plane_out].chunks(self.out_w));
            let mut taken = vec![false; self.out_w];
            for (oy, (out, grad)) in rows.enumerate() {
                taken.fill(false);
                if self.tiled() {
                    // Every input element lies in at most one window: written, not added.
                    let k = self.kernel;
                    for i in 0..k {
                        let at = (oy * k + i) * self.width;
                        let (src, dst) = (&plane[at..][..self.width], &mut gx[at..][..self.width]);
                        let windows = src.chunks_exact(k).zip(dst.chunks_exact_mut(k));
                        for (ox, (src, dst)) in windows.take(self.out_w).enumerate() {
                            for (&v, d) in src.iter().zip(dst) {
                                let hit = !taken[ox] && v == out[ox];
                                taken[ox] |= hit;
                                *d = if hit { grad[ox] } else { T::ZERO };
                            }
                        }
                    }
                    continue;
                }
                self.sweep(plane, oy, |ox, at, v| {
                    let hit = !taken[ox] && v == out[ox];
                    taken[ox] |= hit;
                    gx[at] += if hit { grad[ox] } else { T::ZERO };
                });
            }
        });
        gx
    }
}

struct MaxPool {
    kernel: usize,
    stride: usize,
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "steerlab-max-pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let pool = Pool::new(l.dims(), self.kernel, self.stride)?;
        let out = super::profile::timed(2, || {
            Ok::<_, candle_core::Error>(dispatch!("max_pool2d", s, |T| pool.forward(T::slice(
                s,
                l,
                "max_pool2d"
            )?)))
        })?;
        let d = l.dims();
        Ok((out, Shape::from((d[0], d[1], pool.out_h, pool.out_w))))
    }

    fn bwd(&self, x: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let op = MaxPoolGrad {
            kernel: self.kernel,
            stride: self.stride,
        };
        Ok(Some(x.apply_op3_no_bwd(res, &grad.contiguous()?, &op)?))
    }
}

/// `(x, pooled output, grad of the pooled output) -> grad of x`.
struct MaxPoolGrad {
    kernel: usize,
    stride: usize,
}

impl CustomOp3 for MaxPoolGrad {
    fn name(&self) -> &'static str {
        "steerlab-max-pool2d-grad"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        so: &CpuStorage,
        lo: &Layout,
        sg: &CpuStorage,
        lg: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let pool = Pool::new(lx.dims(), self.kernel, self.stride)?;
        let out = super::profile::timed(3, || {
            Ok::<_, candle_core::Error>(dispatch!("max_pool2d", sx, |T| {
                pool.backward(
                    T::slice(sx, lx, "max_pool2d")?,
                    T::slice(so, lo, "max_pool2d output")?,
                    T::slice(sg, lg, "grad")?,
                )
            }))
        })?;
        Ok((out, lx.shape().clone()))
    }
}
