//! Semantic segmentation on the shared backbone: a fully convolutional decoder (Long et al.
//! 2015) that mirrors the backbone's convolutions with transposed convolutions, adding each
//! encoder feature map of the same size on the way up (skip connections), and ends in one
//! logit per class for every input pixel. Trained with per-pixel cross-entropy on the class
//! masks the simulator renders (`steerlab record --labels`); scored by IoU per class.

use crate::error::{Error, Result};
use crate::nn::device;
use crate::nn::models::backbone::Backbone;
use crate::nn::models::checkpoint::{ModelDir, model_err};
use crate::nn::models::steering::config::ModelConfig;
use crate::nn::models::steering::config::{
    BackboneConfig, InputSpec, LayerSpec, check_parameters, conv_parameters,
};
use crate::nn::ops::{self, Conv2dSpec};
use crate::nn::train::{self, Examples, Objective, Report, Run, Schedule, Supervised};
use candle_core::{DType, Tensor};
use candle_nn::{Init, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A segmenter: input, backbone (convolutions only) and class names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmenterConfig {
    pub input: InputSpec,
    pub backbone: BackboneConfig,
    pub classes: Vec<String>,
}

impl SegmenterConfig {
    /// The first three convolutions of PilotNet (their weights load from a steering model).
    pub fn pilotnet(classes: Vec<String>) -> Self {
        let pilotnet = ModelConfig::pilotnet();
        Self {
            input: pilotnet.input,
            backbone: BackboneConfig {
                normalise: true,
                layers: pilotnet.backbone.layers[..3].to_vec(),
            },
            classes,
        }
    }
}

/// One decoder step: the transposed convolution inverting an encoder convolution.
#[derive(Clone, Copy, Debug)]
struct Up {
    spec: Conv2dSpec,
    output_padding: (usize, usize),
}

/// A segmenter's variables and layers.
pub struct Segmenter {
    pub config: SegmenterConfig,
    pub varmap: VarMap,
    backbone: Backbone,
    decoder: Vec<(Tensor, Tensor, Up)>,
}

impl ModelDir for Segmenter {
    type Config = SegmenterConfig;

    fn config(&self) -> &SegmenterConfig {
        &self.config
    }

    fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    fn zeroed(config: SegmenterConfig, path: &Path) -> Result<Self> {
        if config.classes.len() < 2 {
            return Err(model_err(path, "classes: a segmenter needs at least two"));
        }
        config.input.check().map_err(|e| model_err(path, e))?;
        // The decoder mirrors the encoder: about twice its weights.
        let convs = conv_parameters(config.input.channels, &config.backbone.layers);
        check_parameters(2.0 * convs).map_err(|e| model_err(path, e))?;
        // Sizes at every level of the encoder.
        let mut sizes = vec![(
            config.input.channels,
            config.input.height,
            config.input.width,
        )];
        for (i, layer) in config.backbone.layers.iter().enumerate() {
            if !matches!(layer, LayerSpec::Conv { .. }) {
                return Err(model_err(
                    path,
                    format!(
                        "backbone.layers[{i}]: the decoder mirrors convolutions only; use strided convolutions instead of pooling"
                    ),
                ));
            }
            let next = layer
                .output(*sizes.last().expect("the input size"))
                .map_err(|e| model_err(path, format!("backbone.layers[{i}]: {e}")))?;
            sizes.push(next);
        }
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device());
        let backbone = Backbone::new(&config.backbone, config.input, vb.pp("backbone"))?;
        let levels = config.backbone.layers.len();
        let mut decoder = Vec::with_capacity(levels);
        for j in 0..levels {
            let level = levels - 1 - j; // the encoder layer inverted
            let LayerSpec::Conv {
                kernel,
                stride,
                padding,
                ..
            } = config.backbone.layers[level]
            else {
                unreachable!("checked above")
            };
            let (c_in, h_in, w_in) = sizes[level + 1];
            let (c_out, h_out, w_out) = sizes[level];
            let c_out = if j + 1 == levels {
                config.classes.len()
            } else {
                c_out
            };
            let size = |n: usize| (n - 1) * stride + kernel - 2 * padding;
            let up = Up {
                spec: Conv2dSpec { stride, padding },
                output_padding: (h_out - size(h_in), w_out - size(w_in)),
            };
            let vb = vb.pp(format!("decoder.up{j}"));
            decoder.push((
                vb.get_with_hints((c_in, c_out, kernel, kernel), "weight", Init::Const(0.0))?,
                vb.get_with_hints(c_out, "bias", Init::Const(0.0))?,
                up,
            ));
        }
        Ok(Self {
            config,
            varmap,
            backbone,
            decoder,
        })
    }
}

impl Segmenter {
    /// Images `(B, C, H, W)`, values 0–1 → logits `(B, classes, H, W)`.
    pub fn forward(&self, images: &Tensor) -> Result<Tensor> {
        let features = self.backbone.forward_all(images)?;
        let levels = self.decoder.len();
        let mut y = features[levels - 1].clone();
        for (j, (w, b, up)) in self.decoder.iter().enumerate() {
            let last = j + 1 == levels;
            y = ops::conv_transpose2d(&y, w, b, up.spec, up.output_padding, !last)?;
            if !last {
                y = (y + &features[levels - 2 - j])?;
            }
        }
        Ok(y)
    }

    /// Per-pixel class of each image `(B, H·W)` as a flat vector per image.
    pub fn predict(&self, images: &Tensor) -> Result<Vec<Vec<u8>>> {
        let classes = self.forward(images)?.argmax(1)?.flatten_from(1)?;
        Ok(classes
            .to_vec2::<u32>()?
            .into_iter()
            .map(|row| row.into_iter().map(|c| c as u8).collect())
            .collect())
    }
}

/// Frames and their class masks, in memory.
#[derive(Clone, Debug, Default)]
pub struct MaskedImages {
    pub input: Option<InputSpec>,
    /// RGB8 `H × W × 3` per image.
    pub frames: Vec<Vec<u8>>,
    /// Class index per pixel.
    pub masks: Vec<Vec<u8>>,
}

impl MaskedImages {
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
            frames: self.frames.split_off(at),
            masks: self.masks.split_off(at),
        }
    }

    /// Adds one frame and its mask (same size as the first one added).
    pub fn push(&mut self, width: u32, height: u32, rgb: Vec<u8>, mask: Vec<u8>) -> Result<()> {
        let spec = InputSpec {
            channels: 3,
            height: height as usize,
            width: width as usize,
        };
        if *self.input.get_or_insert(spec) != spec
            || rgb.len() != 3 * mask.len()
            || mask.len() != spec.height * spec.width
        {
            return Err(Error::InvalidArgument(format!(
                "a {width}x{height} frame or its mask does not match the others"
            )));
        }
        self.frames.push(rgb);
        self.masks.push(mask);
        Ok(())
    }

    /// Images `(B, 3, H, W)` 0–1 and targets `(B·H·W)` of `indices`.
    pub fn batch(&self, indices: &[usize]) -> Result<(Tensor, Tensor)> {
        let spec = self
            .input
            .ok_or_else(|| Error::InvalidArgument("no images".into()))?;
        let (h, w) = (spec.height, spec.width);
        let mut values = Vec::with_capacity(indices.len() * 3 * h * w);
        let mut targets = Vec::with_capacity(indices.len() * h * w);
        for &i in indices {
            let rgb = &self.frames[i];
            for c in 0..3 {
                values.extend(rgb.iter().skip(c).step_by(3).map(|&v| v as f32 / 255.0));
            }
            targets.extend(self.masks[i].iter().map(|&m| m as u32));
        }
        let images = Tensor::from_vec(values, (indices.len(), 3, h, w), &device())?;
        let n = targets.len();
        Ok((images, Tensor::from_vec(targets, n, &device())?))
    }
}

/// Per-pixel cross-entropy of logits `(B, K, H, W)` against targets `(B·H·W)`.
pub fn pixel_loss(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let k = logits.dim(1)?;
    let flat = logits.permute((0, 2, 3, 1))?.reshape(((), k))?;
    Ok(candle_nn::loss::cross_entropy(&flat, targets)?)
}

/// IoU of every class (`None` for classes absent from both truth and prediction), mean IoU
/// over classes present in the truth, and pixel accuracy.
#[derive(Clone, Debug, Serialize)]
pub struct SegmentationScores {
    pub classes: Vec<String>,
    pub iou: Vec<Option<f64>>,
    pub mean_iou: f64,
    pub pixel_accuracy: f64,
}

/// Scores `model` on `data`.
pub fn evaluate(model: &Segmenter, data: &MaskedImages) -> Result<SegmentationScores> {
    let k = model.config.classes.len();
    let (mut tp, mut fp, mut fnn) = (vec![0u64; k], vec![0u64; k], vec![0u64; k]);
    let (mut right, mut total) = (0u64, 0u64);
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(16) {
        let (images, _) = data.batch(chunk)?;
        for (&i, predicted) in chunk.iter().zip(model.predict(&images)?) {
            for (&p, &t) in predicted.iter().zip(&data.masks[i]) {
                let (p, t) = ((p as usize).min(k - 1), (t as usize).min(k - 1));
                total += 1;
                if p == t {
                    tp[t] += 1;
                    right += 1;
                } else {
                    fp[p] += 1;
                    fnn[t] += 1;
                }
            }
        }
    }
    let iou: Vec<Option<f64>> = (0..k)
        .map(|c| {
            let union = tp[c] + fp[c] + fnn[c];
            (union > 0).then(|| tp[c] as f64 / union as f64)
        })
        .collect();
    let present: Vec<f64> = (0..k)
        .filter(|&c| tp[c] + fnn[c] > 0)
        .filter_map(|c| iou[c])
        .collect();
    Ok(SegmentationScores {
        classes: model.config.classes.clone(),
        iou,
        mean_iou: present.iter().sum::<f64>() / present.len().max(1) as f64,
        pixel_accuracy: right as f64 / total.max(1) as f64,
    })
}

/// Training settings.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmenterTraining {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
}

impl Examples for MaskedImages {
    fn len(&self) -> usize {
        self.frames.len()
    }

    fn batch(&self, indices: &[usize]) -> Result<(Tensor, Tensor)> {
        MaskedImages::batch(self, indices)
    }
}

/// Trains `model` on `train`, scoring on `test` after every epoch; returns the run and the
/// scores of the model in memory at its end.
pub fn train(
    model: &Segmenter,
    train: &MaskedImages,
    test: &MaskedImages,
    options: &SegmenterTraining,
    run: Run,
) -> Result<(Report, SegmentationScores)> {
    let task = Supervised {
        model,
        train,
        test,
        batch_size: options.batch_size,
        seed: options.seed,
        loss: |model: &Segmenter, images, masks| pixel_loss(&model.forward(images)?, masks),
        validate: |model, test| {
            let s = evaluate(model, test)?;
            Ok(vec![s.mean_iou, s.pixel_accuracy])
        },
        validation_names: &["test_mean_iou", "test_pixel_accuracy"],
        objective: Objective::Highest(0),
    };
    let schedule = Schedule::new(options.epochs, options.batch_size, options.learning_rate);
    let report = train::fit(&task, &schedule, run)?;
    Ok((report, evaluate(model, test)?))
}
