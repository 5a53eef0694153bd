//! The one training loop every model uses: AdamW with warm-up and cosine decay, validation
//! after every epoch, early stopping, the best model saved atomically, a training state (last
//! weights, optimiser moments, position in the data) saved after every epoch and on
//! interruption from which a resumed run continues bit for bit, `metrics.csv` and
//! `curves.png`, and progress with samples per second.
//!
//! A model takes part by implementing [`Task`]: its batches, its loss and its validation
//! figures. Everything else lives here, once.

//!
//! Beside the loop: the optimiser ([`optim`]), the saved state ([`state`]), the task of
//! in-memory examples ([`supervised`]), and the steering model's and the detector's tasks
//! ([`steering`], [`detect`]); the classifier and the segmenter bring theirs in their model
//! files ([`crate::nn::models`]).

pub mod detect;
pub mod optim;
pub mod state;
pub mod steering;
pub mod supervised;
pub mod task;

pub use crate::nn::metrics::curves::{CURVES_PNG, METRICS_CSV, write_metrics};
pub use state::{Machine, STATE_DIR};
pub use supervised::{Examples, Supervised};
pub use task::{Batches, Epoch, Figure, Loss, Objective, Task, batch_rng, shuffled_batches};

use crate::error::{Error, Result};
use crate::nn::models::checkpoint::ModelDir;
use crate::nn::train::optim::{AdamW, AdamWParams, learning_rate};
use serde::{Deserialize, Serialize};
use state::{State, resume, save_state, state_err};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The optimisation settings every task shares.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate, reached after warm-up (a twentieth of the steps, at most
    /// `max_warmup_steps`) and decayed along a cosine to 2 % of it.
    pub learning_rate: f64,
    pub max_warmup_steps: u64,
    pub adamw: AdamWParams,
    /// Epochs without a better objective before stopping (None: never stop early).
    pub patience: Option<usize>,
}

impl Schedule {
    pub fn new(epochs: usize, batch_size: usize, learning_rate: f64) -> Self {
        Self {
            epochs,
            batch_size,
            learning_rate,
            max_warmup_steps: u64::MAX,
            adamw: AdamWParams::default(),
            patience: None,
        }
    }
}

/// Where a run writes, and how it may be stopped.
pub struct Run<'a> {
    /// The model directory: the best model, `train_state/`, `metrics.csv`, `curves.png`.
    /// None: train in memory only (nothing written, nothing to resume).
    pub out: Option<&'a Path>,
    /// Continue from the state saved in `out`.
    pub resume: bool,
    /// The model already holds weights to start from: they are the first candidate for the
    /// best model, kept unless an epoch validates better.
    pub warm_start: bool,
    /// Set (by Ctrl-C, say) to stop after saving the state.
    pub interrupt: &'a AtomicBool,
    pub observer: &'a mut dyn Observer,
}

impl Run<'static> {
    /// [`Run::in_memory`] that reports nothing.
    pub fn quiet() -> Self {
        // Quiet has no size: leaking one allocates nothing.
        Self::in_memory(Box::leak(Box::new(Quiet)))
    }
}

impl<'a> Run<'a> {
    /// Training in memory: nothing written, nothing resumed, never interrupted.
    pub fn in_memory(observer: &'a mut dyn Observer) -> Self {
        static NEVER: AtomicBool = AtomicBool::new(false);
        Self {
            out: None,
            resume: false,
            warm_start: false,
            interrupt: &NEVER,
            observer,
        }
    }
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
pub struct Report {
    pub history: Vec<Epoch>,
    /// The epoch whose model was kept (0: the starting weights).
    pub best_epoch: usize,
    /// Its objective figure.
    pub best: f64,
    pub stop: Stop,
    pub parameters: usize,
    pub train_samples: usize,
    pub validation_samples: usize,
    /// The task's warnings, and a resume's on another machine.
    pub warnings: Vec<String>,
    /// The train loss's column and the figures' names, as in `metrics.csv`.
    pub columns: Vec<String>,
}

/// Progress callbacks (the command line draws a progress bar with them).
pub trait Observer {
    fn started(&mut self, _report: &Report) {}
    fn epoch_started(&mut self, _epoch: usize, _batches: usize, _done: usize) {}
    fn batch_done(&mut self, _loss: f64, _samples_per_s: f64) {}
    fn epoch_done(&mut self, _epoch: &Epoch, _improved: bool) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// Trains `task`'s model as `schedule` says, writing and stopping as `run` says.
pub fn fit<T: Task>(task: &T, schedule: &Schedule, run: Run) -> Result<Report> {
    // One run at a time writes a model folder: a second would interleave checkpoints.
    let _lock = run
        .out
        .map(|out| crate::files::lock_dir(out, "training run"))
        .transpose()?;
    if schedule.batch_size == 0 || schedule.epochs == 0 {
        return Err(Error::InvalidArgument(
            "--batch and --epochs must be at least 1".into(),
        ));
    }
    if task.train_len() == 0 {
        return Err(Error::InvalidArgument("no training samples".into()));
    }
    let model = task.model();
    let varmap = model.varmap();
    let mut optimiser = AdamW::new(
        varmap
            .data()
            .lock()
            .map_err(|_| Error::Tensor("variable map poisoned".into()))?
            .clone(),
        schedule.adamw,
    )?;
    let mut fingerprint = task.fingerprint();
    fingerprint.push(("batch_size".into(), schedule.batch_size.into()));
    let machine = Machine::current();
    let parts = task.part_names();
    let mut state = match (run.out, run.resume) {
        (Some(out), true) => resume(&out.join(STATE_DIR), &fingerprint, varmap, &mut optimiser)?,
        (None, true) => {
            return Err(Error::InvalidArgument(
                "resume needs the model directory of the interrupted run".into(),
            ));
        }
        (_, false) => State {
            fingerprint: fingerprint.clone(),
            machine: machine.clone(),
            epoch: 1,
            batch_in_epoch: 0,
            step: 0,
            loss_sum: 0.0,
            part_sums: vec![0.0; parts.len()],
            samples: 0,
            batches: 0,
            epoch_seconds: 0.0,
            epoch_wait_s: 0.0,
            best: None,
            best_epoch: 0,
            epochs_without_improvement: 0,
            history: Vec::new(),
        },
    };
    let mut warnings = task.warnings();
    if state.machine != machine {
        warnings.push(format!(
            "the run trained with {} threads and OpenBLAS kernels {} and resumes with {} \
             threads and {}: it continues, but not bit for bit as an uninterrupted run would \
             (set RAYON_NUM_THREADS={} and OPENBLAS_CORETYPE to match)",
            state.machine.threads,
            state.machine.blas_kernels,
            machine.threads,
            machine.blas_kernels,
            state.machine.threads
        ));
    }
    state.machine = machine;
    if let Some(out) = run.out {
        std::fs::create_dir_all(out).map_err(|e| state_err(out, e))?;
    }
    let columns: Vec<String> = std::iter::once(format!("train_{}", task.loss_name()))
        .chain(parts.iter().map(|p| format!("train_{p}")))
        .chain(task.validation_names())
        .collect();
    let report = Report {
        history: state.history.clone(),
        best_epoch: state.best_epoch,
        best: state.best.unwrap_or(f64::NAN),
        stop: Stop::Completed,
        parameters: model.parameter_count(),
        train_samples: task.train_len(),
        validation_samples: task.validation_len(),
        warnings,
        columns: columns.clone(),
    };
    run.observer.started(&report);
    let objective = task.objective();
    let better = |value: f64, best: Option<f64>| match (objective, best) {
        (_, None) => !value.is_nan(),
        (Objective::Lowest(_), Some(b)) => value < b,
        (Objective::Highest(_), Some(b)) => value > b,
    };
    let figure_of = |validation: &[f64]| match objective {
        Objective::Lowest(i) | Objective::Highest(i) => validation.get(i).copied(),
    };
    let named = |part_means: &[f64], validation: &[f64]| -> Vec<Figure> {
        columns[1..]
            .iter()
            .zip(part_means.iter().chain(validation))
            .map(|(name, &value)| Figure {
                name: name.clone(),
                value,
            })
            .collect()
    };
    if let (Some(out), false) = (run.out, run.resume) {
        // From the start there is a state to resume: a run killed before its first epoch ends
        // (after a warm start's model is saved, say) continues with --resume too.
        save_state(&out.join(STATE_DIR), &state, varmap, &optimiser)?;
    }
    if state.history.is_empty() {
        let started = Instant::now();
        let validation = task.validate()?;
        let epoch = Epoch {
            epoch: 0,
            train_loss: f64::NAN,
            figures: named(&vec![f64::NAN; parts.len()], &validation),
            learning_rate: 0.0,
            train_samples_per_s: 0.0,
            seconds: started.elapsed().as_secs_f64(),
            data_wait_s: 0.0,
        };
        if run.warm_start {
            state.best = figure_of(&validation);
            if let Some(out) = run.out {
                model.save(out)?;
            }
        }
        run.observer.epoch_done(&epoch, run.warm_start);
        state.history.push(epoch);
    }

    let batches_per_epoch = task.train_len().div_ceil(schedule.batch_size);
    let total_steps = (batches_per_epoch * schedule.epochs) as u64;
    let warmup = (total_steps / 20).clamp(1, schedule.max_warmup_steps.max(1));
    let save = |state: &State, optimiser: &AdamW| match run.out {
        Some(out) => save_state(&out.join(STATE_DIR), state, varmap, optimiser),
        None => Ok(()),
    };
    while state.epoch <= schedule.epochs {
        let epoch = state.epoch;
        run.observer
            .epoch_started(epoch, batches_per_epoch, state.batch_in_epoch);
        let started = Instant::now();
        let mut waited = Duration::ZERO;
        let mut lr = 0.0;
        let mut batches = task.batches(epoch, state.batch_in_epoch)?.peekable();
        loop {
            let asked = Instant::now();
            let Some(batch) = batches.next() else { break };
            waited += asked.elapsed();
            let batch = batch?;
            let step_started = Instant::now();
            lr = learning_rate(
                state.step,
                total_steps,
                warmup,
                schedule.learning_rate,
                0.02,
            );
            let loss = task.loss(&batch)?;
            let grads = loss.total.backward()?;
            optimiser.update(&grads, lr)?;
            let value = loss.total.to_scalar::<f32>()? as f64;
            if !value.is_finite() {
                return Err(Error::Tensor(format!(
                    "training loss became {value} at epoch {epoch}; lower --lr"
                )));
            }
            state.step += 1;
            state.batch_in_epoch += 1;
            state.loss_sum += value * loss.samples as f64;
            state.samples += loss.samples;
            state.batches += 1;
            for (sum, part) in state.part_sums.iter_mut().zip(&loss.parts) {
                *sum += part;
            }
            run.observer.batch_done(
                value,
                loss.samples as f64 / step_started.elapsed().as_secs_f64(),
            );
            // Peeked only once interrupted: a peek waits for the next batch.
            if run.interrupt.load(Ordering::SeqCst) && batches.peek().is_some() {
                state.epoch_seconds += started.elapsed().as_secs_f64();
                state.epoch_wait_s += waited.as_secs_f64();
                save(&state, &optimiser)?;
                return Ok(finish(report, &state, Stop::Interrupted));
            }
        }
        drop(batches);
        let seconds = state.epoch_seconds + started.elapsed().as_secs_f64();
        let validation = task.validate()?;
        let part_means: Vec<f64> = state
            .part_sums
            .iter()
            .map(|s| s / state.batches.max(1) as f64)
            .collect();
        let metrics = Epoch {
            epoch,
            train_loss: state.loss_sum / state.samples.max(1) as f64,
            figures: named(&part_means, &validation),
            learning_rate: lr,
            train_samples_per_s: state.samples as f64 / seconds.max(1e-9),
            seconds,
            data_wait_s: state.epoch_wait_s + waited.as_secs_f64(),
        };
        let value = figure_of(&validation).unwrap_or(f64::NAN);
        let improved = better(value, state.best);
        if improved {
            state.best = Some(value);
            state.best_epoch = epoch;
            state.epochs_without_improvement = 0;
            if let Some(out) = run.out {
                model.save(out)?;
            }
        } else {
            state.epochs_without_improvement += 1;
        }
        run.observer.epoch_done(&metrics, improved);
        state.history.push(metrics);
        state.epoch += 1;
        state.batch_in_epoch = 0;
        state.loss_sum = 0.0;
        state.part_sums.iter_mut().for_each(|s| *s = 0.0);
        state.samples = 0;
        state.batches = 0;
        state.epoch_seconds = 0.0;
        state.epoch_wait_s = 0.0;
        save(&state, &optimiser)?;
        if let Some(out) = run.out {
            write_metrics(out, &columns, &state.history)?;
        }
        if state.epoch > schedule.epochs {
            break;
        }
        if schedule
            .patience
            .is_some_and(|p| state.epochs_without_improvement >= p)
        {
            return Ok(finish(report, &state, Stop::EarlyStopped));
        }
        if run.interrupt.load(Ordering::SeqCst) {
            return Ok(finish(report, &state, Stop::Interrupted));
        }
    }
    Ok(finish(report, &state, Stop::Completed))
}

/// The report at the end of a run: its history and best epoch from the training state.
fn finish(report: Report, state: &State, stop: Stop) -> Report {
    Report {
        history: state.history.clone(),
        best_epoch: state.best_epoch,
        best: state.best.unwrap_or(f64::NAN),
        stop,
        ..report
    }
}
