//! Classification on the shared backbone: the backbone's feature maps, flattened or averaged
//! over space, then dense ReLU layers and a dense layer of one logit per class, trained with
//! softmax cross-entropy. The `lecture` network is the lecture's two-convolution classifier
//! (conv 32 3×3, max-pool 2, conv 64 3×3, max-pool 2, dense 1024, dense N). Saved like every
//! model here: `config.json` + `model.safetensors`; its backbone's variables have the names a
//! steering model's have, so a steering backbone can be loaded into it.

use crate::error::{Error, Result};
use crate::nn::device;
use crate::nn::models::backbone::Backbone;
use crate::nn::models::checkpoint::{ModelDir, model_err};
use crate::nn::models::linear::Mlp;
use crate::nn::models::steering::config::{
    BackboneConfig, InputSpec, LayerSpec, check_parameters, conv_parameters,
};
use crate::nn::train::optim::AdamWParams;
use crate::nn::train::{self, Examples, Objective, Report, Run, Schedule, Supervised};
use candle_core::{D, DType, Module, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::{SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How feature maps become a vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// Every value of every map (the lecture's choice).
    Flatten,
    /// The mean of each map (fewer weights, any input size).
    GlobalAverage,
}

/// A classifier: input, backbone, head.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierConfig {
    pub input: InputSpec,
    pub backbone: BackboneConfig,
    pub pooling: Pooling,
    /// Widths of the dense ReLU layers before the output layer.
    pub hidden: Vec<usize>,
    /// Class names, in logit order.
    pub classes: Vec<String>,
}

impl ClassifierConfig {
    /// The lecture's network for `input` and `classes`.
    pub fn lecture(input: InputSpec, classes: Vec<String>) -> Self {
        let conv = |out_channels| LayerSpec::Conv {
            out_channels,
            kernel: 3,
            stride: 1,
            padding: 0,
        };
        let pool = LayerSpec::MaxPool {
            kernel: 2,
            stride: 2,
        };
        Self {
            input,
            backbone: BackboneConfig {
                normalise: true,
                layers: vec![conv(32), pool, conv(64), pool],
            },
            pooling: Pooling::Flatten,
            hidden: vec![1024],
            classes,
        }
    }

    /// Length of the vector the head reads.
    pub fn feature_len(&self) -> std::result::Result<usize, String> {
        let mut shape = (self.input.channels, self.input.height, self.input.width);
        for (i, layer) in self.backbone.layers.iter().enumerate() {
            shape = layer
                .output(shape)
                .map_err(|e| format!("backbone.layers[{i}]: {e}"))?;
        }
        Ok(match self.pooling {
            Pooling::Flatten => shape.0 * shape.1 * shape.2,
            Pooling::GlobalAverage => shape.0,
        })
    }
}

/// A classifier's variables and layers.
pub struct Classifier {
    pub config: ClassifierConfig,
    pub varmap: VarMap,
    backbone: Backbone,
    dense: Mlp,
}

impl ModelDir for Classifier {
    type Config = ClassifierConfig;

    fn config(&self) -> &ClassifierConfig {
        &self.config
    }

    fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    fn zeroed(config: ClassifierConfig, path: &Path) -> Result<Self> {
        if config.classes.len() < 2 {
            return Err(model_err(path, "classes: a classifier needs at least two"));
        }
        config.input.check().map_err(|e| model_err(path, e))?;
        let features = config.feature_len().map_err(|e| model_err(path, e))?;
        let mut widths = vec![features];
        widths.extend(&config.hidden);
        widths.push(config.classes.len());
        let dense: f64 = widths
            .windows(2)
            .map(|w| (w[0] as f64 + 1.0) * w[1] as f64)
            .sum();
        let convs = conv_parameters(config.input.channels, &config.backbone.layers);
        check_parameters(convs + dense).map_err(|e| model_err(path, e))?;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device());
        let backbone = Backbone::new(&config.backbone, config.input, vb.pp("backbone"))?;
        let dense = Mlp::new(&widths, vb.pp("classifier"))?;
        Ok(Self {
            config,
            varmap,
            backbone,
            dense,
        })
    }
}

impl Classifier {
    /// Images `(B, C, H, W)`, values 0–1 → logits `(B, classes)`.
    pub fn forward(&self, images: &Tensor) -> Result<Tensor> {
        let maps = self.backbone.forward(images)?;
        let x = match self.config.pooling {
            Pooling::Flatten => maps.flatten_from(1)?,
            Pooling::GlobalAverage => maps.flatten_from(2)?.mean(D::Minus1)?,
        };
        Ok(self.dense.forward(&x)?)
    }

    /// The most likely class of each image.
    pub fn predict(&self, images: &Tensor) -> Result<Vec<u32>> {
        Ok(self.forward(images)?.argmax(D::Minus1)?.to_vec1::<u32>()?)
    }
}

/// Labelled images held in memory as bytes.
#[derive(Clone, Debug)]
pub struct LabelledImages {
    pub input: InputSpec,
    /// `len × C × H × W` values, 0–255.
    pub pixels: Vec<u8>,
    pub labels: Vec<u32>,
    pub classes: Vec<String>,
}

impl LabelledImages {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Splits off the images from `at` on, which are returned.
    pub fn split_off(&mut self, at: usize) -> Self {
        let n = self.image_len();
        Self {
            input: self.input,
            pixels: self.pixels.split_off(at * n),
            labels: self.labels.split_off(at),
            classes: self.classes.clone(),
        }
    }

    /// Adds the images of `other` (same input and classes).
    pub fn append(&mut self, mut other: Self) {
        self.pixels.append(&mut other.pixels);
        self.labels.append(&mut other.labels);
    }

    fn image_len(&self) -> usize {
        self.input.channels * self.input.height * self.input.width
    }

    /// Images `indices` as a tensor `(B, C, H, W)` with values 0–1, and their labels.
    pub fn batch(&self, indices: &[usize]) -> Result<(Tensor, Tensor)> {
        let n = self.image_len();
        let mut values = Vec::with_capacity(indices.len() * n);
        for &i in indices {
            values.extend(
                self.pixels[i * n..(i + 1) * n]
                    .iter()
                    .map(|&v| v as f32 / 255.0),
            );
        }
        let InputSpec {
            channels,
            height,
            width,
        } = self.input;
        let images = Tensor::from_vec(values, (indices.len(), channels, height, width), &device())?;
        let labels: Vec<u32> = indices.iter().map(|&i| self.labels[i]).collect();
        let labels = Tensor::from_vec(labels, indices.len(), &device())?;
        Ok((images, labels))
    }
}

/// The `size`×`size` crop of `frame` over the window at (`x0`, `y0`) of `w`×`h` pixels,
/// sampled bilinearly with the edges clamped, channel-major, values 0–255.
pub fn crop(
    frame: &crate::sim::Frame,
    (x0, y0, w, h): (f64, f64, f64, f64),
    size: usize,
) -> Vec<u8> {
    let sample = |c: usize, y: f64, x: f64| -> f64 {
        let x = x.clamp(0.0, frame.width as f64 - 1.0);
        let y = y.clamp(0.0, frame.height as f64 - 1.0);
        let (xa, ya) = (x.floor() as u32, y.floor() as u32);
        let (xb, yb) = (
            (xa + 1).min(frame.width - 1),
            (ya + 1).min(frame.height - 1),
        );
        let (fx, fy) = (x - xa as f64, y - ya as f64);
        let p = |x: u32, y: u32| frame.pixel(x, y)[c] as f64;
        (p(xa, ya) * (1.0 - fx) + p(xb, ya) * fx) * (1.0 - fy)
            + (p(xa, yb) * (1.0 - fx) + p(xb, yb) * fx) * fy
    };
    let mut out = Vec::with_capacity(3 * size * size);
    for c in 0..3 {
        for i in 0..size {
            for j in 0..size {
                let y = y0 + (i as f64 + 0.5) * h / size as f64 - 0.5;
                let x = x0 + (j as f64 + 0.5) * w / size as f64 - 0.5;
                out.push(sample(c, y, x).round() as u8);
            }
        }
    }
    out
}

/// The name of the class of windows showing no object.
pub const BACKGROUND: &str = "background";

/// Crops of the visible objects of labelled episodes (`steerlab record --labels`): each box
/// widened by a tenth on every side, resized to `size`×`size` (bilinear), labelled with its
/// class. Objects with fewer than `min_pixels` visible pixels are skipped; every `every`-th
/// frame is used. With `backgrounds > 0`, that many random windows per frame that overlap no
/// object (IoU below 0.1) are added as the class [`BACKGROUND`] (for the sliding-window
/// detector).
pub fn object_crops(
    files: &[std::path::PathBuf],
    size: usize,
    min_pixels: u32,
    every: u64,
    backgrounds: usize,
) -> Result<LabelledImages> {
    use crate::nn::models::detect::boxes::BBox;
    use rand::RngExt;
    let mut classes: Vec<String> = crate::sim::labels::LabelClass::all()
        .into_iter()
        .filter(|c| c.is_object())
        .map(|c| c.name())
        .collect();
    if backgrounds > 0 {
        classes.push(BACKGROUND.into());
    }
    let mut out = LabelledImages {
        input: InputSpec {
            channels: 3,
            height: size,
            width: size,
        },
        pixels: Vec::new(),
        labels: Vec::new(),
        classes: classes.clone(),
    };
    for file in files {
        let mut rng = StdRng::seed_from_u64(crate::sim::math::fnv1a(&[file
            .to_string_lossy()
            .as_bytes()]));
        let episode = crate::record::EpisodeReader::open(file)?;
        for step in episode.steps(true)? {
            let (Some(frame), Some(objects)) = (&step.frame, &step.objects) else {
                continue;
            };
            if step.tick % every.max(1) != 0 {
                continue;
            }
            for o in objects.objects.iter().filter(|o| o.pixels >= min_pixels) {
                let Some(label) = classes.iter().position(|c| *c == o.class) else {
                    continue;
                };
                let (w, h) = ((o.x1 - o.x0) as f64, (o.y1 - o.y0) as f64);
                let window = (
                    o.x0 as f64 - 0.1 * w,
                    o.y0 as f64 - 0.1 * h,
                    1.2 * w,
                    1.2 * h,
                );
                out.pixels.extend(crop(frame, window, size));
                out.labels.push(label as u32);
            }
            let boxes: Vec<BBox> = objects
                .objects
                .iter()
                .map(|o| BBox::new(o.x0 as f64, o.y0 as f64, o.x1 as f64, o.y1 as f64))
                .collect();
            let mut added = 0;
            for _ in 0..backgrounds * 20 {
                if added == backgrounds {
                    break;
                }
                let side: f64 = rng.random_range(8.0..44.0);
                let aspect: f64 = rng.random_range(0.5..2.0);
                let (w, h) = (side * aspect.sqrt(), side / aspect.sqrt());
                let x = rng.random_range(0.0..(frame.width as f64 - w).max(1.0));
                let y = rng.random_range(0.0..(frame.height as f64 - h).max(1.0));
                let b = BBox::new(x, y, x + w, y + h);
                if boxes.iter().all(|o| o.iou(&b) < 0.1) {
                    out.pixels.extend(crop(frame, (x, y, w, h), size));
                    out.labels.push((classes.len() - 1) as u32);
                    added += 1;
                }
            }
        }
    }
    Ok(out)
}

/// Fashion-MNIST's class names, in label order.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Where Debian's `dataset-fashion-mnist` puts the files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Reads one split (`train` or `t10k`) of (Fashion-)MNIST from `dir`: `<split>-images-idx3-ubyte`
/// and `<split>-labels-idx1-ubyte`, gzipped or not.
pub fn read_mnist_split(dir: &Path, split: &str, classes: &[&str]) -> Result<LabelledImages> {
    let find = |stem: &str| {
        let plain = dir.join(stem);
        let gz = dir.join(format!("{stem}.gz"));
        if gz.is_file() { gz } else { plain }
    };
    let images_path = find(&format!("{split}-images-idx3-ubyte"));
    let labels_path = find(&format!("{split}-labels-idx1-ubyte"));
    let (dims, pixels) = crate::nn::data::idx::read_u8(&images_path)?;
    let (label_dims, labels) = crate::nn::data::idx::read_u8(&labels_path)?;
    let (&[n, height, width], &[m]) = (dims.as_slice(), label_dims.as_slice()) else {
        return Err(Error::InvalidArgument(format!(
            "{}: expected images (N, H, W) and labels (N), got {dims:?} and {label_dims:?}",
            dir.display()
        )));
    };
    if n != m {
        return Err(Error::InvalidArgument(format!(
            "{}: {n} images but {m} labels",
            dir.display()
        )));
    }
    if let Some(bad) = labels.iter().find(|&&l| l as usize >= classes.len()) {
        return Err(Error::InvalidArgument(format!(
            "{}: label {bad} but only {} classes",
            labels_path.display(),
            classes.len()
        )));
    }
    Ok(LabelledImages {
        input: InputSpec {
            channels: 1,
            height,
            width,
        },
        pixels,
        labels: labels.into_iter().map(u32::from).collect(),
        classes: classes.iter().map(|c| c.to_string()).collect(),
    })
}

/// Training settings.
#[derive(Clone, Debug)]
pub struct ClassifierTraining {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub seed: u64,
}

impl Default for ClassifierTraining {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 64,
            learning_rate: 1e-3,
            weight_decay: 0.01,
            seed: 0,
        }
    }
}

/// Accuracy and the confusion matrix (rows: true class, columns: predicted).
#[derive(Clone, Debug, Serialize)]
pub struct Confusion {
    pub classes: Vec<String>,
    pub counts: Vec<Vec<u64>>,
}

impl Confusion {
    pub fn accuracy(&self) -> f64 {
        let total: u64 = self.counts.iter().flatten().sum();
        let right: u64 = (0..self.counts.len()).map(|i| self.counts[i][i]).sum();
        if total == 0 {
            0.0
        } else {
            right as f64 / total as f64
        }
    }

    /// A Markdown table.
    pub fn table(&self) -> String {
        let mut t = String::from("| true \\ predicted |");
        for c in &self.classes {
            t.push_str(&format!(" {c} |"));
        }
        t.push_str(" recall |\n|---|");
        t.push_str(&"---|".repeat(self.classes.len() + 1));
        t.push('\n');
        for (c, row) in self.classes.iter().zip(&self.counts) {
            let n: u64 = row.iter().sum();
            let i = self.classes.iter().position(|x| x == c).unwrap_or(0);
            t.push_str(&format!("| {c} |"));
            for v in row {
                t.push_str(&format!(" {v} |"));
            }
            if n == 0 {
                t.push_str(" – |\n");
            } else {
                t.push_str(&format!(" {:.1} % |\n", row[i] as f64 / n as f64 * 100.0));
            }
        }
        t
    }
}

/// Predicts every image of `data` in batches and tallies the confusion matrix.
pub fn evaluate(model: &Classifier, data: &LabelledImages) -> Result<Confusion> {
    let k = data.classes.len();
    let mut counts = vec![vec![0u64; k]; k];
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(500) {
        let (images, _) = data.batch(chunk)?;
        for (&i, p) in chunk.iter().zip(model.predict(&images)?) {
            counts[data.labels[i] as usize][(p as usize).min(k - 1)] += 1;
        }
    }
    Ok(Confusion {
        classes: data.classes.clone(),
        counts,
    })
}

impl Examples for LabelledImages {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn batch(&self, indices: &[usize]) -> Result<(Tensor, Tensor)> {
        LabelledImages::batch(self, indices)
    }
}

/// Trains `model` on `train`, measuring accuracy on `test` after every epoch; returns the run
/// and the confusion matrix of the model in memory at its end.
pub fn train(
    model: &Classifier,
    train: &LabelledImages,
    test: &LabelledImages,
    options: &ClassifierTraining,
    run: Run,
) -> Result<(Report, Confusion)> {
    if train.input != model.config.input || test.input != model.config.input {
        return Err(Error::InvalidArgument(format!(
            "images are {:?}, the model reads {:?}",
            train.input, model.config.input
        )));
    }
    let task = Supervised {
        model,
        train,
        test,
        batch_size: options.batch_size,
        seed: options.seed,
        loss: |model: &Classifier, images, labels| {
            Ok(candle_nn::loss::cross_entropy(
                &model.forward(images)?,
                labels,
            )?)
        },
        validate: |model, test| Ok(vec![evaluate(model, test)?.accuracy()]),
        validation_names: &["test_accuracy"],
        objective: Objective::Highest(0),
    };
    let schedule = Schedule {
        adamw: AdamWParams {
            weight_decay: options.weight_decay,
            ..AdamWParams::default()
        },
        ..Schedule::new(options.epochs, options.batch_size, options.learning_rate)
    };
    let report = train::fit(&task, &schedule, run)?;
    Ok((report, evaluate(model, test)?))
}
