//! Two-stage object detection on the shared backbone, in the shape of Faster R-CNN (Ren et al.
//! 2015). A region proposal network slides a 3×3 convolution over the backbone's feature map and
//! scores, at every cell, a fixed set of anchor boxes (an objectness logit and four box deltas
//! each); the best proposals after non-maximum suppression are cut from the same feature map by
//! RoI Align, and a dense head classifies each region (the object classes plus background) and
//! refines its box per class; non-maximum suppression per class gives the detections. One
//! backbone pass per image, where the sliding-window baseline ([`crate::nn::slide`]) runs the
//! classifier once per window.
//!
//! Trained end to end as in the paper's "approximate joint training": the proposals the head
//! learns from are constants, and the feature map gets gradients from both the proposal network
//! and the head.

use crate::error::{Error, Result};
use crate::nn::backbone::Backbone;
use crate::nn::boxes::{BBox, Detection, GroundTruth, average_precision, coco_ap, mean_ap, nms};
use crate::nn::checkpoint::{ModelDir, initialise, model_err};
use crate::nn::config::{BackboneConfig, InputSpec, LayerSpec};
use crate::nn::linear::Linear;
use crate::nn::ops::{self, Conv2dSpec, Roi};
use crate::nn::optim::{AdamW, AdamWParams, learning_rate};
use crate::nn::{ModelConfig, device};
use candle_core::{D, DType, Module, Tensor};
use candle_nn::{Init, VarBuilder, VarMap};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// A detector: input, backbone, object classes, anchors and the sizes of its two heads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    pub input: InputSpec,
    pub backbone: BackboneConfig,
    /// Object classes; the box head adds a background class of its own (its logit 0).
    pub classes: Vec<String>,
    /// Anchor sides in pixels (√(width·height)) at every feature-map cell.
    pub anchor_sides: Vec<f64>,
    /// Anchor aspect ratios, height / width, each at every side.
    pub anchor_aspects: Vec<f64>,
    /// Channels of the proposal network's 3×3 convolution.
    pub rpn_channels: usize,
    /// RoI Align output bins per side.
    pub roi_bins: usize,
    /// Width of the box head's two dense layers.
    pub head_hidden: usize,
}

impl DetectorConfig {
    /// The first two convolutions of PilotNet (stride 4: a 14×47 map of 36 channels for the
    /// 66×200 input; their weights load from a steering model), and anchors for the props and
    /// cars of the simulated roadside (7–40 pixels, from wide cars to tall signs).
    pub fn pilotnet(classes: Vec<String>) -> Self {
        let pilotnet = ModelConfig::pilotnet();
        Self {
            input: pilotnet.input,
            backbone: BackboneConfig {
                normalise: true,
                layers: pilotnet.backbone.layers[..2].to_vec(),
            },
            classes,
            anchor_sides: vec![8.0, 12.0, 18.0, 27.0, 40.0],
            anchor_aspects: vec![0.5, 1.0, 2.8],
            rpn_channels: 64,
            roi_bins: 5,
            head_hidden: 256,
        }
    }

    pub fn anchors_per_cell(&self) -> usize {
        self.anchor_sides.len() * self.anchor_aspects.len()
    }
}

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

    /// A box in image pixels as the region [`ops::roi_align`] reads with scale 1 / stride
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
const MAX_LOG_SCALE: f64 = 4.135;

fn centre_size(b: &BBox) -> (f64, f64, f64, f64) {
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

fn clip(b: BBox, width: f64, height: f64) -> BBox {
    BBox::new(
        b.x0.clamp(0.0, width),
        b.y0.clamp(0.0, height),
        b.x1.clamp(0.0, width),
        b.y1.clamp(0.0, height),
    )
}

/// `IoU[t][c]` of every truth `t` with every candidate `c`.
fn iou_matrix(candidates: &[BBox], truths: &[BBox]) -> Vec<Vec<f64>> {
    truths
        .iter()
        .map(|t| candidates.iter().map(|c| c.iou(t)).collect())
        .collect()
}

/// For each candidate, the truth of highest IoU with it and that IoU (first truth on ties).
fn best_truth(ious: &[Vec<f64>], candidates: usize) -> Vec<Option<(usize, f64)>> {
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
fn max_iou(candidates: &[BBox], boxes: &[BBox]) -> Vec<f64> {
    candidates
        .iter()
        .map(|c| boxes.iter().map(|b| b.iou(c)).fold(0.0, f64::max))
        .collect()
}

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

/// Thresholds and sizes of detection at inference.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectOptions {
    /// Proposals per image kept for the head after their non-maximum suppression.
    pub proposals: usize,
    /// Smallest class probability reported.
    pub score_threshold: f64,
    /// Non-maximum suppression of detections of one class.
    pub nms_iou: f64,
    /// Most detections reported per image.
    pub max_detections: usize,
}

impl Default for DetectOptions {
    fn default() -> Self {
        Self {
            proposals: 100,
            score_threshold: 0.05,
            nms_iou: 0.5,
            max_detections: 100,
        }
    }
}

/// Proposals scored before their non-maximum suppression, and its IoU.
const PRE_NMS: usize = 600;
const RPN_NMS_IOU: f64 = 0.7;
/// Proposals per image the head learns from, and the regions sampled from them.
const TRAIN_PROPOSALS: usize = 300;
const RPN_SAMPLES: usize = 128;
const HEAD_SAMPLES: usize = 64;
/// Smooth L1's β for box deltas (Detectron's 1/9).
const BETA: f64 = 1.0 / 9.0;

/// A detector's variables and layers.
pub struct Detector {
    pub config: DetectorConfig,
    pub varmap: VarMap,
    pub grid: FeatureGrid,
    anchors: Vec<BBox>,
    backbone: Backbone,
    rpn_conv: (Tensor, Tensor),
    rpn_objectness: Linear,
    rpn_deltas: Linear,
    fc1: Linear,
    fc2: Linear,
    class_logits: Linear,
    box_deltas: Linear,
}

/// One image's objects: boxes with their class, and boxes of objects too small to count,
/// which are neither object nor background in training and crowd regions in scoring (with
/// their class, `None` for one not among the classes, which is not scored).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImageTruth {
    pub objects: Vec<(usize, BBox)>,
    pub ignored: Vec<(Option<usize>, BBox)>,
}

impl ImageTruth {
    fn flipped(&self, width: f64) -> Self {
        let flip = |b: &BBox| BBox::new(width - b.x1, b.y0, width - b.x0, b.y1);
        Self {
            objects: self.objects.iter().map(|(c, b)| (*c, flip(b))).collect(),
            ignored: self.ignored.iter().map(|(c, b)| (*c, flip(b))).collect(),
        }
    }

    fn ignored_boxes(&self) -> Vec<BBox> {
        self.ignored.iter().map(|(_, b)| *b).collect()
    }
}

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

impl ModelDir for Detector {
    type Config = DetectorConfig;

    fn config(&self) -> &DetectorConfig {
        &self.config
    }

    fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    fn zeroed(config: DetectorConfig, path: &Path) -> Result<Self> {
        if config.classes.is_empty() {
            return Err(model_err(path, "classes: a detector needs at least one"));
        }
        if config.anchor_sides.iter().any(|s| s.is_nan() || *s <= 0.0)
            || config
                .anchor_aspects
                .iter()
                .any(|a| a.is_nan() || *a <= 0.0)
            || config.anchors_per_cell() == 0
        {
            return Err(model_err(
                path,
                "anchor_sides, anchor_aspects: need at least one each, all positive",
            ));
        }
        if config.rpn_channels == 0 || config.roi_bins == 0 || config.head_hidden == 0 {
            return Err(model_err(
                path,
                "rpn_channels, roi_bins, head_hidden: must be at least 1",
            ));
        }
        let grid = FeatureGrid::of(config.input, &config.backbone.layers)
            .map_err(|e| model_err(path, e))?;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device());
        let backbone = Backbone::new(&config.backbone, config.input, vb.pp("backbone"))?;
        let (c, r, a) = (
            grid.channels,
            config.rpn_channels,
            config.anchors_per_cell(),
        );
        let rpn = vb.pp("rpn");
        let rpn_conv = (
            rpn.pp("conv")
                .get_with_hints((r, c, 3, 3), "weight", Init::Const(0.0))?,
            rpn.pp("conv").get_with_hints(r, "bias", Init::Const(0.0))?,
        );
        let head = vb.pp("head");
        let (s, h, k) = (config.roi_bins, config.head_hidden, config.classes.len());
        Ok(Self {
            rpn_conv,
            rpn_objectness: Linear::new(r, a, false, rpn.pp("objectness"))?,
            rpn_deltas: Linear::new(r, 4 * a, false, rpn.pp("deltas"))?,
            fc1: Linear::new(c * s * s, h, true, head.pp("fc1"))?,
            fc2: Linear::new(h, h, true, head.pp("fc2"))?,
            class_logits: Linear::new(h, k + 1, false, head.pp("classes"))?,
            box_deltas: Linear::new(h, 4 * k, false, head.pp("deltas"))?,
            anchors: grid.anchors(&config.anchor_sides, &config.anchor_aspects),
            grid,
            backbone,
            varmap,
            config,
        })
    }

    /// A fresh detector: seeded weights, the last layers of both heads scaled down.
    fn new(config: DetectorConfig, seed: u64) -> Result<Self> {
        let model = Self::zeroed(config, Path::new("<config>"))?;
        initialise(&model.varmap, seed)?;
        // The last layers start small (as torchvision's normal(0, 0.01) and (0, 0.001)):
        // objectness and class scores near uniform, boxes near their anchors and proposals.
        let vars = model
            .varmap
            .data()
            .lock()
            .map_err(|_| Error::Tensor("variable map poisoned".into()))?;
        for (name, scale) in [
            ("rpn.objectness", 0.1),
            ("rpn.deltas", 0.01),
            ("head.classes", 0.1),
            ("head.deltas", 0.01),
        ] {
            for part in ["weight", "bias"] {
                let var = &vars[&format!("{name}.{part}")];
                let factor = if part == "bias" { 0.0 } else { scale };
                var.set(&(var.as_tensor() * factor)?)?;
            }
        }
        drop(vars);
        Ok(model)
    }
}

impl Detector {
    /// Anchors in image pixels, in the order of the proposal network's outputs.
    pub fn anchors(&self) -> &[BBox] {
        &self.anchors
    }

    /// Feature maps `(B, C, h, w)`, objectness logits `(B, N)` and box deltas `(B, N, 4)` of
    /// the `N` anchors.
    fn rpn(&self, images: &Tensor) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        let features = self.backbone.forward(images)?;
        let b = features.dim(0)?;
        let (h, w, r) = (self.grid.height, self.grid.width, self.config.rpn_channels);
        let same = Conv2dSpec {
            stride: 1,
            padding: 1,
        };
        let hidden = ops::conv2d(&features, &self.rpn_conv.0, &self.rpn_conv.1, same, true)?;
        // One row per cell; the 1×1 convolutions of the paper are dense layers over rows.
        let rows = hidden.permute((0, 2, 3, 1))?.reshape((b * h * w, r))?;
        let n = self.anchors.len();
        let objectness = self.rpn_objectness.forward(&rows)?.reshape((b, n))?;
        let deltas = self.rpn_deltas.forward(&rows)?.reshape((b, n, 4))?;
        Ok((features, objectness, deltas))
    }

    /// Class logits `(R, K + 1)` and per-class box deltas `(R, 4K)` of `rois`.
    fn head(&self, features: &Tensor, rois: &[Roi]) -> candle_core::Result<(Tensor, Tensor)> {
        let s = self.config.roi_bins;
        let pooled = ops::roi_align(features, rois, (s, s), 1.0 / self.grid.stride, 2)?;
        let x = self.fc1.forward(&pooled.flatten_from(1)?)?;
        let x = self.fc2.forward(&x)?;
        Ok((self.class_logits.forward(&x)?, self.box_deltas.forward(&x)?))
    }

    /// An image's proposals, best first: anchors moved by their deltas, clipped to the image,
    /// the `PRE_NMS` most object-like kept, suppressed at IoU 0.7, the first `keep` returned.
    fn proposals(&self, objectness: &[f32], deltas: &[f32], keep: usize) -> Vec<(BBox, f32)> {
        let mut order: Vec<usize> = (0..self.anchors.len()).collect();
        let by_score = |a: &usize, b: &usize| objectness[*b].total_cmp(&objectness[*a]);
        if order.len() > PRE_NMS {
            order.select_nth_unstable_by(PRE_NMS, by_score);
            order.truncate(PRE_NMS);
        }
        order.sort_by(by_score);
        let (width, height) = (
            self.config.input.width as f64,
            self.config.input.height as f64,
        );
        let mut boxes = Vec::with_capacity(order.len());
        let mut scores = Vec::with_capacity(order.len());
        for &a in &order {
            let d = &deltas[4 * a..4 * a + 4];
            let d = [d[0] as f64, d[1] as f64, d[2] as f64, d[3] as f64];
            let b = clip(decode(&self.anchors[a], d, RPN_WEIGHTS), width, height);
            if b.x1 - b.x0 >= 1.0 && b.y1 - b.y0 >= 1.0 {
                boxes.push(b);
                scores.push(objectness[a] as f64);
            }
        }
        nms(&boxes, &scores, RPN_NMS_IOU)
            .into_iter()
            .take(keep)
            .map(|i| (boxes[i], scores[i] as f32))
            .collect()
    }

    /// Proposals of every image of a batch from the proposal network's outputs.
    fn batch_proposals(
        &self,
        objectness: &Tensor,
        deltas: &Tensor,
        keep: usize,
    ) -> candle_core::Result<Vec<Vec<(BBox, f32)>>> {
        let scores = objectness.to_vec2::<f32>()?;
        let deltas = deltas.flatten_from(1)?.to_vec2::<f32>()?;
        Ok(scores
            .iter()
            .zip(&deltas)
            .map(|(s, d)| self.proposals(s, d, keep))
            .collect())
    }

    /// Detections in each image of `images (B, 3, H, W)` (values 0–1), best first; the
    /// `image` of each is its index in the batch.
    pub fn detect(&self, images: &Tensor, options: &DetectOptions) -> Result<Vec<Vec<Detection>>> {
        let (features, objectness, deltas) = self.rpn(images)?;
        let proposals = self.batch_proposals(&objectness, &deltas, options.proposals)?;
        let mut out = vec![Vec::new(); proposals.len()];
        let regions: Vec<(usize, BBox)> = proposals
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.iter().map(move |(b, _)| (i, *b)))
            .collect();
        if regions.is_empty() {
            return Ok(out);
        }
        let rois: Vec<Roi> = regions.iter().map(|(i, b)| self.grid.roi(*i, b)).collect();
        let (logits, box_deltas) = self.head(&features, &rois)?;
        let probs = candle_nn::ops::softmax(&logits, D::Minus1)?.to_vec2::<f32>()?;
        let box_deltas = box_deltas.to_vec2::<f32>()?;
        let (width, height) = (
            self.config.input.width as f64,
            self.config.input.height as f64,
        );
        for (image, found) in out.iter_mut().enumerate() {
            for class in 0..self.config.classes.len() {
                let (mut boxes, mut scores) = (Vec::new(), Vec::new());
                for (r, (i, proposal)) in regions.iter().enumerate() {
                    let score = probs[r][class + 1] as f64;
                    if *i != image || score < options.score_threshold {
                        continue;
                    }
                    let d = &box_deltas[r][4 * class..4 * class + 4];
                    let d = [d[0] as f64, d[1] as f64, d[2] as f64, d[3] as f64];
                    let b = clip(decode(proposal, d, HEAD_WEIGHTS), width, height);
                    if b.area() > 0.0 {
                        boxes.push(b);
                        scores.push(score);
                    }
                }
                for k in nms(&boxes, &scores, options.nms_iou) {
                    found.push(Detection {
                        image,
                        class,
                        bbox: boxes[k],
                        score: scores[k],
                    });
                }
            }
            found.sort_by(|a, b| b.score.total_cmp(&a.score));
            found.truncate(options.max_detections);
        }
        Ok(out)
    }

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

/// How a training frame is changed: mirrored left–right (its boxes with it), and each colour
/// channel scaled (light and white balance).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augment {
    pub flip: bool,
    pub gain: [f32; 3],
}

impl Default for Augment {
    fn default() -> Self {
        Self {
            flip: false,
            gain: [1.0; 3],
        }
    }
}

impl Augment {
    /// A random change: a coin for the flip (when `flip`), brightness in 1 ± `jitter` and
    /// each channel in 1 ± `jitter`/2 on top.
    pub fn random(rng: &mut StdRng, flip: bool, jitter: f64) -> Self {
        let mut gain = [1.0f32; 3];
        if jitter > 0.0 {
            let brightness = rng.random_range(1.0 - jitter..=1.0 + jitter);
            for g in &mut gain {
                *g =
                    (brightness * rng.random_range(1.0 - jitter / 2.0..=1.0 + jitter / 2.0)) as f32;
            }
        }
        Self {
            flip: flip && rng.random_bool(0.5),
            gain,
        }
    }
}

/// Frames and their objects, in memory.
#[derive(Clone, Debug, Default)]
pub struct BoxedImages {
    pub input: Option<InputSpec>,
    pub classes: Vec<String>,
    /// RGB8 `H × W × 3` per image.
    pub frames: Vec<Vec<u8>>,
    pub truths: Vec<ImageTruth>,
}

impl BoxedImages {
    /// Empty, over the object classes the simulator labels.
    pub fn new() -> Self {
        Self {
            classes: crate::sim::labels::LabelClass::all()
                .into_iter()
                .filter(|c| c.is_object())
                .map(|c| c.name())
                .collect(),
            ..Self::default()
        }
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Splits off the images from `at` on, which are returned.
    pub fn split_off(&mut self, at: usize) -> Self {
        Self {
            input: self.input,
            classes: self.classes.clone(),
            frames: self.frames.split_off(at),
            truths: self.truths.split_off(at),
        }
    }

    /// Adds a frame (all frames the size of the first) and its objects.
    pub fn push(&mut self, width: u32, height: u32, rgb: Vec<u8>, truth: ImageTruth) -> Result<()> {
        let spec = InputSpec {
            channels: 3,
            height: height as usize,
            width: width as usize,
        };
        if *self.input.get_or_insert(spec) != spec || rgb.len() != 3 * spec.height * spec.width {
            return Err(Error::InvalidArgument(format!(
                "a {width}x{height} frame does not match the others"
            )));
        }
        // Ignored regions too: scoring takes them as crowd regions of their class.
        let unknown = truth
            .objects
            .iter()
            .map(|(c, _)| *c)
            .chain(truth.ignored.iter().filter_map(|(c, _)| *c))
            .find(|c| *c >= self.classes.len());
        if let Some(c) = unknown {
            return Err(Error::InvalidArgument(format!(
                "object class {c} of {} classes",
                self.classes.len()
            )));
        }
        self.frames.push(rgb);
        self.truths.push(truth);
        Ok(())
    }

    /// The labelled frames of episodes recorded with `--labels`, every `every`-th; objects with
    /// fewer than `min_pixels` visible pixels are kept as ignored regions.
    pub fn from_episodes(
        files: &[std::path::PathBuf],
        every: u64,
        min_pixels: u32,
    ) -> Result<Self> {
        let mut out = Self::new();
        for file in files {
            let episode = crate::record::EpisodeReader::open(file)?;
            for step in episode.steps(true)? {
                let (Some(frame), Some(objects)) = (step.frame, step.objects) else {
                    continue;
                };
                if step.tick % every.max(1) != 0 {
                    continue;
                }
                let mut truth = ImageTruth::default();
                for o in &objects.objects {
                    let b = BBox::new(o.x0 as f64, o.y0 as f64, o.x1 as f64, o.y1 as f64);
                    let class = out.classes.iter().position(|c| *c == o.class);
                    match class {
                        Some(c) if o.pixels >= min_pixels && b.area() > 0.0 => {
                            truth.objects.push((c, b))
                        }
                        _ => truth.ignored.push((class, b)),
                    }
                }
                out.push(frame.width, frame.height, frame.rgb, truth)
                    .map_err(|e| Error::InvalidArgument(format!("{}: {e}", file.display())))?;
            }
        }
        Ok(out)
    }

    /// Images `(B, 3, H, W)` 0–1 of `indices`, each changed as its [`Augment`] says (none
    /// where `augment` is shorter).
    pub fn images(&self, indices: &[usize], augment: &[Augment]) -> Result<Tensor> {
        let spec = self
            .input
            .ok_or_else(|| Error::InvalidArgument("no images".into()))?;
        let (h, w) = (spec.height, spec.width);
        let mut values = Vec::with_capacity(indices.len() * 3 * h * w);
        for (n, &i) in indices.iter().enumerate() {
            let rgb = &self.frames[i];
            let a = augment.get(n).copied().unwrap_or_default();
            for c in 0..3 {
                let gain = a.gain[c] / 255.0;
                for y in 0..h {
                    let row = &rgb[y * w * 3..(y + 1) * w * 3];
                    for x in 0..w {
                        let x = if a.flip { w - 1 - x } else { x };
                        values.push((row[x * 3 + c] as f32 * gain).min(1.0));
                    }
                }
            }
        }
        Ok(Tensor::from_vec(
            values,
            (indices.len(), 3, h, w),
            &device(),
        )?)
    }

    /// Every counted object as ground truth, `image` its index here.
    pub fn ground_truth(&self) -> Vec<GroundTruth> {
        self.scored_truth()
            .into_iter()
            .filter(|g| !g.crowd)
            .collect()
    }

    /// The ground truth detections are scored against: every counted object, and every
    /// ignored region of a known class as a crowd region, so that finding an object too small
    /// to count is neither right nor wrong (as COCO treats `iscrowd` annotations).
    pub fn scored_truth(&self) -> Vec<GroundTruth> {
        let mut out = Vec::new();
        for (image, t) in self.truths.iter().enumerate() {
            for &(class, bbox) in &t.objects {
                out.push(GroundTruth {
                    image,
                    class,
                    bbox,
                    crowd: false,
                });
            }
            for &(class, bbox) in &t.ignored {
                if let Some(class) = class {
                    out.push(GroundTruth {
                        image,
                        class,
                        bbox,
                        crowd: true,
                    });
                }
            }
        }
        out
    }
}

/// Detection scores on a set of frames.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DetectionScores {
    pub frames: usize,
    pub objects: usize,
    pub detections: usize,
    /// Mean over classes with objects of AP at IoU 0.5.
    pub map50: Option<f64>,
    /// COCO's AP@[.5:.95].
    pub ap: Option<f64>,
    /// AP at IoU 0.5 per class (`None` for classes without objects).
    pub class_ap50: Vec<Option<f64>>,
    /// Wall time per frame, one frame at a time.
    pub ms_per_frame: f64,
}

/// Scores `model` on `data`, detecting one frame at a time (so the time is a frame's latency).
pub fn evaluate(
    model: &Detector,
    data: &BoxedImages,
    options: &DetectOptions,
) -> Result<DetectionScores> {
    let mut detections = Vec::new();
    let mut seconds = 0.0;
    for i in 0..data.len() {
        let images = data.images(&[i], &[])?;
        let started = Instant::now();
        let found = model.detect(&images, options)?;
        seconds += started.elapsed().as_secs_f64();
        detections.extend(
            found
                .into_iter()
                .flatten()
                .map(|d| Detection { image: i, ..d }),
        );
    }
    Ok(score(&detections, data, seconds))
}

/// Scores detections (`image` indexing `data`) found in `seconds` against `data`'s
/// [`BoxedImages::scored_truth`].
pub fn score(detections: &[Detection], data: &BoxedImages, seconds: f64) -> DetectionScores {
    let truths = data.scored_truth();
    DetectionScores {
        frames: data.len(),
        objects: truths.iter().filter(|g| !g.crowd).count(),
        detections: detections.len(),
        map50: mean_ap(detections, &truths, 0.5),
        ap: coco_ap(detections, &truths),
        class_ap50: (0..data.classes.len())
            .map(|c| average_precision(detections, &truths, c, 0.5))
            .collect(),
        ms_per_frame: seconds * 1e3 / data.len().max(1) as f64,
    }
}

/// Training settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DetectorTraining {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
    /// Mirror half the training images left–right (their boxes with them).
    pub flip: bool,
    /// Brightness varies by ± this fraction, each colour channel by half as much again.
    pub colour_jitter: f64,
}

/// One epoch's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DetectorEpoch {
    pub epoch: usize,
    pub losses: DetectorLosses,
    pub scores: DetectionScores,
    pub seconds: f64,
    pub images_per_s: f64,
}

/// Trains `model` on `train` with AdamW (warm-up, cosine decay), scoring on `test` after every
/// epoch; `on_epoch` sees each epoch's figures.
pub fn train(
    model: &Detector,
    train: &BoxedImages,
    test: &BoxedImages,
    options: &DetectorTraining,
    on_epoch: &mut dyn FnMut(&DetectorEpoch),
) -> Result<Vec<DetectorEpoch>> {
    if train.input != Some(model.config.input) {
        return Err(Error::InvalidArgument(format!(
            "training frames are {:?}, the model reads {:?}",
            train.input, model.config.input
        )));
    }
    if train.classes != model.config.classes {
        return Err(Error::InvalidArgument(format!(
            "training classes {:?} differ from the model's {:?}",
            train.classes, model.config.classes
        )));
    }
    let vars = model
        .varmap
        .data()
        .lock()
        .map_err(|_| Error::Tensor("variable map poisoned".into()))?
        .clone();
    let mut optimiser = AdamW::new(vars, AdamWParams::default())?;
    let batch = options.batch_size.max(1);
    let total = (train.len().div_ceil(batch) * options.epochs) as u64;
    let warmup = (total / 20).max(1);
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let width = model.config.input.width as f64;
    let mut history = Vec::new();
    for epoch in 1..=options.epochs {
        let started = Instant::now();
        order.shuffle(&mut rng);
        let mut sums = DetectorLosses::default();
        let mut batches = 0usize;
        for chunk in order.chunks(batch) {
            let augment: Vec<Augment> = chunk
                .iter()
                .map(|_| Augment::random(&mut rng, options.flip, options.colour_jitter))
                .collect();
            let truths: Vec<ImageTruth> = chunk
                .iter()
                .zip(&augment)
                .map(|(&i, a)| {
                    if a.flip {
                        train.truths[i].flipped(width)
                    } else {
                        train.truths[i].clone()
                    }
                })
                .collect();
            let images = train.images(chunk, &augment)?;
            let (loss, parts) = model.loss(&images, &truths, &mut rng)?;
            let grads = loss.backward()?;
            let lr = learning_rate(optimiser.step, total, warmup, options.learning_rate, 0.02);
            optimiser.update(&grads, lr)?;
            sums.rpn_objectness += parts.rpn_objectness;
            sums.rpn_boxes += parts.rpn_boxes;
            sums.head_classes += parts.head_classes;
            sums.head_boxes += parts.head_boxes;
            batches += 1;
        }
        let seconds = started.elapsed().as_secs_f64();
        let n = batches.max(1) as f64;
        let losses = DetectorLosses {
            rpn_objectness: sums.rpn_objectness / n,
            rpn_boxes: sums.rpn_boxes / n,
            head_classes: sums.head_classes / n,
            head_boxes: sums.head_boxes / n,
        };
        let figures = DetectorEpoch {
            epoch,
            losses,
            scores: evaluate(model, test, &DetectOptions::default())?,
            seconds,
            images_per_s: train.len() as f64 / seconds.max(1e-9),
        };
        on_epoch(&figures);
        history.push(figures);
    }
    Ok(history)
}
