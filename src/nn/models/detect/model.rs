//! The detector's config, variables and layers, and detection: proposals from the region
//! proposal network, regions classified and refined by the box head, suppressed per class.

use crate::error::{Error, Result};
use crate::nn::device;
use crate::nn::models::backbone::Backbone;
use crate::nn::models::checkpoint::{ModelDir, initialise, model_err};
use crate::nn::models::detect::anchors::{FeatureGrid, HEAD_WEIGHTS, RPN_WEIGHTS, clip, decode};
use crate::nn::models::detect::boxes::{BBox, Detection, nms};
use crate::nn::models::linear::Linear;
use crate::nn::models::steering::config::ModelConfig;
use crate::nn::models::steering::config::{
    BackboneConfig, InputSpec, check_parameters, conv_parameters,
};
use crate::nn::ops::{self, Conv2dSpec, Roi};
use candle_core::{D, DType, Module, Tensor};
use candle_nn::{Init, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};
use std::path::Path;

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
pub(super) const PRE_NMS: usize = 600;
pub(super) const RPN_NMS_IOU: f64 = 0.7;

/// A detector's variables and layers.
pub struct Detector {
    pub config: DetectorConfig,
    pub varmap: VarMap,
    pub grid: FeatureGrid,
    pub(super) anchors: Vec<BBox>,
    pub(super) backbone: Backbone,
    pub(super) rpn_conv: (Tensor, Tensor),
    pub(super) rpn_objectness: Linear,
    pub(super) rpn_deltas: Linear,
    pub(super) fc1: Linear,
    pub(super) fc2: Linear,
    pub(super) class_logits: Linear,
    pub(super) box_deltas: Linear,
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
        config.input.check().map_err(|e| model_err(path, e))?;
        let grid = FeatureGrid::of(config.input, &config.backbone.layers)
            .map_err(|e| model_err(path, e))?;
        let (c, r, a) = (
            grid.channels as f64,
            config.rpn_channels as f64,
            config.anchors_per_cell() as f64,
        );
        let (s, h, k) = (
            config.roi_bins as f64,
            config.head_hidden as f64,
            config.classes.len() as f64,
        );
        let heads = c * r * 9.0 + r * a * 5.0 + c * s * s * h + h * h + h * (k + 1.0) * 5.0;
        let convs = conv_parameters(config.input.channels, &config.backbone.layers);
        check_parameters(convs + heads).map_err(|e| model_err(path, e))?;
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
    pub(super) fn rpn(&self, images: &Tensor) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
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
    pub(super) fn head(
        &self,
        features: &Tensor,
        rois: &[Roi],
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let s = self.config.roi_bins;
        let pooled = ops::roi_align(features, rois, (s, s), 1.0 / self.grid.stride, 2)?;
        let x = self.fc1.forward(&pooled.flatten_from(1)?)?;
        let x = self.fc2.forward(&x)?;
        Ok((self.class_logits.forward(&x)?, self.box_deltas.forward(&x)?))
    }

    /// An image's proposals, best first: anchors moved by their deltas, clipped to the image,
    /// the `PRE_NMS` most object-like kept, suppressed at IoU 0.7, the first `keep` returned.
    pub(super) fn proposals(
        &self,
        objectness: &[f32],
        deltas: &[f32],
        keep: usize,
    ) -> Vec<(BBox, f32)> {
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
    pub(super) fn batch_proposals(
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
}
