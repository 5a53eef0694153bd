//! Training a steering model from recorded episodes: the negative log-likelihood of the
//! expert's curvature over batches streamed from episode files, validated by NLL and the error
//! of the mixture's mode and mean. The loop itself (schedule, checkpoints, resume, early
//! stopping, metrics) is [`crate::nn::train`]'s.

use crate::error::{Error, Result};
use crate::nn::data::dataset::{Augment, Batch, BatchStream, Dataset, Split, StreamSpec};
use crate::nn::models::checkpoint::ModelDir;
use crate::nn::models::steering::Model;
use crate::nn::models::steering::config::ModelConfig;
use crate::nn::train::optim::AdamWParams;
use crate::nn::train::{self, Batches, Epoch, Loss, Objective, Run, Schedule, Task};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

pub use crate::nn::train::{
    CURVES_PNG, METRICS_CSV, Machine, Observer as TrainObserver, Quiet, Stop,
};

/// Everything a training run needs.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Episode files or directories holding them.
    pub data: Vec<PathBuf>,
    /// The model directory written.
    pub out: PathBuf,
    pub config: ModelConfig,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub adamw: AdamWParams,
    pub seed: u64,
    /// Share of each scenario's episodes held out for validation (when `validation` is empty).
    pub validation_fraction: f64,
    /// A fixed validation set: episode files or folders that validate and never train. Empty:
    /// split `data` by `validation_fraction`.
    pub validation: Vec<PathBuf>,
    pub augment: Option<Augment>,
    /// Draw bands of |curvature| by the square root of their size (`Dataset::epoch_order`).
    pub balance: bool,
    /// Epochs without a better validation NLL before stopping.
    pub patience: usize,
    /// Threads decoding and batching frames.
    pub workers: usize,
    /// Continue from the training state saved in `out`.
    pub resume: bool,
    /// Start from these weights instead of random ones (same config).
    pub init_from: Option<PathBuf>,
    /// With `init_from`: the starting weights compete for the best model like any epoch
    /// (`false`: only trained epochs do, so new data always changes the model — DAgger's
    /// retraining, whose fixed validation set holds the expert's states the starting weights
    /// were fitted to, not the learner's states the new data adds).
    pub keep_start: bool,
}

impl TrainOptions {
    /// Defaults for `data` → `out` with `config`.
    pub fn new(data: Vec<PathBuf>, out: PathBuf, config: ModelConfig) -> Self {
        Self {
            data,
            out,
            config,
            epochs: 20,
            batch_size: 64,
            learning_rate: 1e-3,
            adamw: AdamWParams::default(),
            seed: 0,
            validation_fraction: 0.2,
            validation: Vec::new(),
            augment: Some(Augment::default()),
            balance: true,
            patience: 5,
            workers: 2,
            resume: false,
            init_from: None,
            keep_start: true,
        }
    }
}

/// Metrics of one epoch (epoch 0: the model before training), read from the trainer's
/// [`Epoch`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    /// Mean training NLL over the epoch's batches (NaN for epoch 0).
    pub train_nll: f64,
    pub validation_nll: f64,
    /// Mean |mode − expert| (1/m), the mode being that of the most likely component.
    pub validation_mae_mode_per_m: f64,
    pub validation_mae_mean_per_m: f64,
    /// A model with a speed head: the validation NLL of the expert's speed and the mean
    /// |mode − expert| (m/s); NaN without one.
    pub validation_speed_nll: f64,
    pub validation_speed_mae_m_s: f64,
    /// A model with a lane-pose head: the mean |predicted − true| offset from the path (m);
    /// NaN without one.
    pub validation_pose_offset_mae_m: f64,
    pub learning_rate: f64,
    pub train_samples_per_s: f64,
    pub seconds: f64,
    /// Time the training step waited for a batch.
    pub data_wait_s: f64,
}

/// The validation figures, as `metrics.csv` names them (the speed figures only for a model
/// with a speed head, the last only for one with a lane-pose head).
const VALIDATION: [&str; 6] = [
    "validation_nll",
    "validation_mae_mode_per_m",
    "validation_mae_mean_per_m",
    "validation_speed_nll",
    "validation_speed_mae_m_s",
    "validation_pose_offset_mae_m",
];

impl From<&Epoch> for EpochMetrics {
    fn from(e: &Epoch) -> Self {
        Self {
            epoch: e.epoch,
            train_nll: e.train_loss,
            validation_nll: e.get(VALIDATION[0]),
            validation_mae_mode_per_m: e.get(VALIDATION[1]),
            validation_mae_mean_per_m: e.get(VALIDATION[2]),
            validation_speed_nll: e.get(VALIDATION[3]),
            validation_speed_mae_m_s: e.get(VALIDATION[4]),
            validation_pose_offset_mae_m: e.get(VALIDATION[5]),
            learning_rate: e.learning_rate,
            train_samples_per_s: e.train_samples_per_s,
            seconds: e.seconds,
            data_wait_s: e.data_wait_s,
        }
    }
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct TrainReport {
    pub history: Vec<EpochMetrics>,
    pub best_epoch: usize,
    pub best_validation_nll: f64,
    pub stop: Stop,
    pub parameters: usize,
    pub train_samples: usize,
    pub validation_samples: usize,
    pub warnings: Vec<String>,
}

/// The steering model's part in training: batches streamed from episodes by worker threads.
struct Steering<'a> {
    model: &'a Model,
    data: Arc<Dataset>,
    split: Split,
    options: &'a TrainOptions,
}

impl Steering<'_> {
    fn stream(
        &self,
        order: Vec<usize>,
        skip: usize,
        epoch: usize,
        augment: Option<Augment>,
    ) -> BatchStream {
        BatchStream::new(
            self.data.clone(),
            StreamSpec {
                order,
                batch_size: self.options.batch_size,
                skip_batches: skip,
                augment,
                seed: if epoch == 0 { 0 } else { self.options.seed },
                epoch,
                workers: self.options.workers,
                map_channels: self.model.config.map_channels(),
                commands: self.model.config.reads_commands(),
                route_blind: !self.model.config.reads_route()
                    && self.model.config.target.is_curvature(),
                components: self.model.config.steering.components,
                target: self.model.config.target,
                speed: self.model.config.speed.is_some(),
                wheel_speed: self.model.config.reads_wheel_speed(),
                braking_weight: self.model.config.speed.as_ref().map(|s| s.braking_weight),
                pose: self.model.config.pose.is_some(),
            },
        )
    }
}

impl Task for Steering<'_> {
    type Model = Model;
    type Batch = Batch;

    fn model(&self) -> &Model {
        self.model
    }

    fn train_len(&self) -> usize {
        self.split.train.len()
    }

    fn validation_len(&self) -> usize {
        self.split.validation.len()
    }

    fn batches(&self, epoch: usize, skip: usize) -> Result<Batches<'_, Batch>> {
        let o = self.options;
        let order = self
            .data
            .epoch_order(&self.split.train, o.balance, o.seed, epoch);
        Ok(Box::new(self.stream(order, skip, epoch, o.augment)))
    }

    /// The steering NLL (route-blind where the model is not told the route), plus the speed
    /// NLL for a model with a speed head and the weighted squared error of the lane pose for
    /// one with a pose head; each reported as a part when there is more than one.
    fn loss(&self, batch: &Batch) -> Result<Loss> {
        let out = self.model.net.forward_all(&batch.inputs)?;
        let mut terms = vec![match &batch.anchored {
            Some(a) => out.steering.route_blind_nll(&batch.targets, a)?,
            None => out.steering.nll(&batch.targets)?,
        }];
        if let (Some(speed), Some(targets)) = (&out.speed, &batch.speeds) {
            terms.push(match &batch.speed_weights {
                Some(w) => speed.weighted_nll(targets, w)?,
                None => speed.nll(targets)?,
            });
        }
        if let (Some(pose), Some(targets), Some(head)) =
            (&out.pose, &batch.poses, &self.model.config.pose)
        {
            terms.push(((pose - targets)?.sqr()?.sum(1)?.mean_all()? * head.weight)?);
        }
        let parts = match terms.len() {
            1 => Vec::new(),
            _ => terms
                .iter()
                .map(|t| Ok(t.to_scalar::<f32>()? as f64))
                .collect::<Result<_>>()?,
        };
        let mut total = terms[0].clone();
        for term in &terms[1..] {
            total = (total + term)?;
        }
        Ok(Loss {
            total,
            samples: batch.size,
            parts,
        })
    }

    fn part_names(&self) -> Vec<String> {
        let config = &self.model.config;
        let mut names = vec!["steering_nll".to_string()];
        if config.speed.is_some() {
            names.push("speed_nll".into());
        }
        if config.pose.is_some() {
            names.push("pose_loss".into());
        }
        match names.len() {
            1 => Vec::new(),
            _ => names,
        }
    }

    fn validate(&self) -> Result<Vec<f64>> {
        let stream = self.stream(self.split.validation.clone(), 0, 0, None);
        let (mut nll, mut mode, mut mean, mut n) = (0.0, 0.0, 0.0, 0usize);
        let (mut speed_nll, mut speed_mae, mut pose_mae) = (0.0, 0.0, 0.0);
        for batch in stream {
            let batch = batch?;
            let out = self.model.net.forward_all(&batch.inputs.detach())?;
            let log_prob = out.steering.log_prob(&batch.targets)?.to_vec1::<f32>()?;
            let targets = batch.targets.to_vec1::<f32>()?;
            let dists = out.steering.to_distributions()?;
            for ((lp, t), d) in log_prob.iter().zip(&targets).zip(dists) {
                nll -= *lp as f64;
                mode += (d.mode() - *t as f64).abs();
                mean += (d.mean() - *t as f64).abs();
                n += 1;
            }
            if let (Some(speed), Some(speeds)) = (&out.speed, &batch.speeds) {
                let log_prob = speed.log_prob(speeds)?.to_vec1::<f32>()?;
                let speeds = speeds.to_vec1::<f32>()?;
                for ((lp, v), d) in log_prob.iter().zip(&speeds).zip(speed.to_distributions()?) {
                    speed_nll -= *lp as f64;
                    speed_mae += (d.mode() - *v as f64).abs();
                }
            }
            if let (Some(pose), Some(poses)) = (&out.pose, &batch.poses) {
                let unit = crate::nn::models::steering::config::POSE_OFFSET_UNIT_M;
                let error = (pose.narrow(1, 0, 1)? - poses.narrow(1, 0, 1)?)?;
                pose_mae += error.abs()?.sum_all()?.to_scalar::<f32>()? as f64 * unit;
            }
        }
        let n = n.max(1) as f64;
        let mut figures = vec![nll / n, mode / n, mean / n];
        if self.model.config.speed.is_some() {
            figures.extend([speed_nll / n, speed_mae / n]);
        }
        if self.model.config.pose.is_some() {
            figures.push(pose_mae / n);
        }
        Ok(figures)
    }

    fn loss_name(&self) -> &'static str {
        "nll"
    }

    fn validation_names(&self) -> Vec<String> {
        let config = &self.model.config;
        let speed = config.speed.is_some();
        let pose = config.pose.is_some();
        VALIDATION
            .iter()
            .enumerate()
            .filter(|(i, _)| *i < 3 || (*i < 5 && speed) || (*i == 5 && pose))
            .map(|(_, s)| s.to_string())
            .collect()
    }

    fn objective(&self) -> Objective {
        Objective::Lowest(0)
    }

    fn warnings(&self) -> Vec<String> {
        self.data.warnings.clone()
    }

    fn fingerprint(&self) -> Vec<(String, serde_json::Value)> {
        let o = self.options;
        fn json<T: Serialize>(value: &T) -> serde_json::Value {
            serde_json::to_value(value).unwrap_or_default()
        }
        vec![
            ("model config (--preset)".into(), json(&o.config)),
            ("episode files (--data)".into(), json(&self.data.episodes)),
            ("--seed".into(), o.seed.into()),
            (
                "data options".into(),
                serde_json::json!({
                    "validation_fraction": o.validation_fraction,
                    "validation": o.validation,
                    "balance": o.balance,
                    "augment": o.augment.map(|a| [a.brightness, a.contrast, a.colour]),
                }),
            ),
        ]
    }
}

/// Trains as `options` say; stops early when `interrupt` is set, after saving.
pub fn train(
    options: &TrainOptions,
    observer: &mut dyn TrainObserver,
    interrupt: &AtomicBool,
) -> Result<TrainReport> {
    let config = &options.config;
    config
        .feature_shape()
        .map_err(|e| Error::InvalidArgument(format!("model config: {e}")))?;
    if options.batch_size == 0 || options.epochs == 0 {
        return Err(Error::InvalidArgument(
            "--batch and --epochs must be at least 1".into(),
        ));
    }
    let everything: Vec<PathBuf> = options
        .data
        .iter()
        .chain(&options.validation)
        .cloned()
        .collect();
    let data = Arc::new(Dataset::load(&everything)?);
    data.check_input(&config.input)?;
    let split = if options.validation.is_empty() {
        data.split(options.validation_fraction, options.seed)
    } else {
        data.split_by_files(&options.validation)?
    };
    if split.train.is_empty() || split.validation.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{} training and {} validation samples: need both (record more episodes or change --validation-fraction)",
            split.train.len(),
            split.validation.len()
        )));
    }
    // A run still writing the folder is named as such, not as a finished model (`fit` holds
    // the lock for the whole run).
    drop(crate::files::lock_dir(&options.out, "training run")?);
    if !options.resume
        && options
            .out
            .join(crate::nn::models::checkpoint::CONFIG_FILE)
            .exists()
    {
        return Err(Error::InvalidArgument(format!(
            "{} already holds a model: pass --resume to continue its training, or choose another --out",
            options.out.display()
        )));
    }
    let model = Model::new(config.clone(), options.seed)?;
    let warm_start = !options.resume && options.init_from.is_some() && options.keep_start;
    if let (false, Some(init)) = (options.resume, &options.init_from) {
        model.load_weights(&init.join(crate::nn::models::checkpoint::WEIGHTS_FILE))?;
    }
    let task = Steering {
        model: &model,
        data,
        split,
        options,
    };
    let schedule = Schedule {
        adamw: options.adamw,
        patience: Some(options.patience),
        max_warmup_steps: 200,
        ..Schedule::new(options.epochs, options.batch_size, options.learning_rate)
    };
    let report = train::fit(
        &task,
        &schedule,
        Run {
            out: Some(&options.out),
            resume: options.resume,
            warm_start,
            interrupt,
            observer,
        },
    )?;
    Ok(TrainReport {
        history: report.history.iter().map(EpochMetrics::from).collect(),
        best_epoch: report.best_epoch,
        best_validation_nll: if report.best.is_nan() {
            f64::INFINITY
        } else {
            report.best
        },
        stop: report.stop,
        parameters: report.parameters,
        train_samples: report.train_samples,
        validation_samples: report.validation_samples,
        warnings: report.warnings,
    })
}
