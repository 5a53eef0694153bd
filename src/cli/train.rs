//! `steerlab train`: recorded episodes in, a steering model directory out.

use super::progress::{Bar, interrupt_on_ctrl_c};
use crate::nn::data::dataset::Augment;
use crate::nn::train::optim::AdamWParams;
use crate::nn::train::steering::{self, EpochMetrics, Stop, TrainOptions};
use crate::sim::map_input::MapMode;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Episode files, or directories searched for *.mcap, or object store folders
    /// (`s3://bucket/prefix`, `gs://…`, `file://…`) whose checked episodes are cached locally.
    #[arg(long, required = true, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// Model directory to write (config.json, model.safetensors, metrics.csv, curves.png).
    #[arg(long)]
    pub out: PathBuf,
    /// Network preset: pilotnet, lecture, navnet (camera and map, Amini et al. 2019), cil
    /// (one head per navigation command, Codevilla et al. 2018) or lanepose (the car's offset
    /// from its lane's centre, the sensor `eval --localise` reads).
    #[arg(long, default_value = "pilotnet")]
    pub preset: String,
    /// The map a navnet reads: routed (the default), unrouted, or none (its camera-only
    /// baseline). The episodes must have been recorded with --map.
    #[arg(long, value_enum)]
    pub map: Option<MapMode>,
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Peak learning rate (after warm-up; cosine decay to 2 % of it).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    /// Seeds weights, data order, the validation split and augmentation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Share of each scenario's episodes held out for validation (a scenario recorded in one
    /// episode is split in time).
    #[arg(long, default_value_t = 0.2)]
    pub validation_fraction: f64,
    /// A fixed validation set instead: episode files or folders that validate and never
    /// train (--validation-fraction is then unused).
    #[arg(long, num_args = 1..)]
    pub validation: Vec<PathBuf>,
    /// Stop after this many epochs without a better validation NLL.
    #[arg(long, default_value_t = 5)]
    pub patience: usize,
    /// Turn off photometric augmentation.
    #[arg(long)]
    pub no_augment: bool,
    /// Turn off balancing of straight driving, gentle, medium and sharp turns.
    #[arg(long)]
    pub no_balance: bool,
    /// Threads decoding frames into batches.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Continue the interrupted or finished run in --out (more --epochs extend it).
    #[arg(long)]
    pub resume: bool,
    /// Start from the weights of this model directory (same preset).
    #[arg(long)]
    pub init_from: Option<PathBuf>,
    #[command(flatten)]
    pub heads: super::inputs::HeadArgs,
}

/// A model's line after each epoch; the error of the mode is in the target's unit.
pub(crate) fn bar(target: crate::nn::models::steering::config::Target) -> Bar {
    let unit = match target {
        crate::nn::models::steering::config::Target::Curvature => "1/m",
        crate::nn::models::steering::config::Target::LaneOffset => "m",
    };
    Bar::new(
        "samples",
        Box::new(move |e, improved| {
            let m = EpochMetrics::from(e);
            let train = if m.train_nll.is_finite() {
                format!("{:>7.3}", m.train_nll)
            } else {
                "      -".into()
            };
            let speed = if m.validation_speed_mae_m_s.is_finite() {
                format!(
                    "  speed NLL {:>6.3} MAE(mode) {:.2} m/s",
                    m.validation_speed_nll, m.validation_speed_mae_m_s
                )
            } else {
                String::new()
            };
            let pose = if m.validation_pose_offset_mae_m.is_finite() {
                format!("  lane offset MAE {:.3} m", m.validation_pose_offset_mae_m)
            } else {
                String::new()
            };
            format!(
                "epoch {:>3}: train NLL {train}  validation NLL {:>7.3}  MAE(mode) {:.4} {unit}{speed}{pose}  {:.0} samples/s  {:.1} s{}",
                m.epoch,
                m.validation_nll,
                m.validation_mae_mode_per_m,
                m.train_samples_per_s,
                m.seconds,
                if improved { "  (best, saved)" } else { "" }
            )
        }),
    )
}

pub fn run(args: &TrainArgs) -> Result<ExitCode> {
    let config = super::inputs::model_config_with(&args.preset, args.map, &args.heads)?;
    if !(0.0..1.0).contains(&args.validation_fraction) {
        bail!("--validation-fraction must be in [0, 1)");
    }
    let data = super::inputs::local_data(&args.data)?;
    let mut options = TrainOptions::new(data, args.out.clone(), config);
    options.epochs = args.epochs;
    options.batch_size = args.batch;
    options.learning_rate = args.lr;
    options.adamw = AdamWParams {
        weight_decay: args.weight_decay,
        ..AdamWParams::default()
    };
    options.seed = args.seed;
    options.validation_fraction = args.validation_fraction;
    options.validation = args.validation.clone();
    options.patience = args.patience;
    options.augment = (!args.no_augment).then(Augment::default);
    options.balance = !args.no_balance;
    options.workers = args.workers;
    options.resume = args.resume;
    options.init_from = args.init_from.clone();

    let interrupt = interrupt_on_ctrl_c();
    let mut bar = bar(options.config.target);
    let report = steering::train(&options, &mut bar, &interrupt)
        .with_context(|| format!("training into {}", args.out.display()))?;
    let out = args.out.display();
    match report.stop {
        Stop::Interrupted => {
            println!("stopped; continue with the same arguments plus --resume");
            return Ok(ExitCode::from(130));
        }
        Stop::EarlyStopped => println!("early stop: {} epochs without improvement", args.patience),
        Stop::Completed => {}
    }
    println!(
        "best validation NLL {:.3} at epoch {} (initial {:.3}); model in {out}, metrics in {out}/{}, curves in {out}/{}",
        report.best_validation_nll,
        report.best_epoch,
        report
            .history
            .first()
            .map(|m| m.validation_nll)
            .unwrap_or(f64::NAN),
        steering::METRICS_CSV,
        steering::CURVES_PNG
    );
    Ok(ExitCode::SUCCESS)
}
