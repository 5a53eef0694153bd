//! Either detector behind one call: the two-stage detector or the sliding-window baseline
//! (a classifier with a background class run over windows), loaded from its model folder, on a
//! frame or over a recorded episode.

use crate::error::{Error, Result};
use crate::nn::ModelDir;
use crate::nn::data::detections::BoxedImages;
use crate::nn::models::classify::Classifier;
use crate::nn::models::detect::boxes::Detection;
use crate::nn::models::detect::{DetectOptions, Detector};
use crate::nn::models::slide::SlidingWindow;
use crate::record::EpisodeReader;
use crate::sim::Frame;
use std::path::Path;
use std::time::Instant;

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

/// A detector run over a recorded episode: the frames with their recorded boxes, what was
/// found in them, and the time it took.
pub struct EpisodeDetections {
    /// The scored frames (those with recorded boxes) and their truth.
    pub labelled: BoxedImages,
    /// The detections in `labelled`'s frames, their classes as `labelled` names them.
    pub found: Vec<Detection>,
    /// Frames detected (every `every`-th) and the seconds detection took, one at a time.
    pub frames: usize,
    pub seconds: f64,
    /// The frames' size.
    pub width: u32,
    pub height: u32,
}

impl AnyDetector {
    /// Detects every `every`-th frame of the episode `path`; `seen(frame, found)` hears of each.
    /// Recorded objects with fewer than `min_pixels` visible pixels are crowd regions (neither
    /// to be found nor wrong to find). Errors name the file.
    pub fn detect_episode(
        &self,
        path: &Path,
        every: u64,
        min_pixels: u32,
        seen: &mut dyn FnMut(&Frame, &[Detection]) -> Result<()>,
    ) -> Result<EpisodeDetections> {
        let episode = EpisodeReader::open(path)?;
        let mut labelled = BoxedImages::new();
        let mut found_in_labelled = Vec::new();
        let (mut frames, mut seconds, mut size) = (0usize, 0.0, (0, 0));
        for step in episode.steps(true)? {
            let Some(frame) = &step.frame else {
                continue;
            };
            if step.tick % every.max(1) != 0 {
                continue;
            }
            let started = Instant::now();
            let found = self.detect(frame)?;
            seconds += started.elapsed().as_secs_f64();
            frames += 1;
            size = (frame.width, frame.height);
            seen(frame, &found)?;
            let Some(objects) = &step.objects else {
                continue;
            };
            let truth = labelled.truth_of(objects, min_pixels);
            let image = labelled.len();
            labelled.push(frame.width, frame.height, frame.rgb.clone(), truth)?;
            // The detector's class index → the index of the same name among the recorded ones.
            found_in_labelled.extend(found.into_iter().filter_map(|d| {
                let name = &self.classes()[d.class];
                let class = labelled.classes.iter().position(|c| c == name)?;
                Some(Detection { image, class, ..d })
            }));
        }
        if frames == 0 {
            return Err(Error::Episode {
                path: path.to_path_buf(),
                message: "no camera frames to detect in".into(),
            });
        }
        Ok(EpisodeDetections {
            labelled,
            found: found_in_labelled,
            frames,
            seconds,
            width: size.0,
            height: size.1,
        })
    }
}
