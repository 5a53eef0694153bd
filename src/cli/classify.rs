//! `steerlab train-classifier`: the classification module on the shared backbone, trained on
//! Fashion-MNIST; test accuracy per epoch, the confusion matrix and the model directory.

use super::progress::{Bar, interrupt_on_ctrl_c, run_into};
use crate::nn::ModelDir;
use crate::nn::models::classify::{
    self, Classifier, ClassifierConfig, ClassifierTraining, FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR, object_crops, read_mnist_split,
};
use crate::nn::train::Stop;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct TrainClassifierArgs {
    /// Folder with Fashion-MNIST's IDX files (Debian: dataset-fashion-mnist).
    #[arg(long, default_value = FASHION_MNIST_DIR)]
    pub fashion_mnist: PathBuf,
    /// Train on object crops cut from episodes recorded with `--labels` instead (the last
    /// fifth of each episode's crops, later along its track, is the test set).
    #[arg(long, num_args = 1..)]
    pub crops_from: Vec<PathBuf>,
    /// Crop size in pixels (square).
    #[arg(long, default_value_t = 32)]
    pub crop_size: usize,
    /// Objects with fewer visible pixels are not cropped.
    #[arg(long, default_value_t = 40)]
    pub min_pixels: u32,
    /// Background windows per frame added as a class of their own (for `detect --sliding`).
    #[arg(long, default_value_t = 0)]
    pub backgrounds: usize,
    /// Model directory to write.
    #[arg(long, default_value = "runs/classifier")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Use only the first N training images (quick runs).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Start from the backbone of this model directory (same backbone layers and input).
    #[arg(long)]
    pub backbone_from: Option<PathBuf>,
    /// Continue the interrupted run saved in `--out` (same arguments).
    #[arg(long)]
    pub resume: bool,
}

pub fn run(args: &TrainClassifierArgs) -> Result<ExitCode> {
    let dir = &args.fashion_mnist;
    let read = |split| {
        read_mnist_split(dir, split, &FASHION_MNIST_CLASSES).with_context(|| {
            format!(
                "reading Fashion-MNIST from {} (install it with `apt-get install dataset-fashion-mnist` or `make setup`)",
                dir.display()
            )
        })
    };
    let (mut train, test) = if args.crops_from.is_empty() {
        (read("train")?, read("t10k")?)
    } else {
        // Each episode's last fifth of crops (later along the track) is held out.
        let files = crate::nn::data::dataset::episode_files(&args.crops_from)?;
        let mut parts = files.iter().map(|file| {
            let one = std::slice::from_ref(file);
            let mut crops =
                object_crops(one, args.crop_size, args.min_pixels, 2, args.backgrounds)?;
            let test = crops.split_off(crops.len() - crops.len() / 5);
            Ok::<_, anyhow::Error>((crops, test))
        });
        let (mut train, mut test) = parts.next().context("no episode files")??;
        for part in parts {
            let (a, b) = part?;
            train.append(a);
            test.append(b);
        }
        (train, test)
    };
    if train.is_empty() || test.is_empty() {
        bail!("no training or test images (record episodes with `steerlab record --labels`)");
    }
    if let Some(n) = args.limit {
        train.split_off(n.min(train.len()));
    }
    let config = ClassifierConfig::lecture(train.input, train.classes.clone());
    let model = Classifier::new(config, args.seed)?;
    if let Some(from) = &args.backbone_from {
        model.load_backbone(from)?;
    }
    println!(
        "lecture classifier, {} parameters; {} training and {} test images of {}x{}",
        model.parameter_count(),
        train.len(),
        test.len(),
        train.input.width,
        train.input.height
    );
    let options = ClassifierTraining {
        epochs: args.epochs,
        batch_size: args.batch,
        learning_rate: args.lr,
        seed: args.seed,
        ..ClassifierTraining::default()
    };
    let started = Instant::now();
    let interrupt = interrupt_on_ctrl_c();
    let mut bar = Bar::new(
        "images",
        Box::new(|e, improved| {
            format!(
                "epoch {:>3}: train loss {:.4}  test accuracy {:.2} %  {:.0} samples/s  {:.1} s{}",
                e.epoch,
                e.train_loss,
                e.get("test_accuracy") * 100.0,
                e.train_samples_per_s,
                e.seconds,
                if improved { "  (best, saved)" } else { "" }
            )
        }),
    );
    let (report, _) = classify::train(
        &model,
        &train,
        &test,
        &options,
        run_into(&args.out, args.resume, &interrupt, &mut bar),
    )?;
    if report.stop == Stop::Interrupted {
        println!("stopped; continue with the same arguments plus --resume");
        return Ok(ExitCode::from(130));
    }
    let wall = started.elapsed().as_secs_f64();
    // The best epoch's model, as saved.
    let confusion = classify::evaluate(&Classifier::load(&args.out)?, &test)?;
    let epochs = report.history.len() - 1;
    let title = if args.crops_from.is_empty() {
        "Fashion-MNIST"
    } else {
        "object crops"
    };
    let text = format!(
        "# {title}, lecture classifier\n\n{epochs} epochs, {:.0} s; test accuracy {:.2} % (the model of epoch {})\n\n{}\n",
        wall,
        confusion.accuracy() * 100.0,
        report.best_epoch,
        confusion.table()
    );
    crate::files::write_atomic(&args.out.join("report.md"), text.as_bytes())?;
    println!("{}", confusion.table());
    println!(
        "test accuracy {:.2} % after {} epochs in {:.0} s; model, report.md, metrics.csv and curves.png in {}",
        confusion.accuracy() * 100.0,
        epochs,
        wall,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
