//! RoI Align (He et al. 2017, as torchvision's `roi_align` with `aligned=True`): each region
//! of interest is cut from the feature map of its image into `out_h × out_w` bins, each bin the
//! mean of `sampling × sampling` bilinear samples. The gradient flows back to the feature map
//! (the boxes are proposals, not learned through this op, as in Faster R-CNN).

use super::element::Real;
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

/// A region: the image it belongs to and its corners in input pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Roi {
    pub image: usize,
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

/// `features (B, C, H, W)` → `(R, C, out_h, out_w)`; `scale` maps input pixels to feature-map
/// cells (1/stride of the backbone), `sampling` is the samples per bin side.
pub fn roi_align(
    features: &Tensor,
    rois: &[Roi],
    (out_h, out_w): (usize, usize),
    scale: f64,
    sampling: usize,
) -> Result<Tensor> {
    let &[batch, ..] = features.dims() else {
        bail!("roi_align: expected features (B, C, H, W)")
    };
    if features.dims().len() != 4 || out_h == 0 || out_w == 0 || sampling == 0 {
        bail!("roi_align: expected features (B, C, H, W) and a non-empty output grid");
    }
    if let Some(r) = rois.iter().find(|r| r.image >= batch) {
        bail!(
            "roi_align: a region of image {} but only {batch} images",
            r.image
        );
    }
    features.contiguous()?.apply_op1(RoiAlign {
        rois: rois.to_vec(),
        out_h,
        out_w,
        scale,
        sampling,
    })
}

#[derive(Clone)]
struct RoiAlign {
    rois: Vec<Roi>,
    out_h: usize,
    out_w: usize,
    scale: f64,
    sampling: usize,
}

/// The four cells and weights of a bilinear sample at (y, x), torchvision's convention: none
/// outside [−1, size], coordinates clamped into the map.
fn bilinear(y: f64, x: f64, h: usize, w: usize) -> Option<[(usize, f64); 4]> {
    if y < -1.0 || y > h as f64 || x < -1.0 || x > w as f64 {
        return None;
    }
    let (mut y, mut x) = (y.max(0.0), x.max(0.0));
    let mut y0 = y.floor() as usize;
    let mut x0 = x.floor() as usize;
    let y1 = if y0 >= h - 1 {
        y0 = h - 1;
        y = y0 as f64;
        h - 1
    } else {
        y0 + 1
    };
    let x1 = if x0 >= w - 1 {
        x0 = w - 1;
        x = x0 as f64;
        w - 1
    } else {
        x0 + 1
    };
    let (ly, lx) = (y - y0 as f64, x - x0 as f64);
    let (hy, hx) = (1.0 - ly, 1.0 - lx);
    Some([
        (y0 * w + x0, hy * hx),
        (y0 * w + x1, hy * lx),
        (y1 * w + x0, ly * hx),
        (y1 * w + x1, ly * lx),
    ])
}

impl RoiAlign {
    /// Every (cell, weight) that bin (i, j) of `roi` averages, weights already divided by the
    /// sample count.
    fn bin_samples(&self, roi: &Roi, i: usize, j: usize, h: usize, w: usize) -> Vec<(usize, f64)> {
        let (x0, y0) = (roi.x0 * self.scale - 0.5, roi.y0 * self.scale - 0.5);
        let (rw, rh) = (
            (roi.x1 - roi.x0) * self.scale,
            (roi.y1 - roi.y0) * self.scale,
        );
        let (bw, bh) = (rw / self.out_w as f64, rh / self.out_h as f64);
        let n = self.sampling;
        let share = 1.0 / (n * n) as f64;
        let mut out = Vec::with_capacity(4 * n * n);
        for sy in 0..n {
            let y = y0 + i as f64 * bh + (sy as f64 + 0.5) * bh / n as f64;
            for sx in 0..n {
                let x = x0 + j as f64 * bw + (sx as f64 + 0.5) * bw / n as f64;
                if let Some(cells) = bilinear(y, x, h, w) {
                    out.extend(cells.iter().map(|&(c, wt)| (c, wt * share)));
                }
            }
        }
        out
    }

    fn forward<T: Real>(&self, dims: &[usize], f: &[T]) -> Vec<T> {
        let (c, h, w) = (dims[1], dims[2], dims[3]);
        let bins = self.out_h * self.out_w;
        let mut out = vec![T::ZERO; self.rois.len() * c * bins];
        out.par_chunks_mut(c * bins)
            .zip(self.rois.par_iter())
            .for_each(|(out, roi)| {
                for i in 0..self.out_h {
                    for j in 0..self.out_w {
                        let samples = self.bin_samples(roi, i, j, h, w);
                        for ch in 0..c {
                            let plane = &f[(roi.image * c + ch) * h * w..][..h * w];
                            out[ch * bins + i * self.out_w + j] =
                                samples.iter().fold(T::ZERO, |acc, &(cell, wt)| {
                                    acc + plane[cell] * T::from_f64(wt)
                                });
                        }
                    }
                }
            });
        out
    }

    /// Scatters `grad (R, C, out_h, out_w)` back onto the feature map, image by image.
    fn backward<T: Real>(&self, dims: &[usize], grad: &[T]) -> Vec<T> {
        let (b, c, h, w) = (dims[0], dims[1], dims[2], dims[3]);
        let bins = self.out_h * self.out_w;
        let mut gf = vec![T::ZERO; b * c * h * w];
        gf.par_chunks_mut(c * h * w)
            .enumerate()
            .for_each(|(image, gf)| {
                for (r, roi) in self
                    .rois
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.image == image)
                {
                    for i in 0..self.out_h {
                        for j in 0..self.out_w {
                            let samples = self.bin_samples(roi, i, j, h, w);
                            for ch in 0..c {
                                let g = grad[(r * c + ch) * bins + i * self.out_w + j];
                                let plane = &mut gf[ch * h * w..][..h * w];
                                for &(cell, wt) in &samples {
                                    plane[cell] += g * T::from_f64(wt);
                                }
                            }
                        }
                    }
                }
            });
        gf
    }
}

impl CustomOp1 for RoiAlign {
    fn name(&self) -> &'static str {
        "steerlab-roi-align"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = l.dims().to_vec();
        let out = dispatch!("roi_align", s, |T| self
            .forward::<T>(&dims, T::slice(s, l, "roi_align features")?));
        Ok((
            out,
            Shape::from((self.rois.len(), dims[1], self.out_h, self.out_w)),
        ))
    }

    fn bwd(&self, features: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let op = RoiAlignGrad(self.clone());
        Ok(Some(features.apply_op2_no_bwd(&grad.contiguous()?, &op)?))
    }
}

/// `(features, grad of the output) → grad of the features`.
struct RoiAlignGrad(RoiAlign);

impl CustomOp2 for RoiAlignGrad {
    fn name(&self) -> &'static str {
        "steerlab-roi-align-grad"
    }

    fn cpu_fwd(
        &self,
        sf: &CpuStorage,
        lf: &Layout,
        sg: &CpuStorage,
        lg: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = lf.dims().to_vec();
        let out = dispatch!("roi_align", sf, |T| self
            .0
            .backward::<T>(&dims, T::slice(sg, lg, "roi_align grad")?));
        Ok((out, lf.shape().clone()))
    }
}
