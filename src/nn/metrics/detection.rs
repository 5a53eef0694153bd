//! Scoring a detector: AP at IoU 0.5 per class, their mean, COCO's AP@[.5:.95] and the time per
//! frame.

use crate::error::Result;
use crate::nn::data::detections::BoxedImages;
use crate::nn::models::detect::boxes::{Detection, average_precision, coco_ap, mean_ap};
use crate::nn::models::detect::model::{DetectOptions, Detector};
use serde::Serialize;
use std::time::Instant;

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
