//! `steerlab calibrate`: a trained policy drives held-out episodes of scenarios itself, and one
//! factor on all its standard deviations is fitted to the expert's labels of those ticks and
//! written into its `config.json` (see `drive::recalibrate`).

use crate::drive::recalibrate::{Recalibration, recalibrate, recalibrate_from};
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct CalibrateArgs {
    /// Model directory; its config.json gets the fitted std_scale.
    #[arg(long)]
    pub model: PathBuf,
    /// Scenarios the policy drives; the built-in scenarios when none are given. Use training
    /// scenarios, not the tracks you evaluate on.
    #[arg(long = "scenario", num_args = 1..)]
    pub scenarios: Vec<PathBuf>,
    /// Ticks driven on each scenario.
    #[arg(long, default_value_t = 250)]
    pub ticks: u64,
    /// Where the drives are recorded.
    #[arg(long, default_value = "runs/calibrate")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fit on these recorded drives of this very model (its ticks with a recorded
    /// distribution) instead of driving.
    #[arg(long, num_args = 1..)]
    pub episodes: Vec<PathBuf>,
    /// Drive scenarios drawn from domain-randomisation ranges: `default`, a ranges file, or
    /// `off` (the scenarios as written). Calibrate across the conditions the policy will
    /// drive in, as it was trained.
    #[arg(long, default_value = "off", value_name = "PRESET|FILE|off")]
    pub randomise: String,
    /// Drives per scenario when randomised, each in a scenario of its own draw, sharing the
    /// scenario's ticks.
    #[arg(long, default_value_t = 4)]
    pub draws: u32,
}

/// Lets the policy drive the scenarios and fits on those drives.
fn drive_and_fit(args: &CalibrateArgs) -> Result<Recalibration> {
    let scenarios = super::inputs::load_scenarios(&args.scenarios)?;
    let randomise = super::inputs::randomisation(&args.randomise, args.draws)?;
    let bar = super::eval::distance_bar(1.0);
    let r = recalibrate(
        &args.model,
        &scenarios,
        args.ticks,
        args.seed,
        &args.out,
        randomise.as_ref().map(|(r, n)| (r, *n)),
        &mut |name, ticks, _| {
            if ticks % 25 == 0 {
                bar.set_message(format!("{name}: tick {ticks}"));
                bar.tick();
            }
        },
    )?;
    bar.finish_and_clear();
    Ok(r)
}

pub fn run(args: &CalibrateArgs) -> Result<ExitCode> {
    if args.ticks == 0 {
        anyhow::bail!("--ticks must be at least 1");
    }
    let r = if !args.episodes.is_empty() {
        let files = crate::nn::data::dataset::episode_files(&args.episodes)?;
        recalibrate_from(&args.model, &files)?
    } else {
        drive_and_fit(args)?
    };
    let pct = |v: Option<f64>| v.map_or("–".into(), |v| format!("{:.1} %", v * 100.0));
    println!(
        "{} policy ticks: expert inside the central 68.3 % / 95.4 % intervals {} / {} \
         (calibration error {:.3}) before, {} / {} ({:.3}) after multiplying the standard \
         deviations by {:.3}; std_scale {:.3} written to {}",
        r.before.count(),
        pct(r.before.coverage_1_sigma()),
        pct(r.before.coverage_2_sigma()),
        r.before.pit_calibration_error().unwrap_or(f64::NAN),
        pct(r.after.coverage_1_sigma()),
        pct(r.after.coverage_2_sigma()),
        r.after.pit_calibration_error().unwrap_or(f64::NAN),
        r.factor,
        r.std_scale,
        args.model.join("config.json").display()
    );
    Ok(ExitCode::SUCCESS)
}
