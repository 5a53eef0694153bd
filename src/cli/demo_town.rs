//! The main job's navigation stage (`demo --towns`): a `navnet` reading a routed map learns to
//! drive generated towns with traffic from the expert (behaviour cloning with DART noise, then
//! DAgger, collection randomised so that every drive is a new town and route) and is scored on
//! two held-out towns: junction success by manoeuvre, route completion, crashes, calibration,
//! the mixture at junction entries, and a GIF of a turn with the mixture and the map drawn.

use crate::drive::dagger::{self, DaggerOptions, Iteration, iteration_table};
use crate::drive::eval::{
    EvalOptions, Evaluation, GPS_MD, GPS_SWEEP, JUNCTIONS_PNG, gps_label, gps_sweep, gps_table,
    metrics_table, sweep_noise,
};
use crate::drive::metrics::Supervision;
use crate::drive::{Choice, Policy};
use crate::drive::junctions::entries_summary;
use crate::drive::metrics::InterventionRule;
use crate::sim::map_input::MapMode;
use crate::sim::shipped::{HELDOUT_TOWNS, TOWNS};
use anyhow::Result;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// Distance driven on each held-out town, km (with and without a safety driver).
const EVAL_KM: f64 = 1.5;

/// What the stage produced.
pub struct TownStage {
    pub iterations: Vec<Iteration>,
    pub last: (Evaluation, Evaluation),
    /// The final model with a safety driver by GPS error: `gps.md`'s table.
    pub gps_table: String,
    /// The GIF of the final policy through a junction, when its drive passed one.
    pub gif: Option<PathBuf>,
    pub seconds: f64,
}

/// What the main job passes on to the stage.
pub struct TownStageOptions<'a> {
    /// The main job's folder; the stage writes into `<out>/towns`.
    pub out: &'a Path,
    pub iterations: usize,
    /// Ticks per town and iteration.
    pub ticks: u64,
    pub epochs: usize,
    pub retrain_epochs: usize,
    pub validation_ticks: u64,
    pub calibration_ticks: u64,
    pub seed: u64,
    /// `--randomise` and `--draws` as the main job was given them.
    pub randomise: &'a str,
    pub draws: u32,
    pub resume: bool,
}

/// Runs the stage into `<out>/towns`.
pub fn run(args: &TownStageOptions) -> Result<TownStage> {
    let started = Instant::now();
    let (train, heldout) = (shipped(&TOWNS)?, shipped(&HELDOUT_TOWNS)?);
    let out = args.out.join("towns");
    println!(
        "navigation stage: navnet with a routed map, trained in {} (randomised: a new town and route per drive), evaluated on {}",
        names(&train),
        names(&heldout)
    );
    let options = DaggerOptions {
        train_scenarios: train.clone(),
        eval_scenarios: heldout.clone(),
        iterations: args.iterations,
        ticks: args.ticks,
        noise_std_per_m: 0.02,
        beta0: 0.5,
        config: super::inputs::model_config("navnet", Some(MapMode::Routed))?,
        epochs: args.epochs,
        retrain_epochs: args.retrain_epochs,
        eval_km: EVAL_KM,
        validation_ticks: args.validation_ticks,
        calibration_scenarios: train,
        calibration_ticks: args.calibration_ticks,
        rule: InterventionRule::default(),
        out: out.clone(),
        seed: args.seed,
        randomise: super::inputs::randomisation(args.randomise, args.draws)?,
        gps: None,
        evaluate: dagger::Evaluate::Last,
        resume: args.resume,
    };
    let mut progress = super::dagger::Progress::new();
    let (iterations, last) = dagger::run(&options, &mut progress, &AtomicBool::new(false))?;
    let final_it = iterations.last().expect("iteration 0");
    let gps_table = gps_sweep_table(&options, final_it.iteration, &last.0, &mut progress)?;
    let drive = out
        .join("eval")
        .join(format!("iter{}", final_it.iteration))
        .join(format!("{}.mcap", heldout[0].name));
    let gif = out.join("junction.gif");
    // The second junction of the route (the first may be passed before the car is settled),
    // else the first.
    let mut exported = None;
    for n in [2, 1] {
        let replay = super::replay::ReplayArgs::gif(drive.clone(), gif.clone(), Some(n));
        if super::replay::run(&replay).is_ok() {
            exported = Some(gif.clone());
            break;
        }
    }
    if exported.is_none() {
        println!("navigation stage: the held-out drive passed no junction; no GIF");
    }
    Ok(TownStage {
        iterations,
        last,
        gps_table,
        gif: exported,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The final model on the held-out towns with a safety driver at each GPS error of
/// [`GPS_SWEEP`] (the true pose's row is the final evaluation's own); writes `towns/gps.md`.
fn gps_sweep_table(
    options: &DaggerOptions,
    iteration: usize,
    true_pose: &Evaluation,
    progress: &mut super::dagger::Progress,
) -> Result<String> {
    let mut policy = Policy::load(&dagger::model_dir(&options.out, iteration), Choice::Mode, options.seed)?;
    let eval = EvalOptions {
        scenarios: options.eval_scenarios.clone(),
        km: options.eval_km,
        out: options.out.join("gps"),
        seed: options.seed,
        supervision: Supervision::SafetyDriver(options.rule),
        gps: None,
    };
    let levels: Vec<_> = GPS_SWEEP.iter().filter_map(|&l| sweep_noise(l)).map(Some).collect();
    println!("navigation stage: the final model at GPS errors of {}", levels.iter().map(|g| gps_label(*g)).collect::<Vec<_>>().join(", "));
    let swept = gps_sweep(&mut policy, &eval, &levels, &mut |n, t, m| {
        use crate::drive::dagger::DaggerObserver;
        progress.drive_progress(n, t, m)
    })?;
    let rows: Vec<(String, crate::drive::metrics::Metrics)> = std::iter::once((gps_label(None), true_pose.overall.clone()))
        .chain(swept.into_iter().map(|(g, e)| (gps_label(g), e.overall)))
        .collect();
    let table = gps_table(&rows);
    crate::files::write_atomic(&eval.out.join(GPS_MD), table.as_bytes())?;
    Ok(table)
}

/// The scenarios compiled into the binary from `files`.
fn shipped(files: &[(&str, &str)]) -> Result<Vec<crate::sim::Scenario>> {
    Ok(files
        .iter()
        .map(|(file, text)| crate::sim::Scenario::from_ron(text, &format!("scenarios/{file}")))
        .collect::<crate::error::Result<_>>()?)
}

fn names(scenarios: &[crate::sim::Scenario]) -> String {
    scenarios
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The stage's section of the main job's report; paths relative to `out` (the report's
/// folder).
pub fn report_section(out: &Path, stage: &TownStage) -> String {
    let rel = |p: &Path| p.strip_prefix(out).unwrap_or(p).display().to_string();
    let final_it = stage.iterations.last().expect("iteration 0");
    let mut r = String::new();
    let _ = writeln!(
        r,
        "## Navigation in towns (navnet, routed map)\n\nA `navnet` (PilotNet's camera trunk, a map CNN on a 64×64 patch over ±40 m \
         cut at the car's pose — red paved, green the route ahead — and a 5-component mixture over \
         curvature) learns from the expert in the shipped towns (every drive randomised: a new \
         town, route, light and road look), then DAgger; it is scored on two towns with traffic \
         whose seeds no drive used, {EVAL_KM} km each. A junction passage succeeds when the car \
         is on the route's lane 15 m past the turn path without an intervention.\n"
    );
    let _ = writeln!(r, "{}", iteration_table(&stage.iterations));
    let _ = writeln!(
        r,
        "With a safety driver, final model (iteration {}):\n\n{}",
        final_it.iteration,
        metrics_table(&stage.last.0.rows())
    );
    let _ = writeln!(
        r,
        "\nWithout a safety driver (each drive ends at its first crash or its first departure \
         from the route):\n\n{}",
        metrics_table(&stage.last.1.rows())
    );
    let _ = writeln!(
        r,
        "\nThe final model by GPS error, with a safety driver ({GPS_MD}): it reads the camera and \
         the routed map cut at the GPS fix, the route progress and the route drawn tracked from \
         that fix (map-matching); training drives drew their own GPS error (0–8 m, 0–5°) and \
         dropouts. Speed is not the model's: the car drives at the expert's speed profile, \
         which includes its traffic and junction caps.\n\n{}",
        stage.gps_table
    );
    let entries = stage.last.0.junction_entries();
    if !entries.is_empty() {
        let eval_dir = stage
            .last
            .0
            .drives
            .first()
            .and_then(|d| d.recording.as_ref())
            .and_then(|p| p.parent().map(Path::to_path_buf));
        if let Some(dir) = eval_dir {
            let _ = writeln!(
                r,
                "\n![the mixture on entering junctions, exits marked]({})\n",
                rel(&dir.join(JUNCTIONS_PNG))
            );
        }
        let _ = writeln!(r, "{}", entries_summary(&entries));
    }
    if let Some(gif) = &stage.gif {
        let _ = writeln!(
            r,
            "\n![the final policy through a junction: camera with its mixture (blue), applied (white) and expert (green) curvature, and the map it reads]({})\n",
            rel(gif)
        );
    }
    r
}
