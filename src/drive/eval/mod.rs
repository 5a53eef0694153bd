//! `evaluate`: the policy drives each scenario in closed loop for a set distance; per-scenario
//! and overall metrics, a map of each drive, and the drives recorded for replay.

use crate::drive::closed_loop::{Drive, DriveOptions, Pilot, drive};
use crate::drive::junctions::{JunctionEntry, entries_summary};
use crate::drive::localise::{ErrorStats, OwnLocalisation};
use crate::drive::metrics::{Metrics, Supervision, combine};
use crate::drive::policy::Policy;
use crate::error::{Error, Result};
use crate::sim::map_input::{GpsNoise, MapOptions};
use crate::sim::{Scenario, Track};
use crate::world::{Env, EnvOptions};
use serde::Serialize;
use std::path::{Path, PathBuf};

mod figures;
mod tables;
pub use figures::track_map;
use figures::{entries_figure, pit_histograms};
pub use tables::{
    gps_label, gps_table, junction_table, localisation_line, metrics_table, route_table,
    speed_line, stall_notes,
};

/// What to evaluate on and where to write.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    pub scenarios: Vec<Scenario>,
    /// Distance driven on each scenario, km.
    pub km: f64,
    pub out: PathBuf,
    pub seed: u64,
    /// With a safety driver (PilotNet's interventions) or free (each drive ends at its first
    /// crash).
    pub supervision: Supervision,
    /// GPS noise on the pose a policy's map patch is cut at (`None`: the true pose).
    pub gps: Option<GpsNoise>,
    /// The car drives on its own localisation (a filter on noisy odometry, the GPS fix with
    /// `gps`'s error and a lane-pose model's reading of the camera), its map cut there.
    pub localise: Option<OwnLocalisation>,
}

/// Results of an evaluation.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    pub drives: Vec<Drive>,
    pub overall: Metrics,
    /// Driving on its own localisation: the errors of the car's estimate over every tick.
    pub localisation: Option<ErrorStats>,
}

/// The PIT histograms of an evaluation, per scenario and overall.
pub const PIT_PNG: &str = "pit.png";

/// Ticks allowed for `distance_m` on `scenario`: driving at a quarter of cruise speed.
pub fn tick_budget(scenario: &Scenario, distance_m: f64) -> u64 {
    let speed = scenario.vehicle.speed_m_s.max(0.5) / 4.0;
    (distance_m / speed / scenario.dt_s).ceil() as u64 + 1
}

/// Drives every scenario of `options` side by side ([`crate::drive::workers`]), each drive
/// with a fresh copy of the policy in a world of its own, so that its result depends on its
/// scenario alone; the drives in the scenarios' order, each with the track it drove.
fn drive_all(
    policy: Option<&Policy>,
    options: &EvalOptions,
    progress: &mut dyn FnMut(&str, u64, f64),
) -> Result<Vec<(Drive, Track)>> {
    let scenarios = &options.scenarios;
    crate::drive::workers::run(
        scenarios.len(),
        &|k, progress| {
            let mut policy = policy.map(Policy::fresh).transpose()?;
            drive_scenario(policy.as_mut(), &scenarios[k], options, progress)
        },
        &mut |k, t, m| progress(&scenarios[k].name, t, m),
    )
}

/// One drive of an evaluation: the policy (or the expert) on `scenario` for `options.km`,
/// recorded, with its map written; the drive and the track of its world.
fn drive_scenario(
    policy: Option<&mut Policy>,
    scenario: &Scenario,
    options: &EvalOptions,
    progress: &mut dyn FnMut(u64, f64),
) -> Result<(Drive, Track)> {
    let distance_m = options.km * 1000.0;
    let max_ticks = tick_budget(scenario, distance_m);
    let mut scenario = scenario.clone();
    scenario.episode_steps = max_ticks.min(u32::MAX as u64) as u32;
    let name = scenario.name.clone();
    let env_options = EnvOptions {
        render: policy.is_some(),
        // Driving on its own localisation, the car runs its navigation system whatever the
        // policy reads.
        map: policy
            .as_deref()
            .and_then(Policy::map_options)
            .or(options.localise.as_ref().map(|_| MapOptions::default()))
            .map(|m| MapOptions {
                gps: options.gps,
                ..m
            }),
        ..EnvOptions::default()
    };
    let mut env =
        Env::new(scenario, env_options).map_err(|e| e.context(format!("scenario {name}")))?;
    let run = DriveOptions {
        distance_m,
        max_ticks,
        seed: options.seed,
        supervision: options.supervision,
        record: Some(options.out.join(format!("{name}.mcap"))),
        episode: 0,
        localise: options.localise.clone(),
    };
    let mut pilot = match policy {
        Some(policy) => Pilot::Policy(policy),
        None => Pilot::Expert(crate::sim::DartNoise::NONE),
    };
    let result = drive(&mut env, &mut pilot, &run, progress)?;
    let map = options.out.join(format!("{name}_map.png"));
    track_map(&map, env.track(), env.scenario().road.width_m, &result)?;
    Ok((result, env.track().clone()))
}

/// Drives `policy` on every scenario; writes `eval.json`, `eval.md`, `pit.png` (the
/// calibration of its distribution), `<scenario>_map.png` and `<scenario>.mcap` into
/// `options.out`. `progress(scenario, ticks, metres)` follows the drive.
///
/// Without a policy the privileged expert drives (no DART noise, no camera rendered): the
/// baseline that shows a scenario can be driven at all.
pub fn evaluate(
    policy: Option<&Policy>,
    options: &EvalOptions,
    progress: &mut dyn FnMut(&str, u64, f64),
) -> Result<Evaluation> {
    crate::files::create_dir_all(&options.out)?;
    let drives = drive_all(policy, options, progress)?;
    write_evaluation(drives.into_iter().map(|(d, _)| d).collect(), options)
}

/// Drives `policy` with the safety driver of `options` into `options.out`, then without one
/// into `free_out`: the two evaluations. A supervised drive in which the safety
/// driver never acted (no intervention, no crash, never off its route) is its free drive too,
/// since a drive depends on its scenario, seed and actions alone: its figures and files are
/// copied instead of driven again.
pub fn evaluate_supervised_and_free(
    policy: Option<&Policy>,
    options: &EvalOptions,
    free_out: &Path,
    progress: &mut dyn FnMut(&str, u64, f64),
) -> Result<(Evaluation, Evaluation)> {
    crate::files::create_dir_all(&options.out)?;
    let (supervised, tracks): (Vec<Drive>, Vec<Track>) =
        drive_all(policy, options, progress)?.into_iter().unzip();
    let supervised = write_evaluation(supervised, options)?;
    let free_options = EvalOptions {
        out: free_out.to_path_buf(),
        supervision: Supervision::Free,
        ..options.clone()
    };
    crate::files::create_dir_all(&free_options.out)?;
    let supervised_at_all = options.supervision != Supervision::Free;
    let untouched = |d: &Drive| {
        let m = &d.metrics;
        supervised_at_all
            && m.interventions == 0
            && m.crashes == 0
            && m.left_route == 0
            && m.stalls == 0
            && m.timed_out == 0
    };
    let again = EvalOptions {
        scenarios: (supervised.drives.iter())
            .zip(&options.scenarios)
            .filter(|(d, _)| !untouched(d))
            .map(|(_, s)| s.clone())
            .collect(),
        ..free_options.clone()
    };
    let mut driven = drive_all(policy, &again, progress)?.into_iter();
    let mut drives = Vec::with_capacity(supervised.drives.len());
    for ((d, scenario), track) in supervised
        .drives
        .iter()
        .zip(&options.scenarios)
        .zip(&tracks)
    {
        if !untouched(d) {
            drives.push(driven.next().expect("a free drive per touched one").0);
            continue;
        }
        let mut copy = d.clone();
        copy.metrics.supervision = Supervision::Free;
        if scenario.track.is_network() {
            // What the free drive reports in a town: it drove its whole route.
            let m = &mut copy.metrics;
            m.route_completed_km = m.distance_km;
            m.route_planned_km = (options.km).max(m.distance_km);
        }
        if let Some(from) = &d.recording {
            let to = free_options.out.join(format!("{}.mcap", d.scenario));
            std::fs::copy(from, &to).map_err(|e| Error::Output {
                path: to.clone(),
                message: format!("copying {}: {e}", from.display()),
            })?;
            copy.recording = Some(to);
        }
        let map = free_options.out.join(format!("{}_map.png", d.scenario));
        track_map(&map, track, scenario.road.width_m, &copy)?;
        drives.push(copy);
    }
    let free = write_evaluation(drives, &free_options)?;
    Ok((supervised, free))
}

/// The figures and files of the drives of an evaluation into `options.out`: `eval.json`,
/// `eval.md`, `pit.png` and, in towns, `junctions.png`.
fn write_evaluation(drives: Vec<Drive>, options: &EvalOptions) -> Result<Evaluation> {
    let overall = combine(&drives.iter().map(|d| d.metrics.clone()).collect::<Vec<_>>());
    let localisation = options.localise.as_ref().map(|_| {
        let errors: Vec<(f64, f64)> = drives
            .iter()
            .flat_map(|d| d.localisation_errors.iter().copied())
            .collect();
        ErrorStats::of(&errors)
    });
    let evaluation = Evaluation {
        drives,
        overall,
        localisation,
    };
    let rows = evaluation.rows();
    let calibrations: Vec<(String, &crate::nn::Calibration)> = rows
        .iter()
        .filter(|(_, m)| m.scored_ticks > 0)
        .map(|(name, m)| (name.replace('*', ""), &m.calibration))
        .collect();
    if !calibrations.is_empty() {
        pit_histograms(&options.out.join(PIT_PNG), &calibrations)?;
    }
    let json = options.out.join("eval.json");
    crate::files::write_json(&json, &evaluation)?;
    let entries = evaluation.junction_entries();
    if !entries.is_empty() {
        entries_figure(&options.out.join(JUNCTIONS_PNG), &entries)?;
    }
    let mut md = metrics_table(&evaluation.rows());
    if let Some(d) = evaluation.drives.first() {
        md.push_str(&format!("\nSpeed: {}.\n", d.speed.describe()));
    }
    md.push_str(&speed_line(&evaluation.overall));
    md.push_str(&entries_summary(&entries));
    if let Some(l) = &evaluation.localisation {
        md.push_str(&localisation_line(l));
    }
    crate::files::write_atomic(&options.out.join("eval.md"), md.as_bytes())?;
    Ok(evaluation)
}

/// The policy's mixture at junction entries beside the exits' curvatures (towns).
pub const JUNCTIONS_PNG: &str = "junctions.png";

/// The GPS-error table of a sweep, beside the sweep's evaluations.
pub const GPS_MD: &str = "gps.md";

/// The GPS errors the main job's navigation stage reports (σ position m, σ heading °): none,
/// a good receiver, a consumer one, a poor one.
pub const GPS_SWEEP: [(f64, f64); 4] = [(0.0, 0.0), (2.0, 1.0), (5.0, 3.0), (10.0, 5.0)];

/// The GPS error of a sweep level (`None` for the true pose).
pub fn sweep_noise((position_m, heading_deg): (f64, f64)) -> Option<GpsNoise> {
    (position_m > 0.0 || heading_deg > 0.0).then_some(GpsNoise {
        position_m,
        heading_deg,
        correlation_s: crate::sim::map_input::GPS_CORRELATION_S,
    })
}

/// Evaluates `policy` once per GPS error of `levels` (the same scenarios, seed and
/// supervision; each level's drives in `<out>/gps_<σ>m`); [`gps_table`] makes the table by
/// GPS error of the evaluations' own metrics.
pub fn gps_sweep(
    policy: &Policy,
    options: &EvalOptions,
    levels: &[Option<GpsNoise>],
    progress: &mut dyn FnMut(&str, u64, f64),
) -> Result<Vec<(Option<GpsNoise>, Evaluation)>> {
    let mut out = Vec::with_capacity(levels.len());
    for &gps in levels {
        let folder = match gps {
            None => "gps_0m".to_string(),
            Some(g) => format!("gps_{}m", g.position_m),
        };
        let level = EvalOptions {
            gps,
            out: options.out.join(folder),
            ..options.clone()
        };
        out.push((gps, evaluate(Some(policy), &level, progress)?));
    }
    Ok(out)
}

impl Evaluation {
    /// Every drive's junction entries.
    pub fn junction_entries(&self) -> Vec<&JunctionEntry> {
        self.drives
            .iter()
            .flat_map(|d| &d.junction_entries)
            .collect()
    }

    /// Table rows: each scenario, then the overall figures.
    pub fn rows(&self) -> Vec<(String, Metrics)> {
        let mut rows: Vec<(String, Metrics)> = self
            .drives
            .iter()
            .map(|d| (d.scenario.clone(), d.metrics.clone()))
            .collect();
        rows.push(("**all**".into(), self.overall.clone()));
        rows
    }
}
