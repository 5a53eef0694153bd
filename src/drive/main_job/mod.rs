//! The main job: from nothing to a policy that drives tracks it has never seen. The expert
//! drives the built-in scenarios (with DART noise) and a PilotNet policy is trained on its
//! runs; DAgger iterations let the learner drive while the expert labels; every model is
//! evaluated in closed loop on procedurally generated tracks used by no training run; a report
//! with the metrics, plots and a GIF of the policy driving is written to `runs/demo/`.

use crate::drive::dagger::DaggerObserver;
use crate::drive::dagger::{self, DaggerOptions, Iteration, iteration_table};
use crate::drive::eval::{Evaluation, metrics_table};
use crate::drive::metrics::Supervision;
use crate::drive::suite::{SUITE_PNG, Suite, SuiteResult, run_suite};
use crate::drive::{Choice, DriveOptions, InterventionRule, Pilot, Policy, drive};
use crate::error::Result;
use crate::nn::ModelConfig;
use crate::sim::Scenario;
use crate::sim::randomise::Randomisation;
use crate::world::{Env, EnvOptions};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

pub mod figures;
pub mod towns;

/// What the main job runs on and how long (`steerlab demo`'s options, whose help says more).
#[derive(Clone, Debug)]
pub struct MainJobOptions {
    /// The scenarios the expert drives for training data.
    pub training: Vec<Scenario>,
    pub out: PathBuf,
    /// Ticks driven per scenario and iteration.
    pub ticks: u64,
    /// DAgger iterations after behaviour cloning.
    pub iterations: usize,
    /// Epochs of behaviour cloning, and of each DAgger retraining.
    pub epochs: usize,
    pub retrain_epochs: usize,
    /// Held-out procedural tracks the models are evaluated on.
    pub heldout: usize,
    /// Distance driven on each held-out track per evaluation, km.
    pub eval_km: f64,
    /// Ticks of the expert's validation episode on each scenario.
    pub validation_ticks: u64,
    /// Further procedural tracks each model drives to recalibrate its standard deviations on.
    pub calibration_tracks: usize,
    pub calibration_ticks: u64,
    /// Ticks of the policy's drive shown in the GIF.
    pub gif_ticks: u64,
    pub seed: u64,
    /// Continue a run that was stopped or killed in the same folder.
    pub resume: bool,
    /// The randomisation of collection and validation drives, and the drives per scenario.
    pub randomise: Option<(Randomisation, u32)>,
    /// The robustness suite the final model drives at the end.
    pub suite: Option<Suite>,
    /// The behaviour-cloning model drives the suite too.
    pub suite_bc: bool,
    /// The navigation stage in towns, when it runs.
    pub towns: Option<TownsOptions>,
}

/// The navigation stage's share of the main job's options.
#[derive(Clone, Copy, Debug)]
pub struct TownsOptions {
    /// Ticks driven per town and DAgger iteration.
    pub ticks: u64,
    /// Ticks the expert drives per town for behaviour cloning.
    pub bc_ticks: u64,
    /// Epochs of behaviour cloning ([`towns::TOWN_EPOCHS`] by default).
    pub bc_epochs: usize,
    /// DAgger iterations.
    pub iterations: usize,
}

/// What the main job produced (its report is in `<out>/report.md` and `report.html`).
pub struct MainJob {
    pub iterations: Vec<Iteration>,
    pub report: PathBuf,
    pub seconds: f64,
}

/// Runs the main job into `options.out`; `progress` hears of every stage.
pub fn run(options: &MainJobOptions, progress: &mut dyn DaggerObserver) -> Result<MainJob> {
    let args = options;
    let machine = crate::nn::machine::Machine::here();
    let started = Instant::now();
    let training = args.training.clone();
    let mut heldout = crate::sim::randomise::held_out_tracks(
        &training,
        args.heldout + args.calibration_tracks,
        args.seed,
    )?;
    let calibration: Vec<Scenario> = heldout
        .split_off(args.heldout)
        .into_iter()
        .map(|mut s| {
            s.name = s.name.replace("heldout_", "calibration_");
            s
        })
        .collect();
    progress.note(&format!(
        "main job: train on {} ({} ticks each per iteration), {} DAgger iterations, recalibrate on {}, evaluate on {} held-out tracks ({})",
        training
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        args.ticks,
        args.iterations,
        if calibration.is_empty() {
            "the training scenarios".to_string()
        } else {
            calibration
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        },
        heldout.len(),
        heldout
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    crate::files::create_dir_all(&args.out)?;
    let options = DaggerOptions {
        train_scenarios: training.clone(),
        eval_scenarios: heldout.clone(),
        iterations: args.iterations,
        ticks: args.ticks,
        bc_ticks: args.ticks,
        noise: crate::sim::DartNoise::white(0.02),
        beta0: 0.5,
        config: ModelConfig::preset("pilotnet").expect("the pilotnet preset"),
        epochs: args.epochs,
        retrain_epochs: args.retrain_epochs,
        eval_km: args.eval_km,
        validation_ticks: args.validation_ticks,
        calibration_scenarios: if calibration.is_empty() {
            training.clone()
        } else {
            calibration.clone()
        },
        calibration_ticks: args.calibration_ticks,
        rule: InterventionRule::default(),
        out: args.out.clone(),
        seed: args.seed,
        randomise: args.randomise.clone(),
        gps: None,
        evaluate: dagger::Evaluate::FirstAndLast,
        resume: args.resume,
        expert_speed: false,
    };
    let (iterations, last) = dagger::run(&options, progress, &AtomicBool::new(false))?;
    // The GIF: the final policy on the first held-out track, its distribution drawn over.
    let gif_started = Instant::now();
    let final_model = &final_it(&iterations).model;
    let drive_file = args.out.join("policy_drive.mcap");
    let gif = args.out.join("policy_drive.gif");
    {
        let mut policy = Policy::load(final_model, Choice::Mode, args.seed)?;
        let mut scenario = heldout[0].clone();
        scenario.episode_steps = args.gif_ticks as u32;
        let mut env = Env::new(scenario, EnvOptions::default())?;
        let run = DriveOptions {
            distance_m: f64::INFINITY,
            max_ticks: args.gif_ticks,
            seed: args.seed,
            supervision: Supervision::default(),
            record: Some(drive_file.clone()),
            episode: 0,
            localise: None,
        };
        drive(
            &mut env,
            &mut Pilot::Policy(&mut policy),
            &run,
            &mut |_, _| {},
        )?;
    }
    let options = crate::drive::replay::ExportOptions {
        gif: Some(gif.clone()),
        ..Default::default()
    };
    let exported = crate::drive::replay::export(&drive_file, &options)?;
    progress.note(&format!(
        "wrote {} ({} frames)",
        gif.display(),
        exported.frames
    ));
    let gif_s = gif_started.elapsed().as_secs_f64();
    // The robustness suite: the final model (and behaviour cloning with --suite-bc).
    let suite_started = Instant::now();
    let mut suites = Vec::new();
    if let Some(suite) = &args.suite {
        let mut models = vec![("final", final_it(&iterations))];
        if args.suite_bc {
            models.insert(0, ("bc", &iterations[0]));
        }
        for (label, it) in models {
            progress.note(&format!(
                "suite {}: {label} model (iteration {})",
                suite.name, it.iteration
            ));
            let policy = Policy::load(&it.model, Choice::Mode, args.seed)?;
            let out = args.out.join(format!("suite-{label}"));
            let result = run_suite(&policy, suite, &out, args.seed, &mut |_, _, _| {})?;
            progress.note(&format!(
                "suite {}: {label} model scores {:.1} %",
                suite.name, result.overall.autonomy_pct
            ));
            suites.push((label, it.iteration, result));
        }
    }
    let suite_s = suite_started.elapsed().as_secs_f64();
    let towns = match &args.towns {
        Some(t) => Some(towns::run(
            &towns::TownStageOptions {
                out: &args.out,
                iterations: t.iterations,
                ticks: t.ticks,
                bc_ticks: t.bc_ticks,
                epochs: t.bc_epochs,
                retrain_epochs: towns::TOWN_EPOCHS.1,
                validation_ticks: args.validation_ticks,
                calibration_ticks: args.calibration_ticks,
                seed: args.seed,
                randomise: args.randomise.clone(),
                resume: args.resume,
            },
            progress,
        )?),
        None => None,
    };
    let mut report = report(
        args,
        &training,
        &iterations,
        &last,
        &suites,
        (gif_s, suite_s),
        towns.as_ref().map(|t| t.seconds),
        started.elapsed().as_secs_f64(),
    );
    if let Some(stage) = &towns {
        report.push_str(&towns::report_section(&args.out, stage));
    }
    crate::files::write_atomic(&args.out.join("report.md"), report.as_bytes())?;
    crate::files::write_atomic(
        &args.out.join("report.html"),
        crate::report::html::page("steerlab main job", &report).as_bytes(),
    )?;
    let final_it = final_it(&iterations);
    let figures = figures::Figures {
        machine: machine.ended(),
        minutes: started.elapsed().as_secs_f64() / 60.0,
        track: bc_and_final(&iterations[0], final_it, |it| &it.eval),
        track_free: bc_and_final(&iterations[0], final_it, |it| &it.eval_free),
        suite: suites
            .iter()
            .find(|(label, _, _)| *label == "final")
            .map(|(_, _, r)| (r.suite.clone(), r.overall.autonomy_pct)),
        gps: towns.as_ref().map_or(Vec::new(), |t| t.gps_rows.clone()),
        town_speed: towns.as_ref().and_then(|t| {
            t.last
                .0
                .drives
                .first()
                .map(|d| d.speed.describe().to_string())
        }),
        traffic: towns.as_ref().map(|t| t.traffic.clone()),
    };
    figures.write(&args.out.join(figures::FIGURES_JSON))?;
    Ok(MainJob {
        iterations,
        report: args.out.join("report.md"),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The last iteration (there is always iteration 0).
fn final_it(iterations: &[Iteration]) -> &Iteration {
    iterations.last().expect("iteration 0")
}

/// Rows of behaviour cloning and the final model for one of their evaluations (those run).
fn bc_and_final(
    first: &Iteration,
    last: &Iteration,
    of: fn(&Iteration) -> &Option<crate::drive::metrics::Metrics>,
) -> Vec<(String, crate::drive::metrics::Metrics)> {
    [
        ("behaviour cloning (iteration 0)".to_string(), first),
        (format!("after DAgger (iteration {})", last.iteration), last),
    ]
    .into_iter()
    .filter_map(|(label, it)| Some((label, of(it).clone()?)))
    .collect()
}

fn relative(out: &Path, path: &Path) -> String {
    path.strip_prefix(out).unwrap_or(path).display().to_string()
}

fn report(
    args: &MainJobOptions,
    training: &[Scenario],
    iterations: &[Iteration],
    (last, last_free): &(Evaluation, Evaluation),
    suites: &[(&str, usize, SuiteResult)],
    (gif_s, suite_s): (f64, f64),
    towns_s: Option<f64>,
    total_s: f64,
) -> String {
    let out = &args.out;
    let first = &iterations[0];
    let final_it = iterations.last().expect("iteration 0");
    let mut r = String::new();
    let _ = writeln!(r, "# steerlab main job\n");
    let _ = writeln!(
        r,
        "A PilotNet policy (Gaussian mixture over curvature) learned from the expert's drives on {} and \
         evaluated in closed loop on {} procedural tracks no training run used. \
         An intervention is charged whenever |lateral offset| exceeds 1 m (the car is put back on the centreline); \
         autonomy = (1 − interventions × 6 s / elapsed) × 100.\n",
        training
            .iter()
            .map(|s| format!("`{}`", s.name))
            .collect::<Vec<_>>()
            .join(", "),
        last.drives.len()
    );
    let _ = writeln!(r, "![policy driving](policy_drive.gif)\n");
    let _ = writeln!(r, "## Behaviour cloning against DAgger (held-out tracks)\n");
    let _ = writeln!(
        r,
        "Every model validates on the same expert episodes (one per training scenario, recorded \
         before iteration 0, trained on by none), and after training drives calibration tracks \
         itself (procedural like the held-out tracks, but used by no training run or \
         evaluation): one factor on all its standard deviations is fitted to the expert's labels \
         there (temperature scaling; column σ recalibrated in the iteration table), because a \
         network trained on the expert's noisy drives is too unsure in the calmer states it \
         drives into itself.\n"
    );
    let _ = writeln!(
        r,
        "With a safety driver (PilotNet's rule). A crash is a wheel leaving the paved road or the \
         body touching a prop. The expert's action is scored under the policy's whole mixture: \
         its negative log-likelihood, the share inside the mixture's central 68.3 % and 95.4 % \
         intervals (calibrated: 68 % / 95 %) and the PIT calibration error (PIT error: the mean \
         distance of the PIT histogram from uniform, 0 when calibrated).\n"
    );
    let _ = writeln!(
        r,
        "{}",
        metrics_table(&bc_and_final(first, final_it, |it| &it.eval))
    );
    let _ = writeln!(
        r,
        "Without a safety driver (VISTA's evaluation): each drive ends at its first crash; km per \
         crash is the distance driven over the crashes.\n"
    );
    let _ = writeln!(
        r,
        "{}",
        metrics_table(&bc_and_final(first, final_it, |it| &it.eval_free))
    );
    for (label, iteration, result) in suites {
        let _ = writeln!(
            r,
            "## Robustness suite `{}`, {} (iteration {iteration})\n\nHeld-out generated tracks changed \
             along each axis at rising severity (`scenarios/suites/`); score (autonomy over every \
             cell): **{:.1} %**.\n\n{}\n![heat map]({})\n",
            result.suite,
            if *label == "bc" {
                "behaviour cloning"
            } else {
                "final model"
            },
            result.overall.autonomy_pct,
            result.table(),
            relative(out, &out.join(format!("suite-{label}")).join(SUITE_PNG))
        );
    }
    let _ = writeln!(r, "## Iterations\n\n{}", iteration_table(iterations));
    let _ = writeln!(r, "![metrics per iteration](dagger.png)\n");
    let final_eval = out.join("eval").join(format!("iter{}", final_it.iteration));
    let _ = writeln!(
        r,
        "## Final model, per held-out track\n\nWith a safety driver:\n\n{}",
        metrics_table(&last.rows())
    );
    let _ = writeln!(r, "Without one:\n\n{}", metrics_table(&last_free.rows()));
    let _ = writeln!(
        r,
        "Calibration of the final policy (PIT histograms of u = F(expert curvature) under its \
         mixture; flat at 1 when calibrated, ∪-shaped when over-confident, ∩-shaped when \
         under-confident):\n\n![calibration]({})\n",
        relative(out, &final_eval.join(crate::drive::eval::PIT_PNG))
    );
    for d in last.drives.iter().chain(&last_free.drives) {
        let dir = match d.metrics.supervision {
            Supervision::Free => final_eval.join("free"),
            _ => final_eval.clone(),
        };
        let map = dir.join(format!("{}_map.png", d.scenario));
        let _ = writeln!(r, "![{}]({})\n", d.scenario, relative(out, &map));
    }
    let curves = final_it.model.join(crate::nn::train::steering::CURVES_PNG);
    let _ = writeln!(
        r,
        "Training curves of the final model:\n\n![training curves]({})\n",
        relative(out, &curves)
    );
    let _ = writeln!(r, "## Wall time\n\n| stage | seconds |\n|---|---|");
    for it in iterations {
        let _ = writeln!(
            r,
            "| iteration {}: collect / train / evaluate | {:.0} / {:.0} / {:.0} |",
            it.iteration, it.collect_s, it.train_s, it.eval_s
        );
    }
    let _ = writeln!(r, "| GIF of the policy driving | {gif_s:.0} |");
    let _ = writeln!(
        r,
        "| robustness suite, {} | {suite_s:.0} |",
        if args.suite_bc {
            "both models"
        } else {
            "final model"
        }
    );
    if let Some(s) = towns_s {
        let _ = writeln!(r, "| navigation stage in towns | {s:.0} |");
    }
    let _ = writeln!(r, "| **total** | **{total_s:.0}** |\n");
    let _ = writeln!(
        r,
        "Files: `dagger.md`/`dagger.json` (per iteration), `models/iterN/` (checkpoints, metrics.csv, curves.png), \
         `data/iterN/` (episodes), `data/validation/` (the fixed validation episodes), `eval/iterN/` and \
         `eval/iterN/free/` (eval.json, eval.md, pit.png, maps, recorded drives: `steerlab replay FILE` \
         in the viewer, or `--export out.gif`). On a desktop, `steerlab sim --model` with one of the `models/iterN/` \
         folders shows that policy driving with its distribution live."
    );
    r
}
