//! Either detector behind one call: the two-stage detector or the sliding-window baseline
//! (a classifier with a background class run over windows), loaded from its model folder.

use crate::error::{Error, Result};
use crate::nn::ModelDir;
use crate::nn::models::classify::Classifier;
use crate::nn::models::detect::boxes::Detection;
use crate::nn::models::detect::{DetectOptions, Detector};
use crate::nn::models::slide::SlidingWindow;
use crate::sim::Frame;
use std::path::Path;

/// A loaded detector of either kind.
pub enum AnyDetector {
    TwoStage(Box<Detector>, DetectOptions),
    Sliding(Box<Classifier>, SlidingWindow),
}

impl AnyDetector {
    /// The two-stage detector in `dir`, keeping detections scored `threshold` or more (0.05 by
    /// default: its scores rank well).
    pub fn two_stage(dir: &Path, threshold: Option<f64>) -> Result<Self> {
        Ok(Self::TwoStage(
            Box::new(Detector::load(dir)?),
            DetectOptions {
                score_threshold: threshold.unwrap_or(0.05),
                ..DetectOptions::default()
            },
        ))
    }

    /// The sliding-window baseline over the classifier in `dir` (0.5 by default).
    pub fn sliding(dir: &Path, threshold: Option<f64>) -> Result<Self> {
        Ok(Self::Sliding(
            Box::new(Classifier::load(dir)?),
            SlidingWindow {
                score_threshold: threshold.unwrap_or(0.5),
                ..SlidingWindow::default()
            },
        ))
    }

    /// The object classes, in the order of [`Detection::class`].
    pub fn classes(&self) -> &[String] {
        match self {
            Self::TwoStage(m, _) => &m.config.classes,
            Self::Sliding(m, _) => &m.config.classes,
        }
    }

    /// What runs per frame of `width` × `height`.
    pub fn describe(&self, width: u32, height: u32) -> String {
        match self {
            Self::TwoStage(m, o) => format!(
                "two-stage detector ({} anchors, {} proposals per frame)",
                m.anchors().len(),
                o.proposals
            ),
            Self::Sliding(_, s) => format!(
                "sliding-window baseline ({} windows per frame)",
                s.windows(width, height).len()
            ),
        }
    }

    /// The detections in `frame`.
    pub fn detect(&self, frame: &Frame) -> Result<Vec<Detection>> {
        match self {
            Self::TwoStage(m, options) => {
                let input = m.config.input;
                if (frame.width as usize, frame.height as usize) != (input.width, input.height) {
                    return Err(Error::InvalidArgument(format!(
                        "a {}x{} frame, the detector reads {}x{} (record with a camera of that size)",
                        frame.width, frame.height, input.width, input.height
                    )));
                }
                let images = crate::nn::data::dataset::frames_to_tensor(&[frame])?;
                Ok(m.detect(&images, options)?.remove(0))
            }
            Self::Sliding(m, s) => s.detect(m, frame),
        }
    }
}
