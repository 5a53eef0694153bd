//! The naive detector the lecture starts from (R-CNN style, before region proposals): classify
//! crops of many sliding windows with the classification module (trained with a background
//! class, `train-classifier --crops-from … --backgrounds N`), keep confident windows, and
//! suppress overlaps per class. One classifier pass per window, which is what the two-stage
//! detector's single pass replaces.

use crate::error::{Error, Result};
use crate::nn::device;
use crate::nn::models::classify::{BACKGROUND, Classifier, crop};
use crate::nn::models::detect::boxes::{BBox, Detection, nms};
use crate::sim::Frame;
use candle_core::{D, Tensor};

/// Window shapes and thresholds.
#[derive(Clone, Debug)]
pub struct SlidingWindow {
    /// Window sides in pixels (each also at aspect ratios 1:2 and 2:1).
    pub sides: Vec<f64>,
    /// Step between windows as a fraction of the window size.
    pub step: f64,
    pub score_threshold: f64,
    pub nms_iou: f64,
}

impl Default for SlidingWindow {
    fn default() -> Self {
        Self {
            sides: vec![10.0, 16.0, 24.0, 36.0],
            step: 0.5,
            score_threshold: 0.5,
            nms_iou: 0.3,
        }
    }
}

impl SlidingWindow {
    /// Every window over a `width`×`height` frame; the last row and column of windows touch
    /// the frame's edges.
    pub fn windows(&self, width: u32, height: u32) -> Vec<BBox> {
        // Starts every `step` up to `room`, and `room` itself.
        let starts = |room: f64, step: f64| {
            let mut v = Vec::new();
            let mut p = 0.0;
            while p < room {
                v.push(p);
                p += step;
            }
            if room >= 0.0 {
                v.push(room);
            }
            v
        };
        let mut out = Vec::new();
        for &side in &self.sides {
            for aspect in [0.5f64, 1.0, 2.0] {
                let (w, h) = (side * aspect.sqrt(), side / aspect.sqrt());
                let (dx, dy) = ((w * self.step).max(1.0), (h * self.step).max(1.0));
                for y in starts(height as f64 - h, dy) {
                    for x in starts(width as f64 - w, dx) {
                        out.push(BBox::new(x, y, x + w, y + h));
                    }
                }
            }
        }
        out
    }

    /// Detections in `frame` (class: index among the classifier's object classes, image 0).
    pub fn detect(&self, model: &Classifier, frame: &Frame) -> Result<Vec<Detection>> {
        let classes = &model.config.classes;
        let Some(background) = classes.iter().position(|c| c == BACKGROUND) else {
            return Err(Error::InvalidArgument(format!(
                "the sliding-window detector needs a classifier with a `{BACKGROUND}` class \
                 (train it with `train-classifier --crops-from DIR --backgrounds 3`)"
            )));
        };
        let input = model.config.input;
        let size = input.height;
        let windows = self.windows(frame.width, frame.height);
        let mut found: Vec<(usize, BBox, f64)> = Vec::new();
        for chunk in windows.chunks(512) {
            let mut values = Vec::with_capacity(chunk.len() * 3 * size * size);
            for b in chunk {
                let c = crop(frame, (b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0), size);
                values.extend(c.iter().map(|&v| v as f32 / 255.0));
            }
            let images = Tensor::from_vec(values, (chunk.len(), 3, size, size), &device())?;
            let probs =
                candle_nn::ops::softmax(&model.forward(&images)?, D::Minus1)?.to_vec2::<f32>()?;
            for (b, p) in chunk.iter().zip(probs) {
                let (class, score) = p.iter().enumerate().filter(|(c, _)| *c != background).fold(
                    (0, f32::MIN),
                    |best, (c, &v)| if v > best.1 { (c, v) } else { best },
                );
                if score as f64 >= self.score_threshold {
                    found.push((class, *b, score as f64));
                }
            }
        }
        let mut detections = Vec::new();
        for class in (0..classes.len()).filter(|&c| c != background) {
            let of: Vec<&(usize, BBox, f64)> = found.iter().filter(|f| f.0 == class).collect();
            let boxes: Vec<BBox> = of.iter().map(|f| f.1).collect();
            let scores: Vec<f64> = of.iter().map(|f| f.2).collect();
            for i in nms(&boxes, &scores, self.nms_iou) {
                detections.push(Detection {
                    image: 0,
                    class,
                    bbox: boxes[i],
                    score: scores[i],
                });
            }
        }
        Ok(detections)
    }
}
