//! `steerlab detect`: the two-stage detector (`--model`) or the sliding-window baseline
//! (`--classifier`) on a frame (boxes drawn into a PNG) or an episode (boxes drawn into a GIF;
//! for a labelled episode, mAP@0.5 and COCO AP against the recorded boxes), with the time per
//! frame.

use crate::nn::data::detections::{BoxedImages, ImageTruth};
use crate::nn::metrics::detection;
use crate::nn::models::any_detector::AnyDetector;
use crate::nn::models::detect::boxes::{BBox, BOX_COLOURS, Detection, draw_outline};
use crate::record::EpisodeReader;
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
    let episode = EpisodeReader::open(&args.input)?;
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
    // Labelled frames and what was found in them, for the scores.
    let mut labelled = BoxedImages::new();
    let mut found_in_labelled = Vec::new();
    let (mut frames, mut seconds, mut size) = (0usize, 0.0, (0, 0));
    for step in episode.steps(true)? {
        let Some(frame) = &step.frame else {
            continue;
        };
        if step.tick % args.every.max(1) != 0 {
            continue;
        }
        let started = Instant::now();
        let found = method.detect(frame)?;
        seconds += started.elapsed().as_secs_f64();
        frames += 1;
        size = (frame.width, frame.height);
        if let Some(gif) = &mut gif {
            let mut shown = frame.clone();
            draw_all(&mut shown, &found, args.draw_threshold);
            gif.push(shown.width, shown.height, &shown.rgb)?;
        }
        let Some(objects) = &step.objects else {
            continue;
        };
        let mut truth = ImageTruth::default();
        for o in &objects.objects {
            let b = BBox::new(o.x0 as f64, o.y0 as f64, o.x1 as f64, o.y1 as f64);
            match labelled.classes.iter().position(|c| *c == o.class) {
                Some(class) if o.pixels >= args.min_pixels => truth.objects.push((class, b)),
                // Too small to count, yet there: finding it must not count as a mistake.
                class => truth.ignored.push((class, b)),
            }
        }
        let image = labelled.len();
        labelled.push(frame.width, frame.height, frame.rgb.clone(), truth)?;
        // The method's class index → the index of the same name among the recorded classes.
        found_in_labelled.extend(found.into_iter().filter_map(|d| {
            let name = &method.classes()[d.class];
            let class = labelled.classes.iter().position(|c| c == name)?;
            Some(Detection { image, class, ..d })
        }));
    }
    if frames == 0 {
        bail!("{}: no frames", args.input.display());
    }
    println!(
        "{}: {frames} frames, {:.1} ms per frame",
        method.describe(size.0, size.1),
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
