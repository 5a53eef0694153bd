//! `steerlab eval`: a trained policy drives each scenario in closed loop; metrics per scenario
//! and overall (JSON and Markdown), a map of each drive, and the drives recorded for replay.

use crate::drive::eval::{
    EvalOptions, Evaluation, GPS_MD, evaluate, gps_label, gps_sweep, gps_table, metrics_table,
};
use crate::drive::localise::{LocaliseOptions, ONLINE_LANE_POSE_WEIGHT, OwnLocalisation};
use crate::drive::metrics::Supervision;
use crate::drive::suite::{SUITE_JSON, SUITE_MD, SUITE_PNG, Suite, run_suite};
use crate::drive::traffic_suite::{
    TRAFFIC_SUITE_JSON, TRAFFIC_SUITE_MD, TRAFFIC_SUITE_PNG, TrafficSuite, run_traffic_suite,
};
use crate::drive::{Choice, InterventionRule, Policy};
use crate::sim::map_input::GpsNoise;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Model directory (config.json, model.safetensors), or `expert` for the privileged
    /// expert (the baseline: can the scenarios be driven at all?).
    #[arg(long)]
    pub model: PathBuf,
    /// Scenario files; the built-in scenarios when none are given.
    #[arg(long = "scenario", num_args = 1..)]
    pub scenarios: Vec<PathBuf>,
    /// Distance driven on each scenario, km.
    #[arg(long, default_value_t = 1.0, value_parser = crate::cli::inputs::parse_km)]
    pub km: f64,
    /// Output folder.
    #[arg(long, default_value = "runs/eval")]
    pub out: PathBuf,
    /// How the action is read off the steering distribution.
    #[arg(long, value_enum, default_value_t = Choice::Mode)]
    pub choice: Choice,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// |lateral offset| at which the safety driver intervenes, metres.
    #[arg(long, default_value_t = 1.0, conflicts_with = "free")]
    pub intervention_offset: f64,
    /// A model that reads a map reads it at a GPS fix this wrong: `σ_pos,σ_heading` in metres
    /// and degrees (and optionally the error's correlation time in seconds, 10 by default).
    #[arg(long, value_name = "σ_POS,σ_HEADING")]
    pub gps_noise: Option<GpsNoise>,
    /// Evaluate once with the true pose and once per GPS error given (`σ_pos,σ_heading`,
    /// repeatable; `--gps-sweep 2,1 --gps-sweep 5,3 --gps-sweep 10,5`); writes gps.md, the
    /// table by GPS error, and each level's evaluation in `gps_<σ>m/`.
    #[arg(long, value_name = "σ_POS,σ_HEADING", conflicts_with_all = ["gps_noise", "suite"])]
    pub gps_sweep: Vec<GpsNoise>,
    /// The car drives on its own localisation: a particle filter it runs as it drives (noisy
    /// odometry, the GPS fix of `--gps-noise`, and this lane-pose model's reading of the
    /// camera, trained with `train --preset lanepose`) places it, and its map is cut there.
    /// eval.md reports the filter's error.
    #[arg(long, value_name = "LANEPOSE_MODEL", requires = "gps_noise", conflicts_with_all = ["suite", "gps_sweep"])]
    pub localise: Option<PathBuf>,
    /// Particles of `--localise`'s filter.
    #[arg(long, default_value_t = 256, requires = "localise")]
    pub particles: usize,
    /// No safety driver: each drive ends at its first crash (a wheel off the road or the body
    /// touching a prop); reports distance and time to the first crash.
    #[arg(long)]
    pub free: bool,
    /// Drive a suite instead of scenarios. `robustness` (built in,
    /// `scenarios/suites/robustness.ron`) or a suite file: every axis and severity is driven with
    /// a safety driver and without one; writes suite.md, suite.json and suite.png. `traffic`
    /// (`scenarios/suites/traffic.ron`) or a `TrafficSuite(…)` file: held-out towns × traffic
    /// levels, fixed-length routes without a safety driver (the expert drives when `--model
    /// expert`); writes traffic_suite.md, .json and .png.
    #[arg(long, value_name = "NAME|FILE", conflicts_with_all = ["scenarios", "free"])]
    pub suite: Option<String>,
    /// The policy steers and the car drives at the privileged expert's speed (cruise, curves,
    /// the car ahead, the junction rule), even when the model has a speed head of its own.
    /// Every report says which speed was used.
    #[arg(long)]
    pub expert_speed: bool,
}

/// The policy of `--model`, `--choice`, `--seed` and `--expert-speed`.
fn load_policy(args: &EvalArgs) -> Result<Policy> {
    Ok(Policy::load(&args.model, args.choice, args.seed)?.with_expert_speed(args.expert_speed))
}

/// Drives a traffic suite and prints its table.
fn traffic_suite(policy: Option<&Policy>, name: &str, args: &EvalArgs) -> Result<ExitCode> {
    let (suite, towns) = TrafficSuite::named(name)?;
    let routes = towns.len() * suite.levels.len() * suite.routes as usize;
    let bar = distance_bar(routes as f64 * suite.route_km * 1000.0);
    let mut done: std::collections::HashMap<String, f64> = Default::default();
    let result = run_traffic_suite(
        policy,
        &suite,
        &towns,
        &args.out,
        args.seed,
        &mut |name, ticks, metres| {
            done.insert(name.to_string(), metres);
            if ticks % 20 == 0 {
                bar.set_position(done.values().sum::<f64>() as u64);
                bar.set_message(name.to_string());
            }
        },
    );
    bar.finish_and_clear();
    let result = result?;
    println!("Driver: {}. Speed: {}.\n", result.driver, result.speed);
    println!("{}", result.table());
    println!(
        "{TRAFFIC_SUITE_MD}, {TRAFFIC_SUITE_JSON} and {TRAFFIC_SUITE_PNG} (heat map) in {}",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// A progress bar over metres driven.
pub fn distance_bar(total_m: f64) -> ProgressBar {
    let bar = ProgressBar::new(total_m.max(1.0) as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} m  {msg}  ({elapsed}<{eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Evaluates with a progress bar; returns the evaluation.
pub fn evaluate_with_progress(
    policy: Option<&Policy>,
    options: &EvalOptions,
) -> Result<Evaluation> {
    let per = options.km * 1000.0;
    let bar = distance_bar(per * options.scenarios.len() as f64);
    let mut done_before = 0.0;
    let mut current = String::new();
    let result = evaluate(policy, options, &mut |name, ticks, metres| {
        if name != current {
            if !current.is_empty() {
                done_before += per;
            }
            current = name.to_string();
        }
        if ticks % 20 == 0 {
            bar.set_position((done_before + metres) as u64);
            bar.set_message(format!("{name} tick {ticks}"));
        }
    });
    bar.finish_and_clear();
    Ok(result?)
}

pub fn run(args: &EvalArgs) -> Result<ExitCode> {
    if let Some(name) = &args.suite
        && TrafficSuite::is_traffic_suite(name)
    {
        let policy = match args.model.as_os_str() == "expert" {
            true => None,
            false => Some(load_policy(args)?),
        };
        return traffic_suite(policy.as_ref(), name, args);
    }
    if args.model.as_os_str() == "expert" {
        if args.suite.is_some() || args.localise.is_some() || !args.gps_sweep.is_empty() {
            anyhow::bail!(
                "--suite, --localise and --gps-sweep drive a learned policy; give --model a \
                 model directory"
            );
        }
        return report(evaluate_with_progress(None, &options(args)?)?, args);
    }
    let policy = load_policy(args)?;
    println!("Speed: {}.", policy.speed.describe());
    if let Some(name) = &args.suite {
        let suite = Suite::named(name)?;
        let cells = suite.cells()?.len() as f64;
        let bar = distance_bar(2.0 * cells * suite.km * 1000.0);
        let (mut done_before, mut current, mut last) = (0.0, String::new(), 0.0);
        let result = run_suite(
            &policy,
            &suite,
            &args.out,
            args.seed,
            &mut |name, ticks, metres| {
                if name != current {
                    done_before += last;
                    current = name.to_string();
                }
                last = metres;
                if ticks % 20 == 0 {
                    bar.set_position((done_before + metres) as u64);
                    bar.set_message(format!("{name}"));
                }
            },
        );
        bar.finish_and_clear();
        let result = result?;
        println!("{}", result.table());
        println!(
            "score (autonomy over every cell): {:.1} %; {SUITE_MD}, {SUITE_JSON} and {SUITE_PNG} (heat map) in {}",
            result.overall.autonomy_pct,
            args.out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if !args.gps_sweep.is_empty() {
        let options = options(args)?;
        let levels: Vec<Option<GpsNoise>> = std::iter::once(None)
            .chain(args.gps_sweep.iter().copied().map(Some))
            .collect();
        let bar =
            distance_bar(options.km * 1000.0 * (options.scenarios.len() * levels.len()) as f64);
        let (mut done_before, mut current, mut last) = (0.0, String::new(), 0.0);
        let result = gps_sweep(&policy, &options, &levels, &mut |name, ticks, metres| {
            if name != current || metres < last {
                done_before += last;
                current = name.to_string();
            }
            last = metres;
            if ticks % 20 == 0 {
                bar.set_position((done_before + metres) as u64);
                bar.set_message(name.to_string());
            }
        });
        bar.finish_and_clear();
        let rows: Vec<(String, crate::drive::metrics::Metrics)> = result?
            .into_iter()
            .map(|(g, e)| (gps_label(g), e.overall))
            .collect();
        let table = gps_table(&rows);
        crate::files::write_atomic(&args.out.join(GPS_MD), table.as_bytes())?;
        println!("{table}");
        println!(
            "{GPS_MD} in {}, each level's evaluation in its gps_<σ>m folder",
            args.out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    report(
        evaluate_with_progress(Some(&policy), &options(args)?)?,
        args,
    )
}

/// What `eval` drives: the scenarios, distance, supervision and output of `args`.
fn options(args: &EvalArgs) -> Result<EvalOptions> {
    Ok(EvalOptions {
        scenarios: super::inputs::load_scenarios(&args.scenarios)?,
        km: args.km,
        out: args.out.clone(),
        seed: args.seed,
        supervision: if args.free {
            Supervision::Free
        } else {
            Supervision::SafetyDriver(InterventionRule {
                max_offset_m: args.intervention_offset,
                ..InterventionRule::default()
            })
        },
        gps: args.gps_noise,
        localise: match (&args.localise, args.gps_noise) {
            (Some(dir), Some(gps)) => Some(OwnLocalisation::load(
                dir,
                LocaliseOptions {
                    particles: args.particles,
                    gps,
                    seed: args.seed,
                    lane_pose_weight: ONLINE_LANE_POSE_WEIGHT,
                    ..LocaliseOptions::default()
                },
            )?),
            _ => None,
        },
    })
}

fn report(evaluation: Evaluation, args: &EvalArgs) -> Result<ExitCode> {
    println!("{}", metrics_table(&evaluation.rows()));
    print!(
        "{}",
        crate::drive::junctions::entries_summary(&evaluation.junction_entries())
    );
    if let Some(l) = &evaluation.localisation {
        print!("{}", crate::drive::eval::localisation_line(l));
    }
    println!(
        "eval.json, eval.md, pit.png (calibration), maps and recordings in {}",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
