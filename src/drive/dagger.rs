//! DAgger (Ross, Gordon & Bagnell 2011) on top of behaviour cloning. Iteration 0 records the
//! expert (with DART noise) and trains; each further iteration lets the mixture policy drive
//! (the expert with probability βᵢ = β₀ⁱ, the learner otherwise), records the expert's label for
//! every state visited, trains on all data gathered so far (warm start from the last model) and
//! evaluates the new model on the evaluation scenarios, with a safety driver and without one.
//!
//! Validation is fixed once: before iteration 0 the expert drives one validation episode per
//! training scenario (seeds of their own, `data/validation/`). Every iteration validates on
//! exactly those episodes and none trains on them, so the best-model choice of each retraining
//! (the warm-start weights are its first candidate) compares figures on the same frames, and
//! every scenario is validated. After training, each model drives the calibration scenarios
//! itself (tracks of the kind it is evaluated on, but not those) and its standard deviations
//! are recalibrated on those drives ([`crate::drive::recalibrate`]) before it is evaluated.

use crate::drive::closed_loop::Drive;
use crate::drive::closed_loop::each::drive_each;
use crate::drive::eval::{EvalOptions, Evaluation, evaluate_supervised_and_free};
use crate::drive::metrics::{InterventionRule, Metrics, Supervision};
use crate::drive::policy::{Choice, Policy};
use crate::drive::recalibrate::{Recalibration, recalibrate};
use crate::drive::workers::Driver;
use crate::error::{Error, Result};
use crate::nn::ModelConfig;
use crate::nn::models::checkpoint::{read_config, write_config};
use crate::nn::models::steering::config::Target;
use crate::nn::train::steering::{TrainObserver, TrainOptions, train};
use crate::sim::map_input::{GpsNoise, MapOptions};
use crate::sim::randomise::Randomisation;
use crate::sim::{DartNoise, Scenario};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// Everything a DAgger run needs.
#[derive(Clone, Debug)]
pub struct DaggerOptions {
    /// Scenarios driven for data.
    pub train_scenarios: Vec<Scenario>,
    /// Scenarios the model of each iteration is evaluated on.
    pub eval_scenarios: Vec<Scenario>,
    /// DAgger iterations after iteration 0 (behaviour cloning).
    pub iterations: usize,
    /// Ticks driven per scenario and iteration.
    pub ticks: u64,
    /// Ticks the expert drives per scenario in iteration 0 (behaviour cloning's data).
    pub bc_ticks: u64,
    /// DART noise of the expert in iteration 0 and of the validation drives.
    pub noise: DartNoise,
    /// β₀: the expert's share of ticks in iteration 1; βᵢ = β₀ⁱ.
    pub beta0: f64,
    pub config: ModelConfig,
    /// Epochs of iteration 0, and of each retraining.
    pub epochs: usize,
    pub retrain_epochs: usize,
    /// Distance driven on each evaluation scenario, km.
    pub eval_km: f64,
    /// Ticks of each scenario's validation episode.
    pub validation_ticks: u64,
    /// Scenarios each model drives after training to recalibrate its standard deviations on:
    /// tracks like the evaluation's but not them (or the training scenarios).
    pub calibration_scenarios: Vec<Scenario>,
    /// Ticks driven on each of them.
    pub calibration_ticks: u64,
    pub rule: InterventionRule,
    pub out: PathBuf,
    pub seed: u64,
    /// Domain randomisation of the collection and validation drives: the ranges, and how many
    /// drives (each in a scenario of its own draw) share a scenario's ticks.
    pub randomise: Option<(Randomisation, u32)>,
    /// GPS noise on the pose map patches are cut at (a model that reads a map); `None`: the
    /// true pose.
    pub gps: Option<GpsNoise>,
    /// Which iterations' models are evaluated (a run that must fit a time budget skips some).
    pub evaluate: Evaluate,
    /// Continue an interrupted run in `out`: collections that finished are kept, a training
    /// continues from its saved state; recalibrations and evaluations run again.
    pub resume: bool,
    /// The learner drives at the expert's speed even when its model has a speed head.
    pub expert_speed: bool,
}

/// Which iterations of a DAgger run are evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evaluate {
    Every,
    /// Behaviour cloning and the last iteration.
    FirstAndLast,
    Last,
}

impl Evaluate {
    fn includes(self, iteration: usize, last: usize) -> bool {
        match self {
            Evaluate::Every => true,
            Evaluate::FirstAndLast => iteration == 0 || iteration == last,
            Evaluate::Last => iteration == last,
        }
    }
}

/// One iteration's figures.
#[derive(Clone, Debug, Serialize)]
pub struct Iteration {
    pub iteration: usize,
    /// The expert's share of ticks while collecting (1 in iteration 0).
    pub beta: f64,
    /// Ticks the learner steered while collecting.
    pub learner_ticks: u64,
    /// Frames recorded so far, all iterations.
    pub frames_total: u64,
    /// Samples the model of this iteration was trained on, and validated on (the fixed set).
    pub samples: usize,
    pub validation_samples: usize,
    pub best_validation_nll: f64,
    /// The factor fitted on the model's own drives, and its calibration there before and after.
    pub recalibration: Recalibration,
    pub collect_s: f64,
    /// Training and recalibration.
    pub train_s: f64,
    pub eval_s: f64,
    pub model: PathBuf,
    /// Evaluation with a safety driver (PilotNet's interventions); `None` when this
    /// iteration was not evaluated ([`DaggerOptions::evaluate`]).
    pub eval: Option<Metrics>,
    /// Evaluation without one: each drive ends at its first crash.
    pub eval_free: Option<Metrics>,
}

/// What the stages of a run report as they go.
pub trait DaggerObserver {
    /// A stage starts: `iteration`, and what it is ("collect", "train", "evaluate").
    fn stage(&mut self, _iteration: usize, _stage: &str) {}
    /// Ticks driven in the current collection or evaluation, and metres.
    fn drive_progress(&mut self, _scenario: &str, _ticks: u64, _metres: f64) {}
    /// The observer of each training run.
    fn trainer(&mut self) -> &mut dyn TrainObserver;
    /// The observer of a training run of a model with another target (a lane-pose sensor
    /// trained beside the policy); the policy's by default.
    fn trainer_for(&mut self, _target: Target) -> &mut dyn TrainObserver {
        self.trainer()
    }
    /// A line about what the run does next.
    fn note(&mut self, _line: &str) {}
    fn iteration_done(&mut self, _it: &Iteration) {}
}

/// The data folder of iteration `i`.
pub fn data_dir(out: &Path, i: usize) -> PathBuf {
    out.join("data").join(format!("iter{i}"))
}

/// The fixed validation episodes of a run.
pub fn validation_dir(out: &Path) -> PathBuf {
    out.join("data").join("validation")
}

/// The model's own drives its standard deviations are recalibrated on, iteration `i`.
pub fn calibration_dir(out: &Path, i: usize) -> PathBuf {
    out.join("data")
        .join("calibration")
        .join(format!("iter{i}"))
}

/// The model folder of iteration `i`.
pub fn model_dir(out: &Path, i: usize) -> PathBuf {
    out.join("models").join(format!("iter{i}"))
}

/// Runs iteration 0 and `options.iterations` DAgger iterations; returns each iteration's
/// figures and the last evaluations (with a safety driver, and free).
pub fn run(
    options: &DaggerOptions,
    observer: &mut dyn DaggerObserver,
    interrupt: &AtomicBool,
) -> Result<(Vec<Iteration>, (Evaluation, Evaluation))> {
    let mut iterations: Vec<Iteration> = Vec::new();
    let mut last_eval = None;
    let mut frames_total = 0u64;
    check_resume(options)?;
    observer.stage(0, "validation data");
    collect_once(&validation_dir(&options.out), options.resume, || {
        record_validation(options, observer)
    })?;
    for i in 0..=options.iterations {
        let beta = if i == 0 {
            1.0
        } else {
            options.beta0.powi(i as i32)
        };
        // Collect.
        observer.stage(i, "collect");
        let (collected, kept) = collect_once(&data_dir(&options.out, i), options.resume, || {
            collect(options, i, beta, observer)
        })?;
        frames_total += collected.frames;
        // Train on everything gathered so far, then recalibrate.
        let trained = train_once(options, i, kept, observer, interrupt)?;
        // Evaluate.
        let started = Instant::now();
        let evaluations = if options.evaluate.includes(i, options.iterations) {
            observer.stage(i, "evaluate");
            let policy = Policy::load(&model_dir(&options.out, i), Choice::Mode, options.seed)?
                .with_expert_speed(options.expert_speed);
            let eval_dir = options.out.join("eval").join(format!("iter{i}"));
            let eval_options = EvalOptions {
                scenarios: options.eval_scenarios.clone(),
                km: options.eval_km,
                out: eval_dir.clone(),
                seed: options.seed,
                supervision: Supervision::SafetyDriver(options.rule),
                gps: options.gps,
                localise: None,
            };
            let (evaluation, free) = evaluate_supervised_and_free(
                Some(&policy),
                &eval_options,
                &eval_dir.join("free"),
                &mut |n, t, m| observer.drive_progress(n, t, m),
            )?;
            Some((evaluation, free))
        } else {
            None
        };
        let it = Iteration {
            iteration: i,
            beta,
            learner_ticks: collected.learner_ticks,
            frames_total,
            samples: trained.samples,
            validation_samples: trained.validation_samples,
            best_validation_nll: trained.best_validation_nll,
            recalibration: trained.recalibration,
            collect_s: collected.seconds,
            train_s: trained.seconds,
            eval_s: started.elapsed().as_secs_f64(),
            model: model_dir(&options.out, i),
            eval: evaluations.as_ref().map(|e| e.0.overall.clone()),
            eval_free: evaluations.as_ref().map(|e| e.1.overall.clone()),
        };
        observer.iteration_done(&it);
        iterations.push(it);
        if evaluations.is_some() {
            last_eval = evaluations;
        }
        write_summary(&options.out, &iterations)?;
    }
    Ok((
        iterations,
        last_eval.expect("the last iteration is evaluated"),
    ))
}

/// What a finished collection drove, kept beside its episodes (`collected.json`): a resumed
/// run skips the collection and reads its figures from here.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Collected {
    learner_ticks: u64,
    frames: u64,
    seconds: f64,
}

const COLLECTED: &str = "collected.json";
/// The arguments of the run in `out`, by hash: a resume with others is refused.
const RUN_FILE: &str = "dagger_run.json";

/// The collection into `dir`: kept from an interrupted run when resuming and it finished
/// (then `true`), otherwise driven again (overwriting its episodes) and marked finished.
fn collect_once(
    dir: &Path,
    resume: bool,
    drive: impl FnOnce() -> Result<Vec<Drive>>,
) -> Result<(Collected, bool)> {
    let marker = dir.join(COLLECTED);
    if resume
        && let Some(collected) =
            crate::files::read_json(&marker, "delete it to collect this data again")?
    {
        return Ok((collected, true));
    }
    let _ = std::fs::remove_file(&marker);
    let started = Instant::now();
    let drives = drive()?;
    let collected = Collected {
        learner_ticks: drives.iter().map(|d| d.policy_ticks).sum(),
        frames: drives.iter().map(|d| d.metrics.ticks + 1).sum(),
        seconds: started.elapsed().as_secs_f64(),
    };
    crate::files::write_json(&marker, &collected)?;
    Ok((collected, false))
}

/// What training and recalibrating an iteration's model gave, kept in its folder
/// (`trained.json`): a resumed run skips both and reads the figures from here.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Trained {
    samples: usize,
    validation_samples: usize,
    best_validation_nll: f64,
    recalibration: Recalibration,
    seconds: f64,
}

const TRAINED: &str = "trained.json";

/// Trains iteration `i`'s model on the data of iterations 0 to `i` (warm-started from the
/// last model after iteration 0) and recalibrates it. With `resume`, a model marked trained is
/// kept and a training with a saved state continues from it.
fn train_once(
    options: &DaggerOptions,
    i: usize,
    resume: bool,
    observer: &mut dyn DaggerObserver,
    interrupt: &AtomicBool,
) -> Result<Trained> {
    let model = model_dir(&options.out, i);
    let marker = model.join(TRAINED);
    let again = format!("delete {} to train this model again", model.display());
    if resume && let Some(trained) = crate::files::read_json(&marker, &again)? {
        return Ok(trained);
    }
    observer.stage(i, "train");
    let started = Instant::now();
    let mut train_options = TrainOptions::new(
        (0..=i).map(|j| data_dir(&options.out, j)).collect(),
        model.clone(),
        options.config.clone(),
    );
    train_options.seed = options.seed;
    train_options.validation = vec![validation_dir(&options.out)];
    train_options.epochs = if i == 0 {
        options.epochs
    } else {
        options.retrain_epochs
    };
    if i > 0 {
        train_options.init_from = Some(model_dir(&options.out, i - 1));
        train_options.keep_start = false;
        // A warm start needs a gentler step than training from scratch.
        train_options.learning_rate *= 0.5;
    }
    train_options.resume = resume && model.join(crate::nn::train::STATE_DIR).exists();
    if !train_options.resume {
        crate::files::clear_earlier(&model, "model")?;
    }
    let report = train(&train_options, observer.trainer(), interrupt)?;
    // The model's widths as trained: a recalibration interrupted after it rescaled them
    // must not compound with this one.
    let (mut config, _) = read_config::<ModelConfig>(&model)?;
    config.steering.std_scale = options.config.steering.std_scale;
    write_config(&model, &config)?;
    observer.stage(i, "recalibrate");
    let recalibration = recalibrate(
        &model,
        &options.calibration_scenarios,
        options.calibration_ticks,
        crate::sim::math::fnv1a(&[&options.seed.to_le_bytes(), &(i as u64).to_le_bytes()]),
        &calibration_dir(&options.out, i),
        options.randomise.as_ref().map(|(r, n)| (r, *n)),
        &mut |n, t, m| observer.drive_progress(n, t, m),
    )?;
    let trained = Trained {
        samples: report.train_samples,
        validation_samples: report.validation_samples,
        best_validation_nll: report.best_validation_nll,
        recalibration,
        seconds: started.elapsed().as_secs_f64(),
    };
    crate::files::write_json(&marker, &trained)?;
    Ok(trained)
}

/// Records the run's arguments in `out`, or, when resuming, checks them against those of the
/// interrupted run.
fn check_resume(options: &DaggerOptions) -> Result<()> {
    let path = options.out.join(RUN_FILE);
    let fingerprint = {
        let mut o = options.clone();
        (o.out, o.resume) = (PathBuf::new(), false);
        format!(
            "{:016x}",
            crate::sim::math::fnv1a(&[format!("{o:?}").as_bytes()])
        )
    };
    let text = serde_json::json!({ "arguments": fingerprint }).to_string();
    if !options.resume {
        crate::files::create_dir_all(&options.out)?;
        return crate::files::write_atomic(&path, text.as_bytes());
    }
    let saved = std::fs::read_to_string(&path).map_err(|e| Error::Output {
        path: path.clone(),
        message: format!("{e}: nothing to resume (run without --resume first)"),
    })?;
    if saved != text {
        return Err(Error::Output {
            path,
            message: "cannot resume: the arguments differ from the interrupted run's; run with \
                      them, or without --resume to start over"
                .into(),
        });
    }
    Ok(())
}

/// Iteration `i`'s collection: the expert (iteration 0) or the mixture of the expert and the
/// last model drives each training scenario.
fn collect(
    options: &DaggerOptions,
    i: usize,
    beta: f64,
    observer: &mut dyn DaggerObserver,
) -> Result<Vec<Drive>> {
    let policy = match i {
        0 => None,
        _ => Some(
            Policy::load(&model_dir(&options.out, i - 1), Choice::Mode, options.seed)?
                .with_expert_speed(options.expert_speed),
        ),
    };
    let driver = match policy.as_ref() {
        None => Driver::Expert(options.noise),
        Some(policy) => Driver::Mixture { policy, beta },
    };
    // Behaviour cloning's longer collection draws proportionally more scenarios, each driven as
    // long as in the later iterations: more towns, not longer drives through the same ones.
    let (ticks, more) = match i {
        0 => (
            options.bc_ticks,
            (options.bc_ticks / options.ticks.max(1)).max(1) as u32,
        ),
        _ => (options.ticks, 1),
    };
    drive_each(
        &options.train_scenarios,
        ticks,
        &data_dir(&options.out, i),
        driver,
        Supervision::SafetyDriver(options.rule),
        &|name| {
            crate::sim::math::fnv1a(&[
                &options.seed.to_le_bytes(),
                name.as_bytes(),
                &(i as u64).to_le_bytes(),
            ])
        },
        options.randomise.as_ref().map(|(r, n)| (r, *n * more)),
        map_options(options),
        &mut |n, t, m| observer.drive_progress(n, t, m),
    )
}

/// The expert drives each training scenario once for the fixed validation set, with the DART
/// noise of iteration 0 and seeds no collection uses.
fn record_validation(
    options: &DaggerOptions,
    observer: &mut dyn DaggerObserver,
) -> Result<Vec<Drive>> {
    drive_each(
        &options.train_scenarios,
        options.validation_ticks,
        &validation_dir(&options.out),
        Driver::Expert(options.noise),
        Supervision::SafetyDriver(options.rule),
        &|name| {
            crate::sim::math::fnv1a(&[b"validation", &options.seed.to_le_bytes(), name.as_bytes()])
        },
        options.randomise.as_ref().map(|(r, n)| (r, *n)),
        map_options(options),
        &mut |n, t, m| observer.drive_progress(n, t, m),
    )
}

/// The map patches every drive records: those the trained model reads, cut at the true pose
/// or at a GPS fix with `options.gps`.
fn map_options(options: &DaggerOptions) -> Option<MapOptions> {
    let config = &options.config;
    let spec = match &config.map {
        Some(m) => m.spec,
        None if config.reads_commands() => Default::default(),
        None => return None,
    };
    Some(MapOptions {
        spec,
        gps: options.gps,
        ..MapOptions::default()
    })
}

/// `dagger.json`, `dagger.md` and `dagger.png` (metrics per iteration).
pub fn write_summary(out: &Path, iterations: &[Iteration]) -> Result<()> {
    let json = out.join("dagger.json");
    crate::files::write_json(&json, iterations)?;
    crate::files::write_atomic(
        &out.join("dagger.md"),
        iteration_table(iterations).as_bytes(),
    )?;
    let series = |f: fn(&Iteration) -> Option<f64>| {
        iterations
            .iter()
            .filter_map(|it| Some((it.iteration as f64, f(it)?)))
            .collect::<Vec<_>>()
    };
    use crate::report::plot::{LinePanel, line_panels};
    let panel = |title: &str, y: &str, f: fn(&Iteration) -> Option<f64>| LinePanel {
        title: title.into(),
        x_label: "DAgger iteration (0: behaviour cloning)".into(),
        y_label: y.into(),
        series: vec![(title.into(), series(f))],
        colours: Vec::new(),
    };
    line_panels(
        &out.join("dagger.png"),
        &[
            panel("autonomy", "%", |it| Some(it.eval.as_ref()?.autonomy_pct)),
            panel("interventions per km", "1/km", |it| {
                Some(it.eval.as_ref()?.interventions_per_km)
            }),
            panel("mean |lateral offset|", "m", |it| {
                Some(it.eval.as_ref()?.mean_abs_offset_m)
            }),
            panel("free driving: km before crashing", "km", |it| {
                Some(it.eval_free.as_ref()?.distance_km)
            }),
        ],
    )?;
    Ok(())
}

/// A Markdown table with one row per iteration.
pub fn iteration_table(iterations: &[Iteration]) -> String {
    let mut t = String::from(
        "| iteration | β | learner ticks | frames (all) | best val. NLL | σ recalibrated × | autonomy | interventions/km | mean abs offset (m) | in 68 % / 95 % | free: crashes in km | collect (s) | train (s) | evaluate (s) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for it in iterations {
        let evaluated = match (&it.eval, &it.eval_free) {
            (Some(e), Some(f)) => format!(
                "{:.1} % | {:.2} | {:.3} | {} | {} in {:.2}",
                e.autonomy_pct,
                e.interventions_per_km,
                e.mean_abs_offset_m,
                match (e.coverage_1_sigma, e.coverage_2_sigma) {
                    (Some(a), Some(b)) => format!("{:.0} % / {:.0} %", a * 100.0, b * 100.0),
                    _ => "–".into(),
                },
                f.crashes,
                f.distance_km,
            ),
            _ => "not evaluated | – | – | – | –".into(),
        };
        t.push_str(&format!(
            "| {}{} | {:.3} | {} | {} | {:.3} | {:.2} | {evaluated} | {:.0} | {:.0} | {:.0} |\n",
            it.iteration,
            if it.iteration == 0 { " (BC)" } else { "" },
            it.beta,
            it.learner_ticks,
            it.frames_total,
            it.best_validation_nll,
            it.recalibration.factor,
            it.collect_s,
            it.train_s,
            it.eval_s,
        ));
    }
    t
}
