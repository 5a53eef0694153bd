//! Scoring a detector: AP at IoU 0.5 per class, their mean, COCO's AP@[.5:.95] and the time per
//! frame; `detect --json`'s figures file of such runs.

use crate::error::Result;
use crate::nn::data::detections::BoxedImages;
use crate::nn::machine::Machine;
use crate::nn::models::detect::boxes::{Detection, average_precision, coco_ap, mean_ap};
use crate::nn::models::detect::model::{DetectOptions, Detector};
use crate::report::table::markdown_table;
use serde::{Deserialize, Serialize};
use std::path::Path;
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

/// One `detect` run over a labelled episode, with the machine it ran on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DetectRun {
    pub machine: Machine,
    /// The detector as `AnyDetector::describe` names it, the episode file's name and the
    /// sampling (every n-th frame).
    pub detector: String,
    pub episode: String,
    pub every: u64,
    /// Frames scored and the objects in them (crowd regions not counted).
    pub frames: usize,
    pub objects: usize,
    pub map50: Option<f64>,
    pub ap: Option<f64>,
    pub ms_per_frame: f64,
}

/// `detect --json`'s file: one run per detector, episode and sampling (a run replaces an
/// earlier one of the same three), so that one file holds a comparison made run by run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DetectFigures {
    pub detect_runs: Vec<DetectRun>,
}

impl DetectFigures {
    /// Adds `run` to the figures file `path` (made when missing), replacing an earlier run of
    /// the same detector, episode and sampling.
    pub fn add(path: &Path, run: DetectRun) -> Result<DetectFigures> {
        let mut figures: DetectFigures =
            crate::files::read_json(path, "not a `detect --json` figures file")?
                .unwrap_or_default();
        let same = |r: &DetectRun| {
            (r.detector.as_str(), r.episode.as_str(), r.every)
                == (run.detector.as_str(), run.episode.as_str(), run.every)
        };
        match figures.detect_runs.iter_mut().find(|r| same(r)) {
            Some(old) => *old = run,
            None => figures.detect_runs.push(run),
        }
        crate::files::write_json(path, &figures)?;
        Ok(figures)
    }

    /// The table `detect` adds a row to and the guide shows.
    pub fn markdown(&self) -> String {
        let mut r = String::new();
        let mut machines: Vec<&Machine> = Vec::new();
        for run in &self.detect_runs {
            if !machines
                .iter()
                .any(|m| (&m.cpu, &m.blas) == (&run.machine.cpu, &run.machine.blas))
            {
                machines.push(&run.machine);
            }
        }
        for m in machines {
            r.push_str(&format!("{} (the first run on it).\n\n", m.measured_on()));
        }
        let score = |x: Option<f64>| x.map_or("–".into(), |x| format!("{x:.3}"));
        let rows = self.detect_runs.iter().map(|run| {
            vec![
                run.detector.clone(),
                match run.every {
                    1 => format!("`{}`, every frame", run.episode),
                    n => format!("`{}`, 1 frame in {n}", run.episode),
                },
                run.frames.to_string(),
                run.objects.to_string(),
                score(run.map50),
                score(run.ap),
                format!("{:.1} ms", run.ms_per_frame),
            ]
        });
        r.push_str(&markdown_table(
            &[
                "detector",
                "episode",
                "frames scored",
                "objects",
                "mAP@0.5",
                "AP@[.5:.95]",
                "time per frame",
            ],
            rows,
        ));
        r
    }
}
