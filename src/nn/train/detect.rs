//! Training the detector: batches of frames (mirrored and jittered), the four-part loss of
//! [`Detector::loss`], scored by mAP@0.5 on held-out frames after every epoch.

use crate::error::{Error, Result};
use crate::nn::data::dataset::Augment;
use crate::nn::data::detections::{BoxedImages, ImageTruth, Transform};
use crate::nn::metrics::detection::evaluate;
use crate::nn::models::detect::model::{DetectOptions, Detector};
use crate::nn::train::{self, Batches, Loss, Objective, Report, Run, Schedule, Task};
use candle_core::Tensor;
use serde::Serialize;

/// Training settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DetectorTraining {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
    /// Mirror half the training images left–right (their boxes with them).
    pub flip: bool,
    /// Light and colour jitter of training frames (none: off).
    pub photometric: Option<Augment>,
}

/// The loss's parts, as `metrics.csv` names them (`train_…`).
const PARTS: [&str; 4] = ["rpn_objectness", "rpn_boxes", "head_classes", "head_boxes"];

struct Detection<'a> {
    model: &'a Detector,
    train: &'a BoxedImages,
    test: &'a BoxedImages,
    options: &'a DetectorTraining,
}

/// One batch: its images, their objects (mirrored with them) and its place in the run (which
/// seeds the sampling of anchors and regions).
struct Batch {
    images: Tensor,
    truths: Vec<ImageTruth>,
    epoch: usize,
    index: usize,
}

impl Task for Detection<'_> {
    type Model = Detector;
    type Batch = Batch;

    fn model(&self) -> &Detector {
        self.model
    }

    fn train_len(&self) -> usize {
        self.train.len()
    }

    fn validation_len(&self) -> usize {
        self.test.len()
    }

    fn batches(&self, epoch: usize, skip: usize) -> Result<Batches<'_, Batch>> {
        let o = self.options;
        let width = self.model.config.input.width as f64;
        let chunks = train::shuffled_batches(self.train.len(), o.batch_size, o.seed, epoch, skip);
        Ok(Box::new(chunks.into_iter().enumerate().map(
            move |(i, chunk)| {
                let mut rng = train::batch_rng(o.seed, epoch, skip + i);
                let changes: Vec<Transform> = chunk
                    .iter()
                    .map(|_| Transform::random(&mut rng, o.flip, o.photometric.as_ref()))
                    .collect();
                let truths = chunk
                    .iter()
                    .zip(&changes)
                    .map(|(&i, c)| {
                        let truth = &self.train.truths[i];
                        if c.flip {
                            truth.flipped(width)
                        } else {
                            truth.clone()
                        }
                    })
                    .collect();
                Ok(Batch {
                    images: self.train.images(&chunk, &changes)?,
                    truths,
                    epoch,
                    index: skip + i,
                })
            },
        )))
    }

    fn loss(&self, batch: &Batch) -> Result<Loss> {
        // A stream apart from the batch's augmentation draws.
        let seed = self.options.seed.wrapping_add(1);
        let mut rng = train::batch_rng(seed, batch.epoch, batch.index);
        let (total, parts) = self.model.loss(&batch.images, &batch.truths, &mut rng)?;
        Ok(Loss {
            total,
            samples: batch.truths.len(),
            parts: vec![
                parts.rpn_objectness,
                parts.rpn_boxes,
                parts.head_classes,
                parts.head_boxes,
            ],
        })
    }

    fn validate(&self) -> Result<Vec<f64>> {
        if self.test.is_empty() {
            return Ok(vec![f64::NAN; 3]);
        }
        let s = evaluate(self.model, self.test, &DetectOptions::default())?;
        Ok(vec![
            s.map50.unwrap_or(f64::NAN),
            s.ap.unwrap_or(f64::NAN),
            s.ms_per_frame,
        ])
    }

    fn part_names(&self) -> Vec<String> {
        PARTS.iter().map(|p| p.to_string()).collect()
    }

    fn validation_names(&self) -> Vec<String> {
        ["test_map50", "test_coco_ap", "test_ms_per_frame"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn objective(&self) -> Objective {
        Objective::Highest(0)
    }

    fn fingerprint(&self) -> Vec<(String, serde_json::Value)> {
        let o = self.options;
        vec![
            (
                "model config".into(),
                serde_json::to_value(&self.model.config).unwrap_or_default(),
            ),
            ("frames".into(), [self.train.len(), self.test.len()].into()),
            ("--seed".into(), o.seed.into()),
            (
                "augmentation".into(),
                serde_json::json!({
                    "flip": o.flip,
                    "photometric": o.photometric.map(|a| [a.brightness, a.contrast, a.colour]),
                }),
            ),
        ]
    }
}

/// Trains `model` on `train`, scoring on `test` after every epoch (an empty `test`: no
/// scores, and the last epoch's model is kept).
pub fn train(
    model: &Detector,
    train: &BoxedImages,
    test: &BoxedImages,
    options: &DetectorTraining,
    run: Run,
) -> Result<Report> {
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
    let task = Detection {
        model,
        train,
        test,
        options,
    };
    let schedule = Schedule::new(options.epochs, options.batch_size, options.learning_rate);
    train::fit(&task, &schedule, run)
}
