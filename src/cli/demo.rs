//! The main job: from nothing to a policy that drives tracks it has never seen. The expert
//! drives the built-in scenarios (with DART noise) and a PilotNet policy is trained on its
//! runs; DAgger iterations let the learner drive while the expert labels; every model is
//! evaluated in closed loop on procedurally generated tracks used by no training run; a report
//! with the metrics, plots and a GIF of the policy driving is written to `runs/demo/`.

use crate::drive::dagger::{self, DaggerOptions, Iteration, iteration_table};
use crate::drive::eval::{Evaluation, metrics_table};
use crate::drive::metrics::Supervision;
use crate::drive::suite::{SUITE_PNG, Suite, SuiteResult, run_suite};
use crate::drive::{Choice, DriveOptions, InterventionRule, Pilot, Policy, drive};
use crate::nn::ModelConfig;
use crate::sim::Scenario;
use crate::world::{Env, EnvOptions};
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Scenarios driven for training data; the built-in scenarios when none are given.
    #[arg(long = "scenario", num_args = 1..)]
    pub scenarios: Vec<PathBuf>,
    /// Output folder.
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
    /// Ticks driven per scenario and iteration.
    #[arg(long, default_value_t = 850)]
    pub ticks: u64,
    /// DAgger iterations after behaviour cloning.
    #[arg(long, default_value_t = 2)]
    pub iterations: usize,
    /// Epochs of behaviour cloning, and of each DAgger retraining (the validation likelihood
    /// peaked after 4 of 8 and 2 of 4).
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    #[arg(long, default_value_t = 2)]
    pub retrain_epochs: usize,
    /// Held-out procedural tracks the models are evaluated on.
    #[arg(long, default_value_t = 2)]
    pub heldout: usize,
    /// Distance driven on each held-out track per evaluation, km.
    #[arg(long, default_value_t = 1.0, value_parser = crate::cli::inputs::parse_km)]
    pub eval_km: f64,
    /// Ticks of the expert's validation episode on each scenario (the fixed validation set).
    #[arg(long, default_value_t = 250)]
    pub validation_ticks: u64,
    /// Further procedural tracks, used by no training run or evaluation, that each model
    /// drives to recalibrate its standard deviations on.
    #[arg(long, default_value_t = 2)]
    pub calibration_tracks: usize,
    /// Ticks driven on each calibration track.
    #[arg(long, default_value_t = 600)]
    pub calibration_ticks: u64,
    /// Ticks of the policy's drive shown in the GIF.
    #[arg(long, default_value_t = 300)]
    pub gif_ticks: u64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continue a run that was stopped or killed, in the same --out with the same arguments:
    /// finished collections and models are kept, a training continues from its saved state.
    #[arg(long)]
    pub resume: bool,
    /// Domain randomisation of the collection and validation drives: `default` (the ranges of
    /// `scenarios/randomise/default.ron`), a ranges file, or `off` (the scenarios as written).
    #[arg(long, value_name = "PRESET|FILE|off", default_value = "default")]
    pub randomise: String,
    /// Drives per scenario and iteration when randomised, each in a scenario of its own draw,
    /// sharing the scenario's ticks.
    #[arg(long, default_value_t = 4)]
    pub draws: u32,
    /// The robustness suite the final model drives at the end (`robustness`, a suite file,
    /// or `off`).
    #[arg(long, value_name = "NAME|FILE|off", default_value = "robustness")]
    pub suite: String,
    /// The behaviour-cloning model drives the suite too, beside the final one (about 5 more
    /// minutes on two cores).
    #[arg(long)]
    pub suite_bc: bool,
    /// Skip the navigation stage (a navnet with a routed map learning the shipped towns with
    /// traffic, scored on two held-out towns; results in `<out>/towns`).
    #[arg(long)]
    pub no_towns: bool,
    /// Ticks driven per town and DAgger iteration in the navigation stage.
    #[arg(long, default_value_t = 1000)]
    pub town_ticks: u64,
    /// Ticks the expert drives per town for the navigation stage's behaviour cloning: a network
    /// that reads a map memorises a small first set by its map patches instead of learning to
    /// read the camera.
    #[arg(long, default_value_t = 8000)]
    pub town_bc_ticks: u64,
    /// DAgger iterations of the navigation stage (only the last model is evaluated): the
    /// second took the held-out towns from 84.0 % to 87.2 % autonomy, and at a 5 m GPS error
    /// from 80.8 % to 85.6 %.
    #[arg(long, default_value_t = 2)]
    pub town_iterations: usize,
}

pub fn run(args: &DemoArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let training = super::inputs::load_scenarios(&args.scenarios)?;
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
    println!(
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
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let options = DaggerOptions {
        train_scenarios: training.clone(),
        eval_scenarios: heldout.clone(),
        iterations: args.iterations,
        ticks: args.ticks,
        bc_ticks: args.ticks,
        noise_std_per_m: 0.02,
        noise_correlation_s: 0.0,
        speed_noise_m_s: 0.0,
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
        randomise: super::inputs::randomisation(&args.randomise, args.draws)?,
        gps: None,
        evaluate: dagger::Evaluate::FirstAndLast,
        resume: args.resume,
        expert_speed: false,
    };
    let mut progress = super::dagger::Progress::new();
    let (iterations, last) = dagger::run(&options, &mut progress, &AtomicBool::new(false))?;
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
    super::replay::run(&super::replay::ReplayArgs::gif(
        drive_file,
        gif.clone(),
        None,
    ))?;
    let gif_s = gif_started.elapsed().as_secs_f64();
    // The robustness suite: the final model (and behaviour cloning with --suite-bc).
    let suite_started = Instant::now();
    let mut suites = Vec::new();
    if args.suite != "off" {
        let suite = Suite::named(&args.suite)?;
        let mut models = vec![("final", final_it(&iterations))];
        if args.suite_bc {
            models.insert(0, ("bc", &iterations[0]));
        }
        for (label, it) in models {
            println!(
                "suite {}: {label} model (iteration {})",
                suite.name, it.iteration
            );
            let policy = Policy::load(&it.model, Choice::Mode, args.seed)?;
            let out = args.out.join(format!("suite-{label}"));
            let result = run_suite(&policy, &suite, &out, args.seed, &mut |_, _, _| {})?;
            println!(
                "suite {}: {label} model scores {:.1} %",
                suite.name, result.overall.autonomy_pct
            );
            suites.push((label, it.iteration, result));
        }
    }
    let suite_s = suite_started.elapsed().as_secs_f64();
    let towns = if !args.no_towns {
        Some(super::demo_town::run(
            &super::demo_town::TownStageOptions {
                out: &args.out,
                iterations: args.town_iterations,
                ticks: args.town_ticks,
                bc_ticks: args.town_bc_ticks,
                epochs: super::demo_town::TOWN_EPOCHS.0,
                retrain_epochs: super::demo_town::TOWN_EPOCHS.1,
                validation_ticks: args.validation_ticks,
                calibration_ticks: args.calibration_ticks,
                seed: args.seed,
                randomise: &args.randomise,
                draws: args.draws,
                resume: args.resume,
            },
        )?)
    } else {
        None
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
        report.push_str(&super::demo_town::report_section(&args.out, stage));
    }
    crate::files::write_atomic(&args.out.join("report.md"), report.as_bytes())?;
    crate::files::write_atomic(
        &args.out.join("report.html"),
        crate::report::html::page("steerlab main job", &report).as_bytes(),
    )?;
    println!("{}", iteration_table(&iterations));
    println!(
        "report: {} and report.html ({:.1} min in all)",
        args.out.join("report.md").display(),
        started.elapsed().as_secs_f64() / 60.0
    );
    println!(
        "watch it drive, its steering distribution drawn live: steerlab sim --model {}",
        iterations.last().expect("iteration 0").model.display()
    );
    Ok(ExitCode::SUCCESS)
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
    args: &DemoArgs,
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
         intervals (calibrated: 68 % / 95 %) and the expected calibration error (ECE, 0 when \
         calibrated).\n"
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
    let curves = final_it.model.join(crate::nn::train::CURVES_PNG);
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
