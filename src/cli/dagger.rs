//! `steerlab dagger`: behaviour cloning, then DAgger iterations, each evaluated in closed loop.

use crate::drive::InterventionRule;
use crate::drive::dagger::{self, DaggerObserver, DaggerOptions, Iteration, iteration_table};
use crate::nn::models::steering::config::Target;
use crate::nn::train::steering::TrainObserver;
use crate::sim::map_input::{GpsNoise, MapMode};
use anyhow::Result;
use indicatif::ProgressBar;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct DaggerArgs {
    /// Scenarios driven for data; the built-in scenarios when none are given.
    #[arg(long = "scenario", num_args = 1..)]
    pub scenarios: Vec<PathBuf>,
    /// Scenarios each iteration's model is evaluated on (default: the data scenarios).
    #[arg(long = "eval-scenario", num_args = 1..)]
    pub eval_scenarios: Vec<PathBuf>,
    /// Scenarios each model drives to recalibrate its standard deviations on: tracks like the
    /// evaluation's but not them (default: the data scenarios).
    #[arg(long = "calibration-scenario", num_args = 1..)]
    pub calibration_scenarios: Vec<PathBuf>,
    /// Ticks driven on each calibration scenario.
    #[arg(long, default_value_t = 600)]
    pub calibration_ticks: u64,
    /// DAgger iterations after behaviour cloning.
    #[arg(long, default_value_t = 2)]
    pub iterations: usize,
    /// Output folder: data/iterN, models/iterN, eval/iterN, dagger.md, dagger.png.
    #[arg(long, default_value = "runs/dagger")]
    pub out: PathBuf,
    /// Ticks driven per scenario and iteration.
    #[arg(long, default_value_t = 1000)]
    pub ticks: u64,
    /// Ticks the expert drives per scenario in iteration 0, behaviour cloning's data (default:
    /// --ticks). A network that also reads a map memorises a small first set by its map
    /// patches instead of learning to read the camera.
    #[arg(long)]
    pub bc_ticks: Option<u64>,
    /// DART noise of the expert in iteration 0, 1/m.
    #[arg(long, default_value_t = 0.02)]
    pub noise: f64,
    /// Correlation time of the DART noise, seconds (0: white noise; see `record --help`).
    #[arg(long, default_value_t = 0.0, value_name = "SECONDS")]
    pub noise_correlation: f64,
    /// DART noise on the expert's speed in iteration 0, m/s, with the same correlation (see
    /// `record --help`).
    #[arg(long, default_value_t = 0.0, value_name = "M_S")]
    pub speed_noise: f64,
    /// Factor on the curvature noise inside a junction and on the last 10 m before one: the
    /// drives wander further where no paint marks the path, and the labels show the way back.
    #[arg(long, default_value_t = 1.0, value_name = "FACTOR", value_parser = crate::cli::inputs::parse_noise_factor)]
    pub junction_noise: f64,
    /// β₀: the expert's share of ticks in iteration 1 (βᵢ = β₀ⁱ).
    #[arg(long, default_value_t = 0.5)]
    pub beta: f64,
    /// Network preset: pilotnet, lecture, navnet (camera and map) or cil (one head per
    /// navigation command); see `train --help`.
    #[arg(long, default_value = "pilotnet")]
    pub preset: String,
    /// The map a navnet reads: routed (the default), unrouted, or none.
    #[arg(long, value_enum)]
    pub map: Option<MapMode>,
    #[command(flatten)]
    pub heads: super::inputs::HeadArgs,
    /// A navnet reads its map at a GPS fix this wrong: `σ_pos,σ_heading` in metres and
    /// degrees (and optionally the error's correlation time in seconds, 10 by default).
    #[arg(long, value_name = "σ_POS,σ_HEADING")]
    pub gps_noise: Option<GpsNoise>,
    /// Epochs of behaviour cloning, and of each retraining.
    #[arg(long, default_value_t = 8)]
    pub epochs: usize,
    #[arg(long, default_value_t = 4)]
    pub retrain_epochs: usize,
    /// Distance driven on each evaluation scenario, km.
    #[arg(long, default_value_t = 0.5, value_parser = crate::cli::inputs::parse_km)]
    pub eval_km: f64,
    /// Evaluate only the last iteration's model (saves an evaluation per iteration).
    #[arg(long)]
    pub eval_last: bool,
    /// Ticks of the expert's validation episode on each scenario (recorded once, before
    /// iteration 0; no iteration trains on it).
    #[arg(long, default_value_t = 250)]
    pub validation_ticks: u64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Domain randomisation of the collection and validation drives: `default` (the ranges of
    /// `scenarios/randomise/default.ron`), a ranges file, or `off` (the scenarios as written).
    #[arg(long, value_name = "PRESET|FILE|off", default_value = "off")]
    pub randomise: String,
    /// Drives per scenario and iteration when randomised, each in a scenario of its own draw,
    /// sharing the scenario's ticks.
    #[arg(long, default_value_t = 4)]
    pub draws: u32,
    /// Continue a run that was stopped or killed, in the same --out with the same arguments:
    /// finished collections and models are kept, a training continues from its saved state.
    #[arg(long)]
    pub resume: bool,
    /// The learner drives at the expert's speed even when its model has a speed head (it
    /// still learns the speed from the expert's labels).
    #[arg(long)]
    pub expert_speed: bool,
}

/// Prints stages and progress; trains with the training bar.
pub(crate) struct Progress {
    pub(crate) trainer: super::progress::Bar,
    /// The bar of a lane-pose model's training, made when one trains.
    lane_pose: Option<super::progress::Bar>,
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Progress {
    pub(crate) fn new() -> Self {
        Self {
            trainer: super::train::bar(Target::Curvature),
            lane_pose: None,
            bar: None,
            started: Instant::now(),
        }
    }
}

impl DaggerObserver for Progress {
    fn stage(&mut self, iteration: usize, stage: &str) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        println!(
            "[{:>5.0} s] iteration {iteration}: {stage}",
            self.started.elapsed().as_secs_f64()
        );
        if stage != "train" {
            let bar = ProgressBar::new_spinner();
            self.bar = Some(bar);
        }
    }

    fn drive_progress(&mut self, scenario: &str, ticks: u64, metres: f64) {
        if let Some(bar) = &self.bar
            && ticks % 25 == 0
        {
            bar.set_message(format!("{scenario}: tick {ticks}, {metres:.0} m"));
            bar.tick();
        }
    }

    fn trainer(&mut self) -> &mut dyn TrainObserver {
        &mut self.trainer
    }

    fn trainer_for(&mut self, target: Target) -> &mut dyn TrainObserver {
        match target {
            Target::Curvature => &mut self.trainer,
            Target::LaneOffset => self
                .lane_pose
                .get_or_insert_with(|| super::train::bar(Target::LaneOffset)),
        }
    }

    fn note(&mut self, line: &str) {
        if let Some(bar) = &self.bar {
            bar.suspend(|| println!("{line}"));
        } else {
            println!("{line}");
        }
    }

    fn iteration_done(&mut self, it: &Iteration) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let pct = |v: Option<f64>| v.map_or("–".into(), |v| format!("{:.0} %", v * 100.0));
        let r = &it.recalibration;
        println!(
            "[{:>5.0} s] iteration {}: standard deviations × {:.2} (its own drives: {}/{} in the \
             68 %/95 % intervals before, {}/{} after)",
            self.started.elapsed().as_secs_f64(),
            it.iteration,
            r.factor,
            pct(r.before.coverage_1_sigma()),
            pct(r.before.coverage_2_sigma()),
            pct(r.after.coverage_1_sigma()),
            pct(r.after.coverage_2_sigma()),
        );
        if let (Some(e), Some(f)) = (&it.eval, &it.eval_free) {
            println!(
                "[{:>5.0} s] iteration {}: autonomy {:.1} %, {:.2} interventions/km, mean |offset| {:.3} m, \
                 expert in the 68 %/95 % intervals {}/{}; without a safety driver {} crashes in {:.2} km",
                self.started.elapsed().as_secs_f64(),
                it.iteration,
                e.autonomy_pct,
                e.interventions_per_km,
                e.mean_abs_offset_m,
                pct(e.coverage_1_sigma),
                pct(e.coverage_2_sigma),
                f.crashes,
                f.distance_km,
            );
        }
    }
}

pub fn run(args: &DaggerArgs) -> Result<ExitCode> {
    let train_scenarios = super::inputs::load_scenarios(&args.scenarios)?;
    let eval_scenarios = if args.eval_scenarios.is_empty() {
        train_scenarios.clone()
    } else {
        super::inputs::load_scenarios(&args.eval_scenarios)?
    };
    let calibration_scenarios = if args.calibration_scenarios.is_empty() {
        train_scenarios.clone()
    } else {
        super::inputs::load_scenarios(&args.calibration_scenarios)?
    };
    let config = super::inputs::model_config_with(&args.preset, args.map, &args.heads)?;
    let options = DaggerOptions {
        train_scenarios,
        eval_scenarios,
        iterations: args.iterations,
        ticks: args.ticks,
        bc_ticks: args.bc_ticks.unwrap_or(args.ticks),
        noise: crate::sim::DartNoise {
            std_per_m: args.noise,
            correlation_s: args.noise_correlation,
            speed_m_s: args.speed_noise,
            junction_scale: args.junction_noise,
        },
        beta0: args.beta,
        config,
        epochs: args.epochs,
        retrain_epochs: args.retrain_epochs,
        eval_km: args.eval_km,
        validation_ticks: args.validation_ticks,
        calibration_scenarios,
        calibration_ticks: args.calibration_ticks,
        rule: InterventionRule::default(),
        out: args.out.clone(),
        seed: args.seed,
        randomise: super::inputs::randomisation(&args.randomise, args.draws)?,
        gps: args.gps_noise,
        evaluate: if args.eval_last {
            dagger::Evaluate::Last
        } else {
            dagger::Evaluate::Every
        },
        resume: args.resume,
        expert_speed: args.expert_speed,
    };
    let (iterations, _) = dagger::run(&options, &mut Progress::new(), &AtomicBool::new(false))?;
    println!("{}", iteration_table(&iterations));
    println!(
        "dagger.md, dagger.png, data, models and evaluations in {}",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
