//! `evaluate`: the policy drives each scenario in closed loop for a set distance; per-scenario
//! and overall metrics, a map of each drive, and the drives recorded for replay.

use crate::drive::closed_loop::{Drive, DriveOptions, Pilot, drive};
use crate::drive::junctions::{JunctionEntry, Passages, entries_figure, entries_summary};
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
use figures::pit_histograms;
pub use figures::track_map;

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
        None => Pilot::Expert {
            noise_std_per_m: 0.0,
            noise_correlation_s: 0.0,
            speed_noise_m_s: 0.0,
        },
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
    let text = serde_json::to_string_pretty(&evaluation).map_err(|e| Error::Output {
        path: json.clone(),
        message: e.to_string(),
    })?;
    crate::files::write_atomic(&json, text.as_bytes())?;
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

/// What a policy that set its own speed did with it (empty for one that did not): the mean
/// |chosen − expert| target speed and the calibration of its speed mixture.
pub fn speed_line(m: &Metrics) -> String {
    let Some(error) = m.mean_abs_speed_error_m_s else {
        return String::new();
    };
    let pct = |v: Option<f64>| v.map_or("–".into(), |v| format!("{:.0} %", v * 100.0));
    format!(
        "Target speed against the expert's over {} ticks: mean |chosen − expert| {error:.2} m/s; \
         expert speeds inside the speed mixture's 68 % / 95 % intervals: {} / {} (calibrated: \
         68 % / 95 %).\n",
        m.speed_calibration.count(),
        pct(m.speed_coverage_1_sigma),
        pct(m.speed_coverage_2_sigma),
    )
}

/// The policy's mixture at junction entries beside the exits' curvatures (towns).
pub const JUNCTIONS_PNG: &str = "junctions.png";

/// What a drive on the car's own localisation reports of it.
pub fn localisation_line(l: &ErrorStats) -> String {
    format!(
        "\nThe car drove on its own localisation (its map cut at its filter's estimate): \
         position error median {:.2} m, 95th percentile {:.2} m; heading error median {:.1}°, \
         95th percentile {:.1}°.\n",
        l.median_m, l.p95_m, l.median_deg, l.p95_deg
    )
}

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

/// The name of a GPS error in tables: `true pose` or `σ 5 m / 3°`.
pub fn gps_label(gps: Option<GpsNoise>) -> String {
    match gps {
        None => "true pose".into(),
        Some(g) => format!("σ {} m / {}°", g.position_m, g.heading_deg),
    }
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

/// Driving by GPS error, one row per level, from the same metrics as `eval.md`: autonomy,
/// interventions and crashes per km, junction success by manoeuvre, route completion (drives
/// without a safety driver) and calibration.
pub fn gps_table(rows: &[(String, Metrics)]) -> String {
    let cell = |p: Passages| match p.success_pct() {
        Some(pct) => format!("{pct:.0} % ({}/{})", p.successes, p.attempts),
        None => "–".into(),
    };
    let mut t = String::from(
        "| GPS error | autonomy | interventions per km | crashes per km | junctions: left | straight | right | all | route completion | in 68 % / 95 % interval |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (name, m) in rows {
        let j = &m.junctions;
        let calibration = match (m.coverage_1_sigma, m.coverage_2_sigma) {
            (Some(a), Some(b)) => format!("{:.0} % / {:.0} %", a * 100.0, b * 100.0),
            _ => "–".into(),
        };
        let crashes_per_km = if m.distance_km > 0.0 {
            format!("{:.2}", m.crashes as f64 / m.distance_km)
        } else {
            "–".into()
        };
        t.push_str(&format!(
            "| {name} | {:.1} % | {:.2} | {crashes_per_km} | {} | {} | {} | {} | {} | {calibration} |\n",
            m.autonomy_pct,
            m.interventions_per_km,
            cell(j.left),
            cell(j.straight),
            cell(j.right),
            cell(j.all()),
            m.route_completion_pct()
                .map_or("–".into(), |p| format!("{p:.1} %")),
        ));
    }
    t
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

/// A Markdown table of metrics, one row per name: interventions and autonomy with a safety
/// driver, the first crash without one (the supervision of the first row decides).
pub fn metrics_table(rows: &[(String, Metrics)]) -> String {
    let free = rows
        .first()
        .is_some_and(|(_, m)| m.supervision == Supervision::Free);
    let mut t = String::from(if free {
        "| | km driven | crashes | first crash | km per crash | mean abs offset (m) | max abs offset (m) | whiteness (1/m/s) | expert NLL | in 68 % / 95 % interval | ECE |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n"
    } else {
        "| | autonomy | interventions | per km | km | mean abs offset (m) | max abs offset (m) | mean abs heading (°) | crashes | whiteness (1/m/s) | expert NLL | in 68 % / 95 % interval | ECE |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    });
    for (name, m) in rows {
        let opt = |v: Option<f64>, digits: usize| match v {
            Some(v) => format!("{v:.digits$}"),
            None => "–".into(),
        };
        let calibration = match (m.coverage_1_sigma, m.coverage_2_sigma) {
            (Some(a), Some(b)) => format!("{:.0} % / {:.0} %", a * 100.0, b * 100.0),
            _ => "–".into(),
        };
        let scores = format!(
            "{} | {calibration} | {}",
            opt(m.expert_nll, 2),
            opt(m.calibration_error, 3)
        );
        if free {
            let first = match m.first_crash {
                Some(c) => format!("{} after {:.0} m, {:.1} s", c.cause, c.distance_m, c.time_s),
                None if m.crashes == 0 => "none".into(),
                None => "–".into(),
            };
            t.push_str(&format!(
                "| {name} | {:.2} | {} | {first} | {} | {:.3} | {:.2} | {:.3} | {scores} |\n",
                m.distance_km,
                m.crashes,
                match m.km_per_crash() {
                    Some(v) => format!("{v:.2}"),
                    None => format!("> {:.2}", m.distance_km),
                },
                m.mean_abs_offset_m,
                m.max_abs_offset_m,
                m.whiteness_per_m_s,
            ));
        } else {
            t.push_str(&format!(
                "| {name} | {:.1} % | {} | {:.2} | {:.2} | {:.3} | {:.2} | {:.2} | {} | {:.3} | {scores} |\n",
                m.autonomy_pct,
                m.interventions,
                m.interventions_per_km,
                m.distance_km,
                m.mean_abs_offset_m,
                m.max_abs_offset_m,
                m.mean_abs_heading_error_rad.to_degrees(),
                m.crashes,
                m.whiteness_per_m_s,
            ));
        }
    }
    t.push_str(&junction_table(rows));
    t.push_str(&route_table(rows));
    t.push_str(&stall_notes(rows));
    t
}

/// Drives that stalled or ran out of time, which count as failures whatever their autonomy.
pub fn stall_notes(rows: &[(String, Metrics)]) -> String {
    let mut t = String::new();
    for (name, m) in rows {
        if let Some(why) = &m.stall {
            let name = name.replace('*', "");
            t.push_str(&format!("\n**{name} stalled** (a failure): {why}.\n"));
        }
        if m.timed_out > 0 {
            t.push_str(&format!(
                "\n**{name} ran out of time** (a failure): {} drive(s) ended before their distance.\n",
                m.timed_out
            ));
        }
    }
    t
}

/// Route completion of free drives in towns, when there are any.
pub fn route_table(rows: &[(String, Metrics)]) -> String {
    if rows.iter().all(|(_, m)| m.route_planned_km == 0.0) {
        return String::new();
    }
    let mut t = String::from(
        "\nRoute completion: each drive ends at its first crash or its first departure from the \
         route (off its lane for 15 m), when it stalls (stands still for a minute) or when its \
         time runs out\n\n| | planned km | driven km | route completion | \
         ended off the route | ended in a crash | stalled | out of time |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for (name, m) in rows {
        t.push_str(&format!(
            "| {name} | {:.2} | {:.2} | {} | {} | {} | {} | {} |\n",
            m.route_planned_km,
            m.route_completed_km,
            m.route_completion_pct()
                .map_or("–".into(), |p| format!("{p:.1} %")),
            m.left_route,
            m.crashes,
            m.stalls,
            m.timed_out
        ));
    }
    t
}

/// Junction success by manoeuvre (passages that left on the route's road / passages), when
/// any drive went through a junction.
pub fn junction_table(rows: &[(String, Metrics)]) -> String {
    if rows.iter().all(|(_, m)| m.junctions.all().attempts == 0) {
        return String::new();
    }
    let cell = |p: Passages| match p.success_pct() {
        Some(pct) => format!("{}/{} ({pct:.0} %)", p.successes, p.attempts),
        None => "–".into(),
    };
    let mut t = String::from(
        "\nJunctions: passages that left on the route's road / passages; where the safety driver \
         took over: on a road, on the approach to a junction (its last 30 m, where the command \
         names the manoeuvre) or inside one\n\n\
         | | left | straight | right | u-turn | all | interventions: road / approach / junction |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for (name, m) in rows {
        let j = &m.junctions;
        let p = &m.intervention_places;
        t.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} / {} / {} |\n",
            cell(j.left),
            cell(j.straight),
            cell(j.right),
            cell(j.u_turn),
            cell(j.all()),
            p.road,
            p.approach,
            p.junction
        ));
    }
    t
}
