//! The detector's training loss: anchors and regions matched to objects and sampled, the
//! proposal network's objectness and box losses and the head's class and box losses.

use crate::error::{Error, Result};
use crate::nn::data::detections::ImageTruth;
use crate::nn::device;
use crate::nn::models::detect::anchors::{
    HEAD_WEIGHTS, RPN_WEIGHTS, best_truth, encode, iou_matrix, max_iou,
};
use crate::nn::models::detect::boxes::BBox;
use crate::nn::models::detect::model::Detector;
use candle_core::{DType, Tensor};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

/// Smooth L1 (Huber) of each element of `d`: ½d²/β below β, |d| − ½β above.
pub fn smooth_l1(d: &Tensor, beta: f64) -> candle_core::Result<Tensor> {
    let a = d.abs()?;
    let small = a.clamp(0.0, beta)?;
    (small.sqr()? * (0.5 / beta))? + (a - small)?
}

/// Binary cross-entropy of each logit `x` against target `t` (0 or 1), in the form that stays
/// finite for any logit: max(x, 0) − x·t + log(1 + e^−|x|).
pub fn bce_with_logits(x: &Tensor, t: &Tensor) -> candle_core::Result<Tensor> {
    let softplus = (x.abs()?.neg()?.exp()? + 1.0)?.log()?;
    (x.relu()? - (x * t)?)? + softplus
}

/// Proposals per image the head learns from, and the regions sampled from them.
const TRAIN_PROPOSALS: usize = 300;
const RPN_SAMPLES: usize = 128;
const HEAD_SAMPLES: usize = 64;
/// Smooth L1's β for box deltas (Detectron's 1/9).
const BETA: f64 = 1.0 / 9.0;

/// The four training losses of a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct DetectorLosses {
    pub rpn_objectness: f64,
    pub rpn_boxes: f64,
    pub head_classes: f64,
    pub head_boxes: f64,
}

impl DetectorLosses {
    pub fn total(&self) -> f64 {
        self.rpn_objectness + self.rpn_boxes + self.head_classes + self.head_boxes
    }
}

impl Detector {
    /// The training loss of a batch (`images (B, 3, H, W)` and each image's objects) and its
    /// four parts. Anchors and regions are sampled with `rng`.
    pub fn loss(
        &self,
        images: &Tensor,
        truths: &[ImageTruth],
        rng: &mut StdRng,
    ) -> Result<(Tensor, DetectorLosses)> {
        let (features, objectness, deltas) = self.rpn(images)?;
        let b = truths.len();
        if objectness.dim(0)? != b {
            return Err(Error::InvalidArgument(format!(
                "{} images but objects for {b}",
                objectness.dim(0)?
            )));
        }
        let n = self.anchors.len();

        // Proposal network: anchors of IoU ≥ 0.5 with an object (and each object's best
        // anchors) are positive, below 0.3 negative; 128 sampled per image, at most half
        // positive.
        let mut obj_target = vec![0f32; b * n];
        let mut obj_weight = vec![0f32; b * n];
        let mut box_target = vec![0f32; b * n * 4];
        let mut box_weight = vec![0f32; b * n * 4];
        let mut sampled = 0usize;
        for (i, truth) in truths.iter().enumerate() {
            let boxes: Vec<BBox> = truth.objects.iter().map(|(_, b)| *b).collect();
            let ious = iou_matrix(&self.anchors, &boxes);
            let best = best_truth(&ious, n);
            let ignored = max_iou(&self.anchors, &truth.ignored_boxes());
            let mut label: Vec<Option<bool>> = (0..n)
                .map(|a| match best[a] {
                    Some((_, v)) if v >= 0.5 => Some(true),
                    Some((_, v)) if v >= 0.3 => None,
                    _ if ignored[a] >= 0.3 => None,
                    _ => Some(false),
                })
                .collect();
            let mut matched: Vec<usize> = best.iter().map(|m| m.map_or(0, |m| m.0)).collect();
            for (t, row) in ious.iter().enumerate() {
                let top = row.iter().cloned().fold(0.0, f64::max);
                if top <= 0.0 {
                    continue;
                }
                for (a, &v) in row.iter().enumerate() {
                    if v == top {
                        label[a] = Some(true);
                        matched[a] = t;
                    }
                }
            }
            let mut positive: Vec<usize> = (0..n).filter(|&a| label[a] == Some(true)).collect();
            let mut negative: Vec<usize> = (0..n).filter(|&a| label[a] == Some(false)).collect();
            positive.shuffle(rng);
            negative.shuffle(rng);
            positive.truncate(RPN_SAMPLES / 2);
            negative.truncate(RPN_SAMPLES - positive.len());
            sampled += positive.len() + negative.len();
            for &a in &negative {
                obj_weight[i * n + a] = 1.0;
            }
            for &a in &positive {
                obj_weight[i * n + a] = 1.0;
                obj_target[i * n + a] = 1.0;
                let d = encode(&self.anchors[a], &boxes[matched[a]], RPN_WEIGHTS);
                for k in 0..4 {
                    box_target[(i * n + a) * 4 + k] = d[k] as f32;
                    box_weight[(i * n + a) * 4 + k] = 1.0;
                }
            }
        }
        let dev = device();
        let norm = sampled.max(1) as f64;
        let t = |v: Vec<f32>, shape: (usize, usize)| Tensor::from_vec(v, shape, &dev);
        let rpn_objectness = (bce_with_logits(
            &objectness.flatten_all()?,
            &t(obj_target, (b, n))?.flatten_all()?,
        )? * t(obj_weight, (b, n))?.flatten_all()?)?
        .sum_all()?
        .affine(1.0 / norm, 0.0)?;
        let rpn_boxes = (smooth_l1(
            &(deltas.flatten_all()? - t(box_target, (b, n * 4))?.flatten_all()?)?,
            BETA,
        )? * t(box_weight, (b, n * 4))?.flatten_all()?)?
        .sum_all()?
        .affine(1.0 / norm, 0.0)?;

        // Box head: proposals of the current network plus the objects themselves; regions of
        // IoU ≥ 0.5 with an object take its class, those below are background; 64 per image,
        // at most a quarter objects.
        let proposals = self.batch_proposals(&objectness, &deltas, TRAIN_PROPOSALS)?;
        let k = self.config.classes.len();
        let (mut rois, mut labels) = (Vec::new(), Vec::new());
        let (mut head_target, mut head_weight) = (Vec::new(), Vec::new());
        for (i, (truth, proposals)) in truths.iter().zip(&proposals).enumerate() {
            let boxes: Vec<BBox> = truth.objects.iter().map(|(_, b)| *b).collect();
            let mut candidates: Vec<BBox> = proposals.iter().map(|(b, _)| *b).collect();
            candidates.extend(&boxes);
            let best = best_truth(&iou_matrix(&candidates, &boxes), candidates.len());
            let ignored = max_iou(&candidates, &truth.ignored_boxes());
            let mut fg: Vec<usize> = (0..candidates.len())
                .filter(|&c| best[c].is_some_and(|(_, v)| v >= 0.5))
                .collect();
            let mut bg: Vec<usize> = (0..candidates.len())
                .filter(|&c| best[c].is_none_or(|(_, v)| v < 0.5) && ignored[c] < 0.5)
                .collect();
            fg.shuffle(rng);
            bg.shuffle(rng);
            fg.truncate(HEAD_SAMPLES / 4);
            bg.truncate(HEAD_SAMPLES - fg.len());
            for &c in &fg {
                let (t, _) = best[c].expect("a foreground region has a match");
                let (class, object) = truth.objects[t];
                rois.push(self.grid.roi(i, &candidates[c]));
                labels.push(class as u32 + 1);
                let d = encode(&candidates[c], &object, HEAD_WEIGHTS);
                let mut target = vec![0f32; 4 * k];
                let mut weight = vec![0f32; 4 * k];
                for j in 0..4 {
                    target[4 * class + j] = d[j] as f32;
                    weight[4 * class + j] = 1.0;
                }
                head_target.extend(target);
                head_weight.extend(weight);
            }
            for &c in &bg {
                rois.push(self.grid.roi(i, &candidates[c]));
                labels.push(0);
                head_target.extend(std::iter::repeat_n(0f32, 4 * k));
                head_weight.extend(std::iter::repeat_n(0f32, 4 * k));
            }
        }
        let zero = Tensor::zeros((), DType::F32, &dev)?;
        let (head_classes, head_boxes) = if rois.is_empty() {
            (zero.clone(), zero)
        } else {
            let r = rois.len();
            let (logits, pred) = self.head(&features, &rois)?;
            let labels = Tensor::from_vec(labels, r, &dev)?;
            let classes = candle_nn::loss::cross_entropy(&logits, &labels)?;
            let boxes = (smooth_l1(&(pred - t(head_target, (r, 4 * k))?)?, BETA)?
                * t(head_weight, (r, 4 * k))?)?
            .sum_all()?
            .affine(1.0 / r as f64, 0.0)?;
            (classes, boxes)
        };
        let total = (((&rpn_objectness + &rpn_boxes)? + &head_classes)? + &head_boxes)?;
        let value = |t: &Tensor| -> Result<f64> { Ok(t.to_scalar::<f32>()? as f64) };
        Ok((
            total,
            DetectorLosses {
                rpn_objectness: value(&rpn_objectness)?,
                rpn_boxes: value(&rpn_boxes)?,
                head_classes: value(&head_classes)?,
                head_boxes: value(&head_boxes)?,
            },
        ))
    }
}
