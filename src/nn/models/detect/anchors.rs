//! Anchors and box coding: where the backbone's feature cells sit on the image, the anchor
//! boxes at each, and the deltas (Faster R-CNN's parametrisation) that move a box onto another.

use crate::nn::models::detect::boxes::BBox;
use crate::nn::models::steering::config::{InputSpec, LayerSpec};
use crate::nn::ops::Roi;

/// Where the backbone's feature cells sit on the image: cell (i, j) is centred at pixel
/// coordinates (`first + j·stride`, `first + i·stride`), pixel k spanning [k, k + 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FeatureGrid {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub stride: f64,
    pub first: f64,
}

impl FeatureGrid {
    /// The grid after `layers` on `input`.
    pub fn of(input: InputSpec, layers: &[LayerSpec]) -> std::result::Result<Self, String> {
        let mut size = (input.channels, input.height, input.width);
        let (mut stride, mut first) = (1.0, 0.5);
        for (i, layer) in layers.iter().enumerate() {
            let (kernel, step, padding) = match *layer {
                LayerSpec::Conv {
                    kernel,
                    stride,
                    padding,
                    ..
                } => (kernel, stride, padding),
                LayerSpec::MaxPool { kernel, stride } => (kernel, stride, 0),
            };
            size = layer
                .output(size)
                .map_err(|e| format!("backbone.layers[{i}]: {e}"))?;
            // Cell j of this layer reads cells j·step − padding … + kernel − 1 of the last.
            first += stride * ((kernel as f64 - 1.0) / 2.0 - padding as f64);
            stride *= step as f64;
        }
        Ok(Self {
            channels: size.0,
            height: size.1,
            width: size.2,
            stride,
            first,
        })
    }

    /// Every anchor, cell by cell in row-major order, `sides × aspects` at each (sides outer).
    pub fn anchors(&self, sides: &[f64], aspects: &[f64]) -> Vec<BBox> {
        let mut out = Vec::with_capacity(self.height * self.width * sides.len() * aspects.len());
        for i in 0..self.height {
            for j in 0..self.width {
                let cx = self.first + j as f64 * self.stride;
                let cy = self.first + i as f64 * self.stride;
                for &side in sides {
                    for &aspect in aspects {
                        let (w, h) = (side / aspect.sqrt(), side * aspect.sqrt());
                        out.push(BBox::new(
                            cx - w / 2.0,
                            cy - h / 2.0,
                            cx + w / 2.0,
                            cy + h / 2.0,
                        ));
                    }
                }
            }
        }
        out
    }

    /// A box in image pixels as the region [`crate::nn::ops::roi_align`] reads with scale 1 / stride
    /// (which puts cell centres at `(k + ½) · stride`).
    pub fn roi(&self, image: usize, b: &BBox) -> Roi {
        let shift = self.first - self.stride / 2.0;
        Roi {
            image,
            x0: b.x0 - shift,
            y0: b.y0 - shift,
            x1: b.x1 - shift,
            y1: b.y1 - shift,
        }
    }
}

/// Box-delta weights of the proposal network and of the box head (Faster R-CNN's).
pub const RPN_WEIGHTS: [f64; 4] = [1.0, 1.0, 1.0, 1.0];
pub const HEAD_WEIGHTS: [f64; 4] = [10.0, 10.0, 5.0, 5.0];
/// Largest log-scale delta decoded, log(1000/16) as in torchvision: keeps `exp` finite.
pub(super) const MAX_LOG_SCALE: f64 = 4.135;

pub(super) fn centre_size(b: &BBox) -> (f64, f64, f64, f64) {
    let (w, h) = (b.x1 - b.x0, b.y1 - b.y0);
    (b.x0 + 0.5 * w, b.y0 + 0.5 * h, w, h)
}

/// The deltas that move `reference` onto `target`: centre shift in reference sizes and log
/// size ratios, each times its weight. Both boxes must have positive sides.
pub fn encode(reference: &BBox, target: &BBox, weights: [f64; 4]) -> [f64; 4] {
    let (rx, ry, rw, rh) = centre_size(reference);
    let (tx, ty, tw, th) = centre_size(target);
    [
        weights[0] * (tx - rx) / rw,
        weights[1] * (ty - ry) / rh,
        weights[2] * (tw / rw).ln(),
        weights[3] * (th / rh).ln(),
    ]
}

/// The box that `deltas` make of `reference` (the inverse of [`encode`]).
pub fn decode(reference: &BBox, deltas: [f64; 4], weights: [f64; 4]) -> BBox {
    let (rx, ry, rw, rh) = centre_size(reference);
    let cx = rx + deltas[0] / weights[0] * rw;
    let cy = ry + deltas[1] / weights[1] * rh;
    let w = rw * (deltas[2] / weights[2]).min(MAX_LOG_SCALE).exp();
    let h = rh * (deltas[3] / weights[3]).min(MAX_LOG_SCALE).exp();
    BBox::new(cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h)
}

pub(super) fn clip(b: BBox, width: f64, height: f64) -> BBox {
    BBox::new(
        b.x0.clamp(0.0, width),
        b.y0.clamp(0.0, height),
        b.x1.clamp(0.0, width),
        b.y1.clamp(0.0, height),
    )
}

/// `IoU[t][c]` of every truth `t` with every candidate `c`.
pub(super) fn iou_matrix(candidates: &[BBox], truths: &[BBox]) -> Vec<Vec<f64>> {
    truths
        .iter()
        .map(|t| candidates.iter().map(|c| c.iou(t)).collect())
        .collect()
}

/// For each candidate, the truth of highest IoU with it and that IoU (first truth on ties).
pub(super) fn best_truth(ious: &[Vec<f64>], candidates: usize) -> Vec<Option<(usize, f64)>> {
    (0..candidates)
        .map(|c| {
            ious.iter().enumerate().map(|(t, row)| (t, row[c])).fold(
                None,
                |best: Option<(usize, f64)>, (t, v)| match best {
                    Some((_, b)) if b >= v => best,
                    _ => Some((t, v)),
                },
            )
        })
        .collect()
}

/// Highest IoU of each candidate with any of `boxes` (0 when there are none).
pub(super) fn max_iou(candidates: &[BBox], boxes: &[BBox]) -> Vec<f64> {
    candidates
        .iter()
        .map(|c| boxes.iter().map(|b| b.iou(c)).fold(0.0, f64::max))
        .collect()
}
