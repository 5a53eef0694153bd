//! `steerlab train-detector`: the two-stage detector trained on the boxes recorded with
//! `steerlab record --labels`, scored on held-out episodes after every epoch.

use super::progress::{Bar, interrupt_on_ctrl_c, run_into};
use crate::nn::ModelDir;
use crate::nn::data::dataset::Augment;
use crate::nn::data::detections::BoxedImages;
use crate::nn::metrics::detection::{self, DetectionScores};
use crate::nn::models::detect::{DetectOptions, Detector, DetectorConfig};
use crate::nn::train::detect::{self, DetectorTraining};
use crate::nn::train::{CURVES_PNG, METRICS_CSV, Stop};
use anyhow::{Result, bail};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct TrainDetectorArgs {
    /// Episodes recorded with `--labels`, or folders of them; the last fifth of the episodes
    /// (at least one) is held out for evaluation, or the last fifth of the frames when there is
    /// only one.
    #[arg(long, required = true, num_args = 1..)]
    pub data: Vec<PathBuf>,
    #[arg(long, default_value = "runs/detector")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 12)]
    pub epochs: usize,
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// Use every n-th frame (consecutive frames are nearly alike).
    #[arg(long, default_value_t = 2)]
    pub every: u64,
    /// Objects with fewer visible pixels are neither objects nor background (not scored).
    #[arg(long, default_value_t = 40)]
    pub min_pixels: u32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Start from the backbone of this model directory (a steering model, say).
    #[arg(long)]
    pub backbone_from: Option<PathBuf>,
    /// Do not mirror training frames.
    #[arg(long)]
    pub no_flip: bool,
    /// Training frames' brightness varies by ± this fraction, each colour channel by half as
    /// much again (0: off).
    #[arg(long, default_value_t = 0.3)]
    pub colour_jitter: f64,
    /// Held-out episodes (or folders) to score on, instead of the last fifth of `--data`; they
    /// are left out of the training data.
    #[arg(long, num_args = 1..)]
    pub test: Vec<PathBuf>,
    /// Continue the interrupted run saved in `--out` (same arguments).
    #[arg(long)]
    pub resume: bool,
}

/// Per-class AP@0.5 and the summary figures as a Markdown table.
pub fn scores_table(classes: &[String], s: &DetectionScores) -> String {
    let show = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.3}"));
    let mut t = String::from("| class | AP@0.5 |\n|---|---|\n");
    for (c, ap) in classes.iter().zip(&s.class_ap50) {
        let _ = writeln!(t, "| {c} | {} |", show(*ap));
    }
    let _ = writeln!(
        t,
        "| **mean (mAP@0.5)** | **{}** |\n\nCOCO AP@[.5:.95] {}; {} frames, {} objects, {} detections; \
         {:.1} ms per frame",
        show(s.map50),
        show(s.ap),
        s.frames,
        s.objects,
        s.detections,
        s.ms_per_frame
    );
    t
}

pub fn run(args: &TrainDetectorArgs) -> Result<ExitCode> {
    let load = |files: &[PathBuf]| -> Result<BoxedImages> {
        Ok(BoxedImages::from_episodes(
            files,
            args.every,
            args.min_pixels,
        )?)
    };
    let (train, test) = if args.test.is_empty() {
        super::inputs::held_out_split(&args.data, load, |data| {
            data.split_off(data.len() - data.len() / 5)
        })?
    } else {
        // Held-out episodes are left out of the training data, even when under a `--data` folder.
        let test = crate::nn::data::dataset::episode_files(&args.test)?;
        let canonical = |f: &PathBuf| std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
        let held: Vec<PathBuf> = test.iter().map(canonical).collect();
        let mut train = crate::nn::data::dataset::episode_files(&args.data)?;
        train.retain(|f| !held.contains(&canonical(f)));
        (load(&train)?, load(&test)?)
    };
    if train.is_empty() || test.is_empty() {
        bail!("no labelled frames: record episodes with `steerlab record --labels`");
    }
    let model = Detector::new(DetectorConfig::pilotnet(train.classes.clone()), args.seed)?;
    if let Some(from) = &args.backbone_from {
        model.load_backbone(from)?;
    }
    println!(
        "two-stage detector, {} parameters, {} anchors; {} training frames ({} objects), {} held-out ({} objects)",
        model.parameter_count(),
        model.anchors().len(),
        train.len(),
        train.ground_truth().len(),
        test.len(),
        test.ground_truth().len()
    );
    let options = DetectorTraining {
        epochs: args.epochs,
        batch_size: args.batch,
        learning_rate: args.lr,
        seed: args.seed,
        flip: !args.no_flip,
        photometric: (args.colour_jitter > 0.0).then(|| Augment::jitter(args.colour_jitter as f32)),
    };
    let started = Instant::now();
    let show = |v: f64| {
        if v.is_nan() {
            "–".into()
        } else {
            format!("{v:.3}")
        }
    };
    let interrupt = interrupt_on_ctrl_c();
    let mut bar = Bar::new(
        "frames",
        Box::new(move |e, improved| {
            format!(
                "epoch {:>3}: loss {:.3} (rpn {:.3} + {:.3}, head {:.3} + {:.3}), {:.0} frames/s; held-out mAP@0.5 {} AP {}, {:.1} ms/frame; {:.0} s{}",
                e.epoch,
                e.train_loss,
                e.get("train_rpn_objectness"),
                e.get("train_rpn_boxes"),
                e.get("train_head_classes"),
                e.get("train_head_boxes"),
                e.train_samples_per_s,
                show(e.get("test_map50")),
                show(e.get("test_coco_ap")),
                e.get("test_ms_per_frame"),
                started.elapsed().as_secs_f64(),
                if improved { "  (best, saved)" } else { "" }
            )
        }),
    );
    let run = run_into(&args.out, args.resume, &interrupt, &mut bar);
    let report = detect::train(&model, &train, &test, &options, run)?;
    if report.stop == Stop::Interrupted {
        println!("stopped; continue with the same arguments plus --resume");
        return Ok(ExitCode::from(130));
    }
    let wall = started.elapsed().as_secs_f64();
    // The best epoch's model, as saved.
    let model = Detector::load(&args.out)?;
    let scores = detection::evaluate(&model, &test, &DetectOptions::default())?;
    let table = scores_table(&model.config.classes, &scores);
    let text = format!(
        "# Two-stage detector\n\n{} training frames, {} held-out; {} epochs in {:.0} s, the model of epoch {}\n\n{table}\n",
        train.len(),
        test.len(),
        report.history.len() - 1,
        wall,
        report.best_epoch
    );
    crate::files::write_atomic(&args.out.join("report.md"), text.as_bytes())?;
    println!(
        "{table}\nmodel (epoch {}), report.md, {} and {} in {}",
        report.best_epoch,
        METRICS_CSV,
        CURVES_PNG,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
