//! The fuzz targets: each takes the bytes of one input file and reads it as steerlab would,
//! through the library's public readers. libFuzzer runs them (`fuzz_targets/`, `make fuzz`);
//! the test suite replays every kept input through them (`tests/it/fuzz.rs`). A target may
//! return an error for any input; it must never panic, hang or allocate without bound.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use steerlab::nn::ModelDir;
use steerlab::nn::data::dataset::Dataset;
use steerlab::nn::models::classify::Classifier;
use steerlab::nn::models::detect::Detector;
use steerlab::nn::models::detect::boxes::{coco, coco_ap, mean_ap};
use steerlab::nn::models::segment::{MaskedImages, Segmenter};
use steerlab::record::EpisodeReader;
use steerlab::sim::labels::{LabelClass, LabelFrame, LabelTable};
use steerlab::sim::{Expert, ExpertConfig, Scenario, Simulation};

/// Ticks a valid scenario is driven for by its expert.
const SCENARIO_TICKS: usize = 20;

/// A folder of this thread and process for the files a reader needs on disk (named as the
/// test suite's folders are, so that its sweep removes those of processes that have ended).
fn scratch() -> PathBuf {
    let thread = format!("{:?}", std::thread::current().id()).replace(['(', ')'], "");
    let dir = std::env::temp_dir().join(format!("steerlab-fuzz{thread}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// `data` split at its first zero byte (for targets that read two files).
fn two_files(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// A scenario file: parsed and validated, then built into a simulation (track or town,
/// props, traffic) whose cars the expert drives for a few ticks.
pub fn scenario(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(scenario) = Scenario::from_ron(text, "fuzz.ron") else {
        return;
    };
    let _ = scenario.expanded_prop_count();
    let cruise = scenario.vehicle.speed_m_s;
    let Ok(mut sim) = Simulation::new(scenario, 2) else {
        return;
    };
    sim.reset(0);
    let expert = Expert::new(ExpertConfig::default(), 0);
    for _ in 0..SCENARIO_TICKS {
        let actions: Vec<_> = sim
            .states()
            .iter()
            .map(|state| expert.label(&sim.track, state, cruise))
            .collect();
        if sim.step(&actions).is_err() {
            return;
        }
    }
}

/// An episode file: opened, streamed with frames decoded, read through its index (the first,
/// middle and last ticks, as replay's seek does), and loaded as a training dataset.
pub fn episode(data: &[u8]) {
    let path = scratch().join("episode.mcap");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    read_episode(&path);
}

fn read_episode(path: &Path) {
    let Ok(episode) = EpisodeReader::open(path) else {
        return;
    };
    if let Ok(mut steps) = episode.steps(true) {
        for _ in steps.by_ref() {}
        let _ = steps.outcome();
    }
    if let Ok(index) = episode.index() {
        for tick in [0, index.ticks / 2, index.ticks.saturating_sub(1)] {
            let _ = episode.step_at(&index, tick, true);
        }
    }
    let _ = Dataset::load(&[path.to_path_buf()]);
}

/// A model folder: the first byte picks the kind of model (steering, classifier, segmenter,
/// detector); then `config.json`, a zero byte, and `model.safetensors`.
pub fn checkpoint(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let (config, weights) = two_files(rest);
    let dir = scratch().join("model");
    let _ = std::fs::create_dir_all(&dir);
    if std::fs::write(dir.join("config.json"), config).is_err()
        || std::fs::write(dir.join("model.safetensors"), weights).is_err()
    {
        return;
    }
    let _ = match kind % 4 {
        0 => steerlab::nn::Model::load(&dir).map(drop),
        1 => Classifier::load(&dir).map(drop),
        2 => Segmenter::load(&dir).map(drop),
        _ => Detector::load(&dir).map(drop),
    };
}

/// A COCO ground-truth file, a zero byte, and a COCO results file: read, checked against
/// each other and scored as `eval-detections` does.
pub fn coco(data: &[u8]) {
    let (truth, detections) = two_files(data);
    let dir = scratch();
    let (truth_path, detections_path) = (dir.join("truth.json"), dir.join("detections.json"));
    if std::fs::write(&truth_path, truth).is_err()
        || std::fs::write(&detections_path, detections).is_err()
    {
        return;
    }
    if let Ok((truth, detections)) = coco::read_scored(&truth_path, &detections_path) {
        let _ = mean_ap(&detections, &truth, 0.5);
        let _ = coco_ap(&detections, &truth);
    }
}

/// A window input script (`steerlab sim --script`).
pub fn script(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = steerlab::app::script::parse_script(text);
    }
}

/// A label image: the first byte picks a rendered label image (RGB ids, decoded into classes
/// and object boxes) or a recorded class mask (grayscale, made into a segmentation batch).
pub fn labels(data: &[u8]) {
    let Some((&kind, png)) = data.split_first() else {
        return;
    };
    if kind % 2 == 0 {
        let Ok((w, h, rgb)) = steerlab::files::decode_png(png, steerlab::files::Pixels::Rgb, "")
        else {
            return;
        };
        let mut table = LabelTable::new();
        for class in LabelClass::all().into_iter().filter(LabelClass::is_object) {
            table.add(class);
        }
        let frame = LabelFrame::from_rgb(0, w, h, &rgb, Arc::new(table));
        let _ = frame.class_mask();
        let _ = frame.boxes(1);
    } else {
        let Ok((w, h, mask)) = steerlab::sim::frame::gray_from_png(png) else {
            return;
        };
        let mut images = MaskedImages::default();
        let rgb = vec![0; mask.len() * 3];
        if images.push(w, h, rgb, mask).is_ok() {
            let _ = images.batch(&[0]);
        }
    }
}
