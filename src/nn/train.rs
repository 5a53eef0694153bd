//! Training a steering model from recorded episodes: AdamW on the negative log-likelihood of
//! the expert's curvature, warm-up plus cosine learning rate, validation after every epoch,
//! early stopping, the best model saved atomically, and a training state saved at the end of
//! every epoch and on interruption from which `resume` continues bit for bit.

use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::nn::ModelDir;
use crate::nn::checkpoint::{Model, load_tensors, save_tensors};
use crate::nn::config::ModelConfig;
use crate::nn::dataset::{Augment, BatchStream, Dataset, StreamSpec};
use crate::nn::optim::{AdamW, AdamWParams, learning_rate};
use crate::nn::plot;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

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
    /// Draw straight driving and turns equally often.
    pub balance: bool,
    /// Epochs without a better validation NLL before stopping.
    pub patience: usize,
    /// Threads decoding and batching frames.
    pub workers: usize,
    /// Continue from the training state saved in `out`.
    pub resume: bool,
    /// Start from these weights instead of random ones (same config).
    pub init_from: Option<PathBuf>,
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
        }
    }
}

/// Metrics of one epoch (epoch 0: the model before training).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    /// Mean training NLL over the epoch's batches (NaN for epoch 0; null in JSON).
    #[serde(deserialize_with = "f64_or_nan")]
    pub train_nll: f64,
    pub validation_nll: f64,
    /// Mean |mode − expert| (1/m), the mode being that of the most likely component.
    pub validation_mae_mode_per_m: f64,
    pub validation_mae_mean_per_m: f64,
    pub learning_rate: f64,
    pub train_samples_per_s: f64,
    pub seconds: f64,
    /// Time the training step waited for a batch.
    pub data_wait_s: f64,
}

fn f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Why training ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stop {
    Completed,
    EarlyStopped,
    Interrupted,
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

/// Progress callbacks (the command line draws a progress bar with them).
pub trait TrainObserver {
    fn started(&mut self, _report: &TrainReport) {}
    fn epoch_started(&mut self, _epoch: usize, _batches: usize, _done: usize) {}
    fn batch_done(&mut self, _loss: f64, _samples_per_s: f64) {}
    fn epoch_done(&mut self, _metrics: &EpochMetrics, _improved: bool) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl TrainObserver for Quiet {}

/// What must be the same for a saved state to be resumed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Fingerprint {
    config: ModelConfig,
    episodes: Vec<PathBuf>,
    seed: u64,
    batch_size: usize,
    validation_fraction: f64,
    #[serde(default)]
    validation: Vec<PathBuf>,
    balance: bool,
    augment: Option<[f32; 3]>,
}

/// What decides the rounding of a training step besides the run's own settings: the rayon
/// threads (the convolutions sum gradients per chunk of samples, and the chunks follow the
/// thread count) and the BLAS kernels. A resume on another machine continues the run, but
/// not bit for bit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub threads: usize,
    pub blas_kernels: String,
}

impl Machine {
    pub fn current() -> Self {
        Self {
            threads: rayon::current_num_threads(),
            blas_kernels: crate::nn::ops::blas_kernels().name.clone(),
        }
    }
}

/// The position of a run, saved with its weights and optimiser moments.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct TrainState {
    fingerprint: Fingerprint,
    /// Where the run last trained (absent in states of older runs).
    #[serde(default)]
    machine: Option<Machine>,
    /// The epoch in progress (1-based) and batches of it already done.
    epoch: usize,
    batch_in_epoch: usize,
    step: u64,
    loss_sum: f64,
    loss_count: usize,
    epoch_seconds: f64,
    epoch_wait_s: f64,
    best_validation_nll: Option<f64>,
    best_epoch: usize,
    epochs_without_improvement: usize,
    history: Vec<EpochMetrics>,
}

const STATE_DIR: &str = "train_state";
const STATE_FILE: &str = "state.json";
const WEIGHTS: &str = "weights.safetensors";
const MOMENTS: &str = "optimizer.safetensors";
pub const METRICS_CSV: &str = "metrics.csv";
pub const CURVES_PNG: &str = "curves.png";

fn state_err(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Model {
        path: path.to_path_buf(),
        message: message.to_string(),
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
    let fingerprint = Fingerprint {
        config: config.clone(),
        episodes: data.episodes.clone(),
        seed: options.seed,
        batch_size: options.batch_size,
        validation_fraction: options.validation_fraction,
        validation: options.validation.clone(),
        balance: options.balance,
        augment: options
            .augment
            .map(|a| [a.brightness, a.contrast, a.colour]),
    };

    let model = Model::new(config.clone(), options.seed)?;
    let mut optimiser = AdamW::new(
        model.varmap.data().lock().expect("variables").clone(),
        options.adamw,
    )?;
    let state_dir = options.out.join(STATE_DIR);
    let machine = Machine::current();
    let mut warnings = data.warnings.clone();
    let mut state = if options.resume {
        let state = resume(&state_dir, &fingerprint, &model, &mut optimiser)?;
        if let Some(before) = state.machine.as_ref().filter(|m| **m != machine) {
            warnings.push(format!(
                "the run trained with {} threads and OpenBLAS kernels {} and resumes with {} \
                 threads and {}: it continues, but not bit for bit as an uninterrupted run would \
                 (set RAYON_NUM_THREADS={} and OPENBLAS_CORETYPE to match)",
                before.threads,
                before.blas_kernels,
                machine.threads,
                machine.blas_kernels,
                before.threads
            ));
        }
        state
    } else {
        if options
            .out
            .join(crate::nn::checkpoint::CONFIG_FILE)
            .exists()
        {
            return Err(Error::InvalidArgument(format!(
                "{} already holds a model: pass --resume to continue its training, or choose another --out",
                options.out.display()
            )));
        }
        if let Some(init) = &options.init_from {
            model.load_weights(&init.join(crate::nn::checkpoint::WEIGHTS_FILE))?;
        }
        TrainState {
            fingerprint: fingerprint.clone(),
            machine: None,
            epoch: 1,
            batch_in_epoch: 0,
            step: 0,
            loss_sum: 0.0,
            loss_count: 0,
            epoch_seconds: 0.0,
            epoch_wait_s: 0.0,
            best_validation_nll: None,
            best_epoch: 0,
            epochs_without_improvement: 0,
            history: Vec::new(),
        }
    };
    state.machine = Some(machine);
    std::fs::create_dir_all(&options.out).map_err(|e| state_err(&options.out, e))?;

    let report = TrainReport {
        history: state.history.clone(),
        best_epoch: state.best_epoch,
        best_validation_nll: state.best_validation_nll.unwrap_or(f64::INFINITY),
        stop: Stop::Completed,
        parameters: model.parameter_count(),
        train_samples: split.train.len(),
        validation_samples: split.validation.len(),
        warnings,
    };
    observer.started(&report);
    if state.history.is_empty() {
        let started = Instant::now();
        let v = validate(&model, &data, &split.validation, options)?;
        let metrics = EpochMetrics {
            epoch: 0,
            train_nll: f64::NAN,
            validation_nll: v.nll,
            validation_mae_mode_per_m: v.mae_mode,
            validation_mae_mean_per_m: v.mae_mean,
            learning_rate: 0.0,
            train_samples_per_s: 0.0,
            seconds: started.elapsed().as_secs_f64(),
            data_wait_s: 0.0,
        };
        // Weights given to start from are the first candidate: retraining keeps them unless
        // an epoch validates better.
        let warm = options.init_from.is_some();
        if warm {
            state.best_validation_nll = Some(v.nll);
            model.save(&options.out)?;
        }
        observer.epoch_done(&metrics, warm);
        state.history.push(metrics);
    }

    let batches_per_epoch = split.train.len().div_ceil(options.batch_size);
    let total_steps = (batches_per_epoch * options.epochs) as u64;
    let warmup = (total_steps / 20).clamp(1, 200);
    while state.epoch <= options.epochs {
        let epoch = state.epoch;
        let order = data.epoch_order(&split.train, options.balance, options.seed, epoch);
        let mut stream = BatchStream::new(
            data.clone(),
            StreamSpec {
                order,
                batch_size: options.batch_size,
                skip_batches: state.batch_in_epoch,
                augment: options.augment,
                seed: options.seed,
                epoch,
                workers: options.workers,
            },
        );
        observer.epoch_started(epoch, batches_per_epoch, state.batch_in_epoch);
        let started = Instant::now();
        let mut lr = 0.0;
        while let Some(batch) = stream.next() {
            let batch = batch?;
            let step_started = Instant::now();
            lr = learning_rate(state.step, total_steps, warmup, options.learning_rate, 0.02);
            let loss = model.net.forward(&batch.images)?.nll(&batch.targets)?;
            let grads = loss.backward()?;
            optimiser.update(&grads, lr)?;
            let loss = loss.to_scalar::<f32>()? as f64;
            if !loss.is_finite() {
                return Err(Error::Tensor(format!(
                    "training loss became {loss} at epoch {epoch}; lower --lr"
                )));
            }
            state.step += 1;
            state.batch_in_epoch += 1;
            state.loss_sum += loss * batch.size as f64;
            state.loss_count += batch.size;
            observer.batch_done(
                loss,
                batch.size as f64 / step_started.elapsed().as_secs_f64(),
            );
            if interrupt.load(Ordering::SeqCst) && stream.remaining() > 0 {
                state.epoch_seconds += started.elapsed().as_secs_f64();
                state.epoch_wait_s += stream.waited.as_secs_f64();
                save_state(&state_dir, &state, &model, &optimiser)?;
                return Ok(report.finish(&state, Stop::Interrupted));
            }
        }
        let seconds = state.epoch_seconds + started.elapsed().as_secs_f64();
        let wait = state.epoch_wait_s + stream.waited.as_secs_f64();
        drop(stream);
        let v = validate(&model, &data, &split.validation, options)?;
        let metrics = EpochMetrics {
            epoch,
            train_nll: state.loss_sum / state.loss_count.max(1) as f64,
            validation_nll: v.nll,
            validation_mae_mode_per_m: v.mae_mode,
            validation_mae_mean_per_m: v.mae_mean,
            learning_rate: lr,
            train_samples_per_s: state.loss_count as f64 / seconds.max(1e-9),
            seconds,
            data_wait_s: wait,
        };
        let improved = state.best_validation_nll.is_none_or(|best| v.nll < best);
        if improved {
            state.best_validation_nll = Some(v.nll);
            state.best_epoch = epoch;
            state.epochs_without_improvement = 0;
            model.save(&options.out)?;
        } else {
            state.epochs_without_improvement += 1;
        }
        observer.epoch_done(&metrics, improved);
        state.history.push(metrics);
        state.epoch += 1;
        state.batch_in_epoch = 0;
        state.loss_sum = 0.0;
        state.loss_count = 0;
        state.epoch_seconds = 0.0;
        state.epoch_wait_s = 0.0;
        save_state(&state_dir, &state, &model, &optimiser)?;
        write_metrics(&options.out, &state.history)?;
        if state.epoch > options.epochs {
            break;
        }
        if state.epochs_without_improvement >= options.patience {
            return Ok(report.finish(&state, Stop::EarlyStopped));
        }
        if interrupt.load(Ordering::SeqCst) {
            return Ok(report.finish(&state, Stop::Interrupted));
        }
    }
    Ok(report.finish(&state, Stop::Completed))
}

impl TrainReport {
    /// The report at the end of a run: its history and best epoch from the training state.
    fn finish(self, state: &TrainState, stop: Stop) -> Self {
        Self {
            history: state.history.clone(),
            best_epoch: state.best_epoch,
            best_validation_nll: state.best_validation_nll.unwrap_or(f64::INFINITY),
            stop,
            ..self
        }
    }
}

struct Validation {
    nll: f64,
    mae_mode: f64,
    mae_mean: f64,
}

fn validate(
    model: &Model,
    data: &Arc<Dataset>,
    indices: &[usize],
    options: &TrainOptions,
) -> Result<Validation> {
    let stream = BatchStream::new(
        data.clone(),
        StreamSpec {
            order: indices.to_vec(),
            batch_size: options.batch_size,
            skip_batches: 0,
            augment: None,
            seed: 0,
            epoch: 0,
            workers: options.workers,
        },
    );
    let (mut nll, mut mode, mut mean, mut n) = (0.0, 0.0, 0.0, 0usize);
    for batch in stream {
        let batch = batch?;
        let out = model.net.forward(&batch.images.detach())?;
        let log_prob = out.log_prob(&batch.targets)?.to_vec1::<f32>()?;
        let targets = batch.targets.to_vec1::<f32>()?;
        for ((lp, t), d) in log_prob.iter().zip(&targets).zip(out.to_distributions()?) {
            nll -= *lp as f64;
            mode += (d.mode() - *t as f64).abs();
            mean += (d.mean() - *t as f64).abs();
            n += 1;
        }
    }
    let n = n.max(1) as f64;
    Ok(Validation {
        nll: nll / n,
        mae_mode: mode / n,
        mae_mean: mean / n,
    })
}

fn save_state(dir: &Path, state: &TrainState, model: &Model, optimiser: &AdamW) -> Result<()> {
    // A complete new directory replaces the old one; `state.json` is written last, so a
    // directory holding it is complete.
    let tmp = dir.with_file_name(format!("{STATE_DIR}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| state_err(&tmp, e))?;
    save_tensors(&model.tensors()?, &tmp.join(WEIGHTS))?;
    save_tensors(&optimiser.state(), &tmp.join(MOMENTS))?;
    let json = serde_json::to_vec_pretty(state).map_err(|e| state_err(&tmp, e))?;
    write_atomic(&tmp.join(STATE_FILE), &json)?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&tmp, dir).map_err(|e| state_err(dir, e))
}

fn resume(
    dir: &Path,
    fingerprint: &Fingerprint,
    model: &Model,
    optimiser: &mut AdamW,
) -> Result<TrainState> {
    let tmp = dir.with_file_name(format!("{STATE_DIR}.tmp"));
    let dir = if !dir.join(STATE_FILE).exists() && tmp.join(STATE_FILE).exists() {
        tmp.as_path()
    } else {
        dir
    };
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        state_err(
            &path,
            format!("{e}: nothing to resume (train without --resume first)"),
        )
    })?;
    let state: TrainState = serde_json::from_str(&text).map_err(|e| state_err(&path, e))?;
    if &state.fingerprint != fingerprint {
        let mut differs = Vec::new();
        let (a, b) = (&state.fingerprint, fingerprint);
        if a.config != b.config {
            differs.push("model config (--preset)");
        }
        if a.episodes != b.episodes {
            differs.push("episode files (--data)");
        }
        if a.seed != b.seed {
            differs.push("--seed");
        }
        if a.batch_size != b.batch_size {
            differs.push("--batch");
        }
        if a.validation_fraction != b.validation_fraction
            || a.validation != b.validation
            || a.balance != b.balance
            || a.augment != b.augment
        {
            differs.push("data options");
        }
        return Err(state_err(
            &path,
            format!(
                "cannot resume: these differ from the interrupted run: {}",
                differs.join(", ")
            ),
        ));
    }
    model.load_weights(&dir.join(WEIGHTS))?;
    let moments = load_tensors(&dir.join(MOMENTS))?;
    optimiser
        .restore(&moments, state.step)
        .map_err(|e| state_err(&dir.join(MOMENTS), e))?;
    Ok(state)
}

/// Writes `metrics.csv` and `curves.png` into `out`.
pub fn write_metrics(out: &Path, history: &[EpochMetrics]) -> Result<()> {
    let mut csv = String::from(
        "epoch,train_nll,validation_nll,validation_mae_mode_per_m,validation_mae_mean_per_m,learning_rate,train_samples_per_s,seconds,data_wait_s\n",
    );
    for m in history {
        csv += &format!(
            "{},{},{},{},{},{},{},{},{}\n",
            m.epoch,
            m.train_nll,
            m.validation_nll,
            m.validation_mae_mode_per_m,
            m.validation_mae_mean_per_m,
            m.learning_rate,
            m.train_samples_per_s,
            m.seconds,
            m.data_wait_s
        );
    }
    write_atomic(&out.join(METRICS_CSV), csv.as_bytes())?;
    plot::training_curves(history, &out.join(CURVES_PNG))
}
