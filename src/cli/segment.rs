//! `steerlab train-segmenter` (FCN on the shared backbone, trained on recorded class masks)
//! and `steerlab segment` (a frame's predicted classes as a coloured PNG).

use super::progress::{Bar, interrupt_on_ctrl_c, run_into};
use crate::nn::ModelDir;
use crate::nn::models::segment::{
    self, MaskedImages, Segmenter, SegmenterConfig, SegmenterTraining,
};
use crate::nn::train::Stop;
use crate::record::EpisodeReader;
use crate::sim::Frame;
use crate::sim::labels::LabelClass;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct TrainSegmenterArgs {
    /// Episodes recorded with `--labels`, or folders of them; the last fifth of the episodes
    /// (at least one) is held out for evaluation, or the last fifth of the frames when there is
    /// only one.
    #[arg(long, required = true, num_args = 1..)]
    pub data: Vec<PathBuf>,
    #[arg(long, default_value = "runs/segmenter")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// Use every n-th frame (consecutive frames are nearly alike).
    #[arg(long, default_value_t = 2)]
    pub every: u64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Start from the backbone of this model directory (a steering model, say).
    #[arg(long)]
    pub backbone_from: Option<PathBuf>,
    /// Continue the interrupted run saved in `--out` (same arguments).
    #[arg(long)]
    pub resume: bool,
}

fn load(files: &[PathBuf], every: u64) -> Result<MaskedImages> {
    let mut data = MaskedImages::default();
    for file in files {
        let episode = EpisodeReader::open(file)?;
        for step in episode.steps(true)? {
            if step.tick % every.max(1) != 0 {
                continue;
            }
            let (Some(frame), Some(mask)) = (step.frame, step.class_mask_png) else {
                continue;
            };
            let (w, h, mask) = crate::sim::frame::gray_from_png(&mask)?;
            if (w, h) != (frame.width, frame.height) {
                bail!(
                    "{}: tick {}: mask and frame sizes differ",
                    file.display(),
                    step.tick
                );
            }
            data.push(w, h, frame.rgb, mask)?;
        }
    }
    Ok(data)
}

pub fn train_run(args: &TrainSegmenterArgs) -> Result<ExitCode> {
    let (train, test) = super::inputs::held_out_split(
        &args.data,
        |files| load(files, args.every),
        |data| data.split_off(data.len() - data.len() / 5),
    )?;
    if train.is_empty() || test.is_empty() {
        bail!("no labelled frames: record episodes with `steerlab record --labels`");
    }
    let classes: Vec<String> = LabelClass::all().iter().map(|c| c.name()).collect();
    let model = Segmenter::new(SegmenterConfig::pilotnet(classes), args.seed)?;
    if let Some(from) = &args.backbone_from {
        model.load_backbone(from)?;
    }
    println!(
        "FCN segmenter, {} parameters; {} training and {} held-out frames",
        model.parameter_count(),
        train.len(),
        test.len()
    );
    let started = Instant::now();
    let interrupt = interrupt_on_ctrl_c();
    let mut bar = Bar::new(
        "frames",
        Box::new(move |e, improved| {
            format!(
                "epoch {:>3}: train loss {:.4}  held-out mean IoU {:.3}  pixel accuracy {:.3}  {:.0} s{}",
                e.epoch,
                e.train_loss,
                e.get("test_mean_iou"),
                e.get("test_pixel_accuracy"),
                started.elapsed().as_secs_f64(),
                if improved { "  (best, saved)" } else { "" }
            )
        }),
    );
    let options = SegmenterTraining {
        epochs: args.epochs,
        batch_size: args.batch,
        learning_rate: args.lr,
        seed: args.seed,
    };
    let run = run_into(&args.out, args.resume, &interrupt, &mut bar);
    let (report, _) = segment::train(&model, &train, &test, &options, run)?;
    if report.stop == Stop::Interrupted {
        println!("stopped; continue with the same arguments plus --resume");
        return Ok(ExitCode::from(130));
    }
    // The best epoch's model, as saved.
    let scores = segment::evaluate(&Segmenter::load(&args.out)?, &test)?;
    let mut table = String::from("| class | IoU |\n|---|---|\n");
    for (c, iou) in scores.classes.iter().zip(&scores.iou) {
        let v = iou.map_or("–".into(), |v| format!("{:.3}", v));
        table.push_str(&format!("| {c} | {v} |\n"));
    }
    table.push_str(&format!(
        "| **mean** | **{:.3}** |\n\npixel accuracy {:.3}\n",
        scores.mean_iou, scores.pixel_accuracy
    ));
    crate::files::write_atomic(&args.out.join("report.md"), table.as_bytes())?;
    println!(
        "{table}\nmodel (epoch {}), report.md, metrics.csv and curves.png in {}",
        report.best_epoch,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Debug)]
pub struct SegmentArgs {
    /// Segmenter model directory.
    #[arg(long)]
    pub model: PathBuf,
    /// A camera frame (PNG of the model's input size).
    pub image: PathBuf,
    /// Coloured mask to write (PNG).
    #[arg(long)]
    pub out: PathBuf,
}

/// A colour per class for drawn masks.
const PALETTE: [[u8; 3]; 10] = [
    [135, 190, 235],
    [70, 70, 75],
    [250, 250, 240],
    [90, 150, 60],
    [255, 120, 0],
    [200, 30, 30],
    [40, 70, 200],
    [20, 100, 30],
    [240, 220, 40],
    [220, 60, 200],
];

pub fn run(args: &SegmentArgs) -> Result<ExitCode> {
    let model = Segmenter::load(&args.model)?;
    let frame = read_frame(&args.image)?;
    let images = crate::nn::data::dataset::frames_to_tensor(&[&frame])?;
    let classes = model
        .predict(&images)
        .context("segmenting the image (is it the model's input size?)")?
        .remove(0);
    let mut rgb = Vec::with_capacity(classes.len() * 3);
    for c in &classes {
        rgb.extend(PALETTE[*c as usize % PALETTE.len()]);
    }
    Frame {
        tick: 0,
        agent: 0,
        width: frame.width,
        height: frame.height,
        rgb,
    }
    .save_png(&args.out)?;
    let k = model.config.classes.len();
    let mut counts = vec![0usize; k];
    for &c in &classes {
        counts[(c as usize).min(k - 1)] += 1;
    }
    for (name, n) in model.config.classes.iter().zip(counts) {
        if n > 0 {
            println!(
                "{name:>12}: {:5.1} %",
                100.0 * n as f64 / classes.len() as f64
            );
        }
    }
    println!("mask written to {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

fn read_frame(path: &Path) -> Result<Frame> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Frame::from_png(&bytes, 0, 0)
        .with_context(|| format!("{}: not an 8-bit RGB PNG", path.display()))
}
