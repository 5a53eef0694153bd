//! `steerlab detect --sliding`: the sliding-window baseline detector on a frame (boxes drawn
//! into a PNG) or on a labelled episode (mAP@0.5 and COCO AP against the recorded boxes, and
//! the time per frame).

use crate::nn::boxes::{BBox, Detection, GroundTruth, coco_ap, mean_ap};
use crate::nn::classify::Classifier;
use crate::nn::slide::SlidingWindow;
use crate::record::EpisodeReader;
use crate::sim::Frame;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct DetectArgs {
    /// A classifier with a background class (`train-classifier --crops-from … --backgrounds 3`).
    #[arg(long)]
    pub classifier: PathBuf,
    /// Use the sliding-window baseline (the two-stage detector is not built yet).
    #[arg(long, required = true)]
    pub sliding: bool,
    /// A frame (PNG) or a labelled episode (.mcap).
    pub input: PathBuf,
    /// For a frame: the PNG with the boxes drawn.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// For an episode: every n-th labelled frame is evaluated.
    #[arg(long, default_value_t = 20)]
    pub every: u64,
    /// Ground-truth objects with fewer visible pixels are not counted.
    #[arg(long, default_value_t = 40)]
    pub min_pixels: u32,
    /// Minimum class probability of a kept window.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
}

fn draw(frame: &mut Frame, b: &BBox, colour: [u8; 3]) {
    let (w, h) = (frame.width as i64, frame.height as i64);
    let (x0, y0, x1, y1) = (b.x0 as i64, b.y0 as i64, b.x1 as i64 - 1, b.y1 as i64 - 1);
    let mut put = |x: i64, y: i64| {
        if (0..w).contains(&x) && (0..h).contains(&y) {
            let i = ((y * w + x) * 3) as usize;
            frame.rgb[i..i + 3].copy_from_slice(&colour);
        }
    };
    for x in x0..=x1 {
        put(x, y0);
        put(x, y1);
    }
    for y in y0..=y1 {
        put(x0, y);
        put(x1, y);
    }
}

pub fn run(args: &DetectArgs) -> Result<ExitCode> {
    let model = Classifier::load(&args.classifier)?;
    let detector = SlidingWindow {
        score_threshold: args.threshold,
        ..SlidingWindow::default()
    };
    let classes = &model.config.classes;
    if args.input.extension().is_some_and(|e| e == "png") {
        let bytes = std::fs::read(&args.input)
            .with_context(|| format!("reading {}", args.input.display()))?;
        let mut frame = Frame::from_png(&bytes, 0, 0)?;
        let started = Instant::now();
        let found = detector.detect(&model, &frame)?;
        let seconds = started.elapsed().as_secs_f64();
        for d in &found {
            println!(
                "{:>12} {:.2}  [{:.0}, {:.0}, {:.0}, {:.0}]",
                classes[d.class], d.score, d.bbox.x0, d.bbox.y0, d.bbox.x1, d.bbox.y1
            );
            draw(&mut frame, &d.bbox, [255, 40, 200]);
        }
        println!(
            "{} detections from {} windows in {:.0} ms",
            found.len(),
            detector.windows(frame.width, frame.height).len(),
            seconds * 1e3
        );
        if let Some(out) = &args.out {
            frame.save_png(out)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let episode = EpisodeReader::open(&args.input)?;
    let (mut detections, mut truths) = (Vec::<Detection>::new(), Vec::<GroundTruth>::new());
    let (mut frames, mut seconds) = (0usize, 0.0);
    for step in episode.steps(true)? {
        let (Some(frame), Some(objects)) = (&step.frame, &step.objects) else {
            continue;
        };
        if step.tick % args.every.max(1) != 0 {
            continue;
        }
        let started = Instant::now();
        let found = detector.detect(&model, frame)?;
        seconds += started.elapsed().as_secs_f64();
        detections.extend(found.into_iter().map(|d| Detection { image: frames, ..d }));
        for o in objects
            .objects
            .iter()
            .filter(|o| o.pixels >= args.min_pixels)
        {
            if let Some(class) = classes.iter().position(|c| *c == o.class) {
                truths.push(GroundTruth {
                    image: frames,
                    class,
                    bbox: BBox::new(o.x0 as f64, o.y0 as f64, o.x1 as f64, o.y1 as f64),
                });
            }
        }
        frames += 1;
    }
    if frames == 0 {
        bail!(
            "{}: no labelled frames (record with --labels)",
            args.input.display()
        );
    }
    println!(
        "{frames} frames, {} objects, {} detections; {:.0} ms per frame ({} windows each)",
        truths.len(),
        detections.len(),
        seconds / frames as f64 * 1e3,
        detector.windows(200, 66).len()
    );
    let show = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.3}"));
    println!(
        "mAP@0.5 {}  AP@[.5:.95] {}",
        show(mean_ap(&detections, &truths, 0.5)),
        show(coco_ap(&detections, &truths))
    );
    Ok(ExitCode::SUCCESS)
}
