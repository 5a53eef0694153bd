//! `steerlab demo`, the main job ([`crate::drive::main_job`]): from nothing to a policy that
//! drives tracks it has never seen, and a navnet that drives towns; the report in `runs/demo/`.

use crate::drive::dagger::iteration_table;
use crate::drive::main_job::{self, MainJobOptions, TownsOptions};
use crate::drive::suite::Suite;
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Epochs of the navigation stage's behaviour cloning: twice the expert's ticks seen once
    /// drove better than the stage's frames seen twice, at about 7 more minutes on two cores
    /// (`--town-bc-ticks 16000 --town-epochs 1`; see the navigation chapter).
    #[arg(long, default_value_t = crate::drive::main_job::towns::TOWN_EPOCHS.0 as u32,
          value_parser = clap::value_parser!(u32).range(1..=50))]
    pub town_epochs: u32,
    /// DAgger iterations of the navigation stage (only the last model is evaluated): the
    /// second took the held-out towns from 84.0 % to 87.2 % autonomy, and at a 5 m GPS error
    /// from 80.8 % to 85.6 %.
    #[arg(long, default_value_t = 2)]
    pub town_iterations: usize,
}

pub fn run(args: &DemoArgs) -> Result<ExitCode> {
    let options = MainJobOptions {
        training: super::inputs::load_scenarios(&args.scenarios)?,
        out: args.out.clone(),
        ticks: args.ticks,
        iterations: args.iterations,
        epochs: args.epochs,
        retrain_epochs: args.retrain_epochs,
        heldout: args.heldout,
        eval_km: args.eval_km,
        validation_ticks: args.validation_ticks,
        calibration_tracks: args.calibration_tracks,
        calibration_ticks: args.calibration_ticks,
        gif_ticks: args.gif_ticks,
        seed: args.seed,
        resume: args.resume,
        randomise: super::inputs::randomisation(&args.randomise, args.draws)?,
        suite: match args.suite.as_str() {
            "off" => None,
            name => Some(Suite::named(name)?),
        },
        suite_bc: args.suite_bc,
        towns: (!args.no_towns).then_some(TownsOptions {
            ticks: args.town_ticks,
            bc_ticks: args.town_bc_ticks,
            bc_epochs: args.town_epochs as usize,
            iterations: args.town_iterations,
        }),
    };
    let mut progress = super::dagger::Progress::new();
    let job = main_job::run(&options, &mut progress)?;
    println!("{}", iteration_table(&job.iterations));
    println!(
        "report: {} and report.html ({:.1} min in all)",
        job.report.display(),
        job.seconds / 60.0
    );
    println!(
        "watch it drive, its steering distribution drawn live: steerlab sim --model {}",
        job.iterations.last().expect("iteration 0").model.display()
    );
    Ok(ExitCode::SUCCESS)
}
