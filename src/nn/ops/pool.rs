//! Max-pooling (no padding, floor mode) whose gradient goes to the first maximum of each window.

use super::Real;
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor, bail};
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

    /// Index within the plane of the first maximum of window (oy, ox).
    fn argmax<T: Real>(&self, plane: &[T], oy: usize, ox: usize) -> usize {
        let mut best = (
            T::NEG_INFINITY,
            oy * self.stride * self.width + ox * self.stride,
        );
        for i in 0..self.kernel {
            let row = (oy * self.stride + i) * self.width + ox * self.stride;
            for (j, &v) in plane[row..row + self.kernel].iter().enumerate() {
                if v > best.0 {
                    best = (v, row + j);
                }
            }
        }
        best.1
    }

    fn forward<T: Real>(&self, x: &[T]) -> Vec<T> {
        let plane_in = self.height * self.width;
        let plane_out = self.out_h * self.out_w;
        let mut out = vec![T::ZERO; self.planes * plane_out];
        out.par_chunks_mut(plane_out)
            .enumerate()
            .for_each(|(p, out)| {
                let plane = &x[p * plane_in..(p + 1) * plane_in];
                for oy in 0..self.out_h {
                    for ox in 0..self.out_w {
                        out[oy * self.out_w + ox] = plane[self.argmax(plane, oy, ox)];
                    }
                }
            });
        out
    }

    fn backward<T: Real>(&self, x: &[T], grad: &[T]) -> Vec<T> {
        let plane_in = self.height * self.width;
        let plane_out = self.out_h * self.out_w;
        let mut gx = vec![T::ZERO; self.planes * plane_in];
        gx.par_chunks_mut(plane_in).enumerate().for_each(|(p, gx)| {
            let plane = &x[p * plane_in..(p + 1) * plane_in];
            let grad = &grad[p * plane_out..(p + 1) * plane_out];
            for oy in 0..self.out_h {
                for ox in 0..self.out_w {
                    gx[self.argmax(plane, oy, ox)] += grad[oy * self.out_w + ox];
                }
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

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let op = MaxPoolGrad {
            kernel: self.kernel,
            stride: self.stride,
        };
        Ok(Some(x.apply_op2_no_bwd(&grad.contiguous()?, &op)?))
    }
}

/// `(x, grad of the pooled output) -> grad of x`.
struct MaxPoolGrad {
    kernel: usize,
    stride: usize,
}

impl CustomOp2 for MaxPoolGrad {
    fn name(&self) -> &'static str {
        "steerlab-max-pool2d-grad"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sg: &CpuStorage,
        lg: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let pool = Pool::new(lx.dims(), self.kernel, self.stride)?;
        let out = super::profile::timed(3, || {
            Ok::<_, candle_core::Error>(dispatch!("max_pool2d", sx, |T| {
                pool.backward(T::slice(sx, lx, "max_pool2d")?, T::slice(sg, lg, "grad")?)
            }))
        })?;
        Ok((out, lx.shape().clone()))
    }
}
