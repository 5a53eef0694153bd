//! `steerlab detect`: the two-stage detector (`--model`) or the sliding-window baseline
//! (`--classifier`) on a frame (boxes drawn into a PNG) or an episode (boxes drawn into a GIF;
//! for a labelled episode, mAP@0.5 and COCO AP against the recorded boxes), with the time per
//! frame.

use crate::nn::data::detections::BoxedImages;
use crate::nn::machine::Machine;
use crate::nn::metrics::detection::{self, DetectFigures, DetectRun};
use crate::nn::models::any_detector::AnyDetector;
use crate::nn::models::detect::boxes::{BBox, BOX_COLOURS, Detection, draw_outline};
use crate::sim::Frame;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct DetectArgs {
    /// A two-stage detector (`steerlab train-detector`).
    #[arg(
        long,
        conflicts_with = "classifier",
        required_unless_present = "classifier"
    )]
    pub model: Option<PathBuf>,
    /// The sliding-window baseline instead: a classifier with a background class
    /// (`train-classifier --crops-from … --backgrounds 3`).
    #[arg(long)]
    pub classifier: Option<PathBuf>,
    /// A frame (PNG) or an episode (.mcap).
    pub input: PathBuf,
    /// The frame with its boxes (PNG), or the episode's frames with theirs (GIF).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// For an episode: every n-th frame is detected.
    #[arg(long, default_value_t = 20)]
    pub every: u64,
    /// Recorded objects with fewer visible pixels are not counted: they are crowd regions
    /// (COCO's `iscrowd`), on which a detection is neither right nor wrong.
    #[arg(long, default_value_t = 40)]
    pub min_pixels: u32,
    /// Smallest score of a detection kept (default: 0.05 for the two-stage detector, whose
    /// scores rank well, 0.5 for the baseline).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// For a labelled episode: also write the scored frames' boxes as COCO ground truth
    /// (`truth.json`) and the detections as COCO results (`detections.json`) into this folder,
    /// for `eval-detections`, pycocotools or any COCO tool.
    #[arg(long)]
    pub coco: Option<PathBuf>,
    /// Smallest score of a box drawn.
    #[arg(long, default_value_t = 0.5)]
    pub draw_threshold: f64,
    /// For a labelled episode: add this run's scores, with this machine, to a figures file
    /// (made when missing; one run per detector, episode and sampling), as the guide shows.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

fn draw_all(frame: &mut Frame, found: &[Detection], threshold: f64) {
    for d in found.iter().filter(|d| d.score >= threshold) {
        let colour = BOX_COLOURS[d.class % BOX_COLOURS.len()];
        draw_outline(&mut frame.rgb, frame.width as usize, 3, &d.bbox, colour);
    }
}

pub fn run(args: &DetectArgs) -> Result<ExitCode> {
    let method = match (&args.model, &args.classifier) {
        (Some(dir), _) => AnyDetector::two_stage(dir, args.threshold)?,
        (None, Some(dir)) => AnyDetector::sliding(dir, args.threshold)?,
        (None, None) => bail!("give --model DIR (two-stage) or --classifier DIR (baseline)"),
    };
    if args.input.extension().is_some_and(|e| e == "png") {
        return frame(args, &method);
    }
    let mut gif = match &args.out {
        Some(path) if path.extension().is_some_and(|e| e == "gif") => {
            Some(crate::report::gif::GifWriter::new(path, 10))
        }
        Some(path) => bail!(
            "--out {}: an episode's frames go into a .gif",
            path.display()
        ),
        None => None,
    };
    let machine = Machine::here();
    let run = method.detect_episode(
        &args.input,
        args.every,
        args.min_pixels,
        &mut |frame, found| {
            if let Some(gif) = &mut gif {
                let mut shown = frame.clone();
                draw_all(&mut shown, found, args.draw_threshold);
                gif.push(shown.width, shown.height, &shown.rgb)?;
            }
            Ok(())
        },
    )?;
    let (frames, seconds) = (run.frames, run.seconds);
    let (labelled, found_in_labelled) = (run.labelled, run.found);
    println!(
        "{}: {frames} frames, {:.1} ms per frame",
        method.describe(run.width, run.height),
        seconds * 1e3 / frames as f64
    );
    if let Some(gif) = gif {
        println!("wrote {}", gif.finish().display());
    }
    if labelled.is_empty() {
        println!("no recorded boxes (record with --labels to score the detections)");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(dir) = &args.coco {
        write_coco(dir, &labelled, &found_in_labelled)?;
    }
    let scores = detection::score(&found_in_labelled, &labelled, seconds);
    println!(
        "{}",
        super::detector::scores_table(&labelled.classes, &scores)
    );
    if let Some(path) = &args.json {
        let episode = args.input.file_name().unwrap_or_default();
        let run = DetectRun {
            machine: machine.ended(),
            detector: method.describe(run.width, run.height),
            episode: episode.to_string_lossy().into_owned(),
            every: args.every.max(1),
            frames: scores.frames,
            objects: scores.objects,
            map50: scores.map50,
            ap: scores.ap,
            ms_per_frame: scores.ms_per_frame,
        };
        let figures = DetectFigures::add(path, run)?;
        println!("{} runs in {}", figures.detect_runs.len(), path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `truth.json` and `detections.json` in COCO's formats: image ids count from 1 in frame
/// order, category ids are class indices plus one, objects too small to count are crowd
/// regions (`iscrowd` 1).
fn write_coco(dir: &Path, data: &BoxedImages, found: &[Detection]) -> Result<()> {
    use crate::nn::models::detect::boxes::coco;
    let xywh = |b: &BBox| [b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0];
    let (width, height) = data
        .input
        .map_or((0, 0), |i| (i.width as u32, i.height as u32));
    let truth = coco::Dataset {
        images: (0..data.len())
            .map(|i| coco::Image {
                id: i + 1,
                width,
                height,
                file_name: String::new(),
            })
            .collect(),
        annotations: data
            .scored_truth()
            .iter()
            .enumerate()
            .map(|(k, g)| coco::Annotation {
                id: k + 1,
                image_id: g.image + 1,
                category_id: g.class + 1,
                bbox: xywh(&g.bbox),
                area: g.bbox.area(),
                iscrowd: g.crowd.into(),
            })
            .collect(),
        categories: data
            .classes
            .iter()
            .enumerate()
            .map(|(c, name)| coco::Category {
                id: c + 1,
                name: name.clone(),
            })
            .collect(),
    };
    let results: Vec<coco::ResultEntry> = found
        .iter()
        .map(|d| coco::ResultEntry {
            image_id: d.image + 1,
            category_id: d.class + 1,
            bbox: xywh(&d.bbox),
            score: d.score,
        })
        .collect();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    crate::files::write_atomic(&dir.join("truth.json"), &serde_json::to_vec(&truth)?)?;
    crate::files::write_atomic(&dir.join("detections.json"), &serde_json::to_vec(&results)?)?;
    println!(
        "COCO ground truth and results in {} (truth.json, detections.json)",
        dir.display()
    );
    Ok(())
}

/// One frame: its detections listed, and drawn into `--out`.
fn frame(args: &DetectArgs, method: &AnyDetector) -> Result<ExitCode> {
    let bytes =
        std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let mut frame = Frame::from_png(&bytes, 0, 0)
        .with_context(|| format!("{}: not an 8-bit RGB PNG", args.input.display()))?;
    let started = Instant::now();
    let found = method.detect(&frame)?;
    let seconds = started.elapsed().as_secs_f64();
    for d in found.iter().filter(|d| d.score >= args.draw_threshold) {
        println!(
            "{:>12} {:.2}  [{:.0}, {:.0}, {:.0}, {:.0}]",
            method.classes()[d.class],
            d.score,
            d.bbox.x0,
            d.bbox.y0,
            d.bbox.x1,
            d.bbox.y1
        );
    }
    println!(
        "{} detections scoring at least {} ({} in all), {}, {:.1} ms",
        found
            .iter()
            .filter(|d| d.score >= args.draw_threshold)
            .count(),
        args.draw_threshold,
        found.len(),
        method.describe(frame.width, frame.height),
        seconds * 1e3
    );
    if let Some(out) = &args.out {
        draw_all(&mut frame, &found, args.draw_threshold);
        frame.save_png(out)?;
        println!("wrote {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}
