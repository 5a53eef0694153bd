//! The closed loop: metrics on hand-made drives, scripted pilots in a world without rendering,
//! and a short run of the whole loop (expert data, training, DAgger, evaluation) on lavapipe.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use steerlab::drive::dagger::{self, DaggerObserver, DaggerOptions};
use steerlab::drive::metrics::combine;
use steerlab::drive::{
    DriveOptions, DriveSums, InterventionRule, Pilot, Supervision, TickOutcome, Verdict, drive,
};
use steerlab::nn::ModelConfig;
use steerlab::nn::SteeringDistribution;
use steerlab::nn::data::dataset::Dataset;
use steerlab::nn::train::steering::{Quiet, TrainObserver};
use steerlab::sim::Crash;
use steerlab::sim::scenario::{Placement, Prop, PropKind, Repeat};
use steerlab::sim::{Action, Scenario};
use steerlab::world::{Env, EnvOptions};

fn outcome(offset: f64, curvature: f64) -> TickOutcome<'static> {
    TickOutcome {
        dt_s: 0.05,
        distance_m: 0.5,
        lateral_offset_m: offset,
        heading_error_rad: 0.01,
        crash: None,
        applied_curvature_per_m: curvature,
        expert_curvature_per_m: 0.0,
        distribution: None,
        speed: None,
    }
}

#[test]
fn known_interventions_give_the_known_autonomy() {
    // 120 s of driving (2,400 ticks of 50 ms), two excursions past 1 m: (1 − 2·6/120)·100 = 90 %.
    let mut tally = DriveSums::new(Supervision::default());
    let mut interventions = 0;
    for i in 0..2400 {
        let offset = if i == 500 || i == 1500 { 1.3 } else { 0.2 };
        interventions +=
            (tally.tick(&outcome(offset, 0.01 * (i % 2) as f64)) == Verdict::Intervene) as u32;
    }
    let m = tally.metrics();
    assert_eq!(interventions, 2);
    assert_eq!(m.interventions, 2);
    assert!((m.autonomy_pct - 90.0).abs() < 1e-9, "{}", m.autonomy_pct);
    assert!((m.distance_km - 1.2).abs() < 1e-9);
    assert!((m.interventions_per_km - 2.0 / 1.2).abs() < 1e-9);
    assert!((m.max_abs_offset_m - 1.3).abs() < 1e-12);
    // Curvature alternates by 0.01 every 50 ms: |dκ/dt| = 0.2 except after an intervention.
    assert!(
        (m.whiteness_per_m_s - 0.2).abs() < 1e-9,
        "{}",
        m.whiteness_per_m_s
    );
    assert_eq!(m.crashes, 0);
    assert_eq!(m.expert_nll, None);
}

fn oval() -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/oval.ron");
    let mut s = Scenario::load(&path).unwrap();
    s.episode_steps = 2000;
    s
}

fn states_only(scenario: Scenario) -> Env {
    Env::new(
        scenario,
        EnvOptions {
            agents: 1,
            render: false,
            ..EnvOptions::default()
        },
    )
    .unwrap()
}

fn options(ticks: u64) -> DriveOptions {
    DriveOptions {
        distance_m: f64::INFINITY,
        max_ticks: ticks,
        seed: 3,
        supervision: Supervision::default(),
        record: None,
        episode: 0,
        localise: None,
    }
}

/// A pilot that never steers, at the expert's speed: it leaves the road in every bend.
fn drive_straight(env: &mut Env, options: &DriveOptions) -> steerlab::drive::Drive {
    let mut straight =
        |obs: &steerlab::world::Observation| Action::new(0.0, obs.info.expert_action.speed_m_s);
    drive(
        env,
        &mut Pilot::Custom(&mut straight),
        options,
        &mut |_, _| {},
    )
    .unwrap()
}

#[test]
fn a_pilot_that_always_takes_the_experts_action_has_full_autonomy() {
    let mut env = states_only(oval());
    let mut expert = |obs: &steerlab::world::Observation| obs.info.expert_action;
    let d = drive(
        &mut env,
        &mut Pilot::Custom(&mut expert),
        &options(1500),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(d.metrics.interventions, 0);
    assert_eq!(d.metrics.autonomy_pct, 100.0);
    assert!(d.metrics.distance_km > 0.3, "{}", d.metrics.distance_km);
    assert!(d.metrics.mean_abs_offset_m < 0.3);
}

/// DART noise correlated over a second takes the expert's car several times further off its
/// line than white noise of the same size, into the offsets a learner drifts to, and the
/// expert brings it back while still in its lane's half of the road.
#[test]
fn correlated_dart_noise_wanders_off_the_line_and_back() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/town_traffic.ron");
    let offsets = |correlation_s: f64| {
        let mut env = states_only(Scenario::load(&path).unwrap());
        let unsupervised = DriveOptions {
            supervision: Supervision::SafetyDriver(InterventionRule {
                max_offset_m: f64::INFINITY,
                ..InterventionRule::default()
            }),
            ..options(2000)
        };
        let d = drive(
            &mut env,
            &mut Pilot::Expert(steerlab::sim::DartNoise {
                std_per_m: 0.03,
                correlation_s: correlation_s,
                speed_m_s: 0.0,
                ..steerlab::sim::DartNoise::NONE
            }),
            &unsupervised,
            &mut |_, _| {},
        )
        .unwrap();
        let mut offsets: Vec<f64> = d.path.iter().map(|p| p.lateral_offset_m.abs()).collect();
        offsets.sort_by(f64::total_cmp);
        (offsets[offsets.len() * 9 / 10], offsets[offsets.len() - 1])
    };
    let (white, _) = offsets(0.0);
    let (p90, max) = offsets(1.0);
    assert!(p90 > 2.0 * white, "p90 |offset|: {p90} vs white {white}");
    assert!(p90 > 0.3 && max < 1.6, "p90 {p90}, max {max}");
}

#[test]
fn driving_straight_on_a_curved_track_calls_for_interventions() {
    let mut env = states_only(oval());
    let d = drive_straight(&mut env, &options(1500));
    assert!(d.metrics.interventions >= 2, "{:?}", d.metrics);
    assert!(d.metrics.autonomy_pct < 90.0);
    assert_eq!(d.interventions.len(), d.metrics.interventions as usize);
}

struct Silent(Quiet);
impl DaggerObserver for Silent {
    fn trainer(&mut self) -> &mut dyn TrainObserver {
        &mut self.0
    }
}

#[test]
fn the_whole_loop_runs_and_dagger_keeps_every_earlier_sample() {
    let out = std::env::temp_dir().join(format!("steerlab-dagger-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let scenario = oval();
    let options = DaggerOptions {
        train_scenarios: vec![scenario.clone()],
        eval_scenarios: vec![scenario.clone()],
        iterations: 1,
        ticks: 60,
        bc_ticks: 60,
        noise: steerlab::sim::DartNoise::white(0.02),
        beta0: 0.5,
        config: ModelConfig::preset("pilotnet").unwrap(),
        epochs: 1,
        retrain_epochs: 1,
        eval_km: 0.03,
        validation_ticks: 40,
        calibration_scenarios: vec![scenario.clone()],
        calibration_ticks: 40,
        rule: InterventionRule::default(),
        out: out.clone(),
        seed: 1,
        randomise: None,
        gps: None,
        evaluate: dagger::Evaluate::Every,
        resume: false,
        expert_speed: false,
    };
    let (iterations, last) =
        dagger::run(&options, &mut Silent(Quiet), &AtomicBool::new(false)).unwrap();
    assert_eq!(iterations.len(), 2);
    // Iteration 1 trained on both iterations' frames: 61 recorded ticks each; both validated
    // on the same 41 frames of the validation episode, which neither trained on.
    assert_eq!(iterations[0].frames_total, 61);
    assert_eq!(iterations[1].frames_total, 122);
    assert_eq!(iterations[0].samples, 61);
    assert_eq!(iterations[1].samples, 122);
    assert_eq!(iterations[0].validation_samples, 41);
    assert_eq!(iterations[1].validation_samples, 41);
    let validation = Dataset::load(&[dagger::validation_dir(&out)]).unwrap();
    assert_eq!(validation.samples.len(), 41);
    // Each model drove the scenario itself (40 ticks) and got a factor on its deviations,
    // written into its config.
    for (i, it) in iterations.iter().enumerate() {
        assert_eq!(it.recalibration.before.count(), 40);
        let config: steerlab::nn::ModelConfig = serde_json::from_str(
            &std::fs::read_to_string(dagger::model_dir(&out, i).join("config.json")).unwrap(),
        )
        .unwrap();
        assert!((config.steering.std_scale - it.recalibration.factor).abs() < 1e-12);
        assert!(dagger::calibration_dir(&out, i).join("oval.mcap").is_file());
    }
    let all = Dataset::load(&[dagger::data_dir(&out, 0), dagger::data_dir(&out, 1)]).unwrap();
    assert_eq!(all.samples.len(), 122);
    // The learner drove about half of iteration 1's ticks (β₁ = 0.5).
    assert!(iterations[1].learner_ticks > 10 && iterations[1].learner_ticks < 50);
    // Each iteration was evaluated and left its files.
    for i in 0..2 {
        assert!(
            dagger::model_dir(&out, i)
                .join("model.safetensors")
                .is_file()
        );
        let eval = out.join("eval").join(format!("iter{i}"));
        for f in [
            "eval.json",
            "eval.md",
            "pit.png",
            "oval_map.png",
            "oval.mcap",
        ] {
            assert!(eval.join(f).is_file(), "{}", eval.join(f).display());
            assert!(eval.join("free").join(f).is_file(), "free/{f}");
        }
        assert_eq!(
            iterations[i].eval_free.as_ref().unwrap().supervision,
            Supervision::Free
        );
    }
    assert!(last.0.overall.distance_km > 0.0);
    assert!(last.0.overall.expert_nll.is_some());
    assert_eq!(
        last.0.overall.scored_ticks,
        last.0.overall.calibration.count()
    );
    for f in ["dagger.md", "dagger.json", "dagger.png"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    std::fs::remove_dir_all(&out).ok();
}

/// A drive's metrics from `ticks` ticks, the first `scored` of them with a unit Gaussian policy
/// whose expert action is at `z` standard deviations, curvature stepping by `step` each tick.
fn drive_metrics(ticks: usize, scored: usize, z: f64, step: f64) -> steerlab::drive::Metrics {
    let policy = SteeringDistribution::new(&[1.0], &[0.0], &[0.01]).unwrap();
    let mut tally = DriveSums::new(Supervision::default());
    for i in 0..ticks {
        let mut o = outcome(0.1, step * i as f64);
        o.expert_curvature_per_m = z * 0.01;
        if i < scored {
            o.distribution = Some(&policy);
        }
        tally.tick(&o);
    }
    tally.metrics()
}

#[test]
fn combined_means_are_weighted_by_what_they_average() {
    // NLL of a unit Gaussian at z: ½z² + ln σ + ln √(2π). Drive A: 100 ticks, 10 scored at
    // z = 0; drive B: 20 ticks, all scored at z = 2.5. Over the 30 scored ticks the NLL is
    // n0 + (20/30)·½·2.5² with n0 = ln σ + ½ ln 2π (weighting by all ticks instead would give
    // n0 + (20/120)·½·2.5²).
    let a = drive_metrics(100, 10, 0.0, 0.0);
    let b = drive_metrics(20, 20, 2.5, 0.001);
    let all = combine(&[a.clone(), b.clone()]);
    let n0 = 0.01f64.ln() + 0.5 * (2.0 * std::f64::consts::PI).ln();
    assert_eq!(all.scored_ticks, 30);
    let expected = n0 + 20.0 / 30.0 * 0.5 * 2.5 * 2.5;
    assert!(
        (all.expert_nll.unwrap() - expected).abs() < 1e-9,
        "{:?}",
        all.expert_nll
    );
    // Coverage: z = 0 is inside both intervals, z = 2.5 inside neither.
    assert_eq!(all.calibration.inside_1_sigma, 10);
    assert!((all.coverage_1_sigma.unwrap() - 10.0 / 30.0).abs() < 1e-12);
    // Whiteness: A steers steadily (0 over 99 rate ticks), B steps 0.001 per 50 ms (0.02 over
    // 19): (99·0 + 19·0.02) / 118, not weighted by the 120 ticks.
    assert_eq!(all.rate_ticks, 118);
    assert!((all.whiteness_per_m_s - 19.0 * 0.02 / 118.0).abs() < 1e-12);
    assert!((b.whiteness_per_m_s - 0.02).abs() < 1e-12);
    // Offsets are per tick; distance and ticks add up.
    assert_eq!(all.ticks, 120);
    assert!((all.distance_km - 0.06).abs() < 1e-12);
}

#[test]
fn without_a_safety_driver_the_drive_ends_at_the_first_crash() {
    let mut env = states_only(oval());
    let mut free = options(1500);
    free.supervision = Supervision::Free;
    let d = drive_straight(&mut env, &free);
    let m = &d.metrics;
    let first = m.first_crash.expect("driving straight leaves the oval");
    assert_eq!(first.cause, Crash::OffRoad);
    assert_eq!(m.crashes, 1);
    assert_eq!(m.interventions, 0);
    assert!(m.ticks < 1500, "the drive stopped at the crash");
    assert!((first.distance_m - m.distance_km * 1000.0).abs() < 1e-9);
    assert!((first.time_s - m.elapsed_s).abs() < 1e-9);
    assert_eq!(m.km_per_crash(), Some(m.distance_km));
    // A wheel leaves the 7 m road when the centre is 2.6 m out (1.8 m wide body, or less
    // with a heading error): before the 3.5 m the centre-line rule would have waited for.
    assert!(m.max_abs_offset_m < 3.5, "{}", m.max_abs_offset_m);
}

#[test]
fn crashes_happen_under_a_safety_driver_on_a_narrow_road_and_on_props() {
    // A 3.2 m road: a 1.8 m car's wheels leave it 0.7 m off the centreline, before the safety
    // driver's 1 m. Driving straight leaves it in every bend.
    let mut narrow = oval();
    narrow.road.width_m = 3.2;
    let mut env = states_only(narrow);
    let d = drive_straight(&mut env, &options(1500));
    assert!(d.metrics.interventions >= 1, "{:?}", d.metrics);
    assert!(
        d.metrics.crashes >= d.metrics.interventions,
        "{:?}",
        d.metrics
    );
    assert_eq!(d.crashes.len(), d.metrics.crashes as usize);
    // Cones on the centreline all round: the expert follows the centreline into one.
    let mut coned = oval();
    let length = coned.build_track().unwrap().length_m();
    coned.props = vec![Prop {
        kind: PropKind::Cone,
        at: Placement::Track {
            s_m: 0.0,
            offset_m: 0.0,
        },
        yaw_deg: 0.0,
        repeat: Some(Repeat {
            count: 20,
            spacing_m: length / 20.0,
        }),
    }];
    let mut env = states_only(coned);
    let mut free = options(1500);
    free.supervision = Supervision::Free;
    let d = drive(
        &mut env,
        &mut Pilot::Expert(steerlab::sim::DartNoise::NONE),
        &free,
        &mut |_, _| {},
    )
    .unwrap();
    let first = d.metrics.first_crash.expect("a cone in the way");
    assert_eq!(first.cause, Crash::Prop(PropKind::Cone));
    assert!(
        first.distance_m < length / 20.0 + 5.0,
        "{}",
        first.distance_m
    );
}

/// The small town's file, and a free drive of 600 m there (5 000 ticks at most).
fn small_town_free_600m() -> (PathBuf, DriveOptions) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/town_small.ron");
    let free = DriveOptions {
        distance_m: 600.0,
        max_ticks: 5000,
        supervision: Supervision::Free,
        ..options(0)
    };
    (path, free)
}

#[test]
fn route_completion_ends_a_free_town_drive_at_its_first_departure_or_crash() {
    let (path, free) = small_town_free_600m();
    // The expert keeps to its route: all of it is driven.
    let mut env = states_only(Scenario::load(&path).unwrap());
    let mut expert = |obs: &steerlab::world::Observation| obs.info.expert_action;
    let d = drive(
        &mut env,
        &mut Pilot::Custom(&mut expert),
        &free,
        &mut |_, _| {},
    )
    .unwrap();
    let m = &d.metrics;
    assert_eq!((m.left_route, m.crashes), (0, 0), "{m:?}");
    assert!((m.route_planned_km - 0.6).abs() < 0.01, "{m:?}");
    assert_eq!(m.route_completion_pct(), Some(100.0));
    // A pilot that never steers leaves the route (or the road) at the first bend or junction:
    // its drive ends there, short of the 600 m planned.
    let mut env = states_only(Scenario::load(&path).unwrap());
    let s = drive_straight(&mut env, &free).metrics;
    assert_eq!(s.left_route + s.crashes, 1, "{s:?}");
    assert!((s.route_planned_km - 0.6).abs() < 1e-9, "{s:?}");
    let pct = s.route_completion_pct().unwrap();
    assert!(
        pct < 100.0 && (pct - 100.0 * s.distance_km / 0.6).abs() < 1e-6,
        "{s:?}"
    );
    // Combined, the distances add up; the table shows it.
    let both = steerlab::drive::metrics::combine(&[m.clone(), s.clone()]);
    assert!((both.route_planned_km - 1.2).abs() < 0.01);
    let table = steerlab::drive::eval::route_table(&[("town".into(), both)]);
    assert!(table.contains("| town | 1.20 |"), "{table}");
    // With a safety driver there is no route completion; each takeover is counted where it
    // happened on the route, and the junction table shows the counts.
    let mut env = states_only(Scenario::load(&path).unwrap());
    let supervised = DriveOptions {
        distance_m: 300.0,
        ..options(5000)
    };
    let m = drive_straight(&mut env, &supervised).metrics;
    assert_eq!(m.route_completion_pct(), None);
    let p = m.intervention_places;
    assert!(m.interventions >= 1, "{m:?}");
    assert_eq!(p.road + p.approach + p.junction, m.interventions, "{m:?}");
    let table = steerlab::drive::eval::junction_table(&[("town".into(), m.clone())]);
    let cell = format!("| {} / {} / {} |", p.road, p.approach, p.junction);
    assert!(table.contains(&cell), "{table}");
}

/// A car that stands still for a minute has stalled: its drive ends there as a failure with
/// the place it stood; a drive whose ticks run out before its distance has timed out, and
/// neither completes its route.
#[test]
fn a_stalled_or_timed_out_drive_is_a_failure_not_a_completed_route() {
    let (path, free) = small_town_free_600m();
    // Stops after 50 m and never moves again.
    let mut env = states_only(Scenario::load(&path).unwrap());
    let mut stopper = |obs: &steerlab::world::Observation| {
        let a = obs.info.expert_action;
        let speed = if obs.state.stats.distance_m > 50.0 {
            0.0
        } else {
            a.speed_m_s
        };
        Action::new(a.curvature_per_m, speed)
    };
    let d = drive(
        &mut env,
        &mut Pilot::Custom(&mut stopper),
        &free,
        &mut |_, _| {},
    )
    .unwrap();
    let m = &d.metrics;
    assert_eq!(m.stalls, 1, "{m:?}");
    let why = m.stall.as_deref().unwrap();
    assert!(
        why.starts_with("stood still for 60 s, ") && why.contains("junction"),
        "{why}"
    );
    // It stood for a minute after stopping, not for the rest of its 5000 ticks.
    assert!(m.elapsed_s < 90.0, "{m:?}");
    assert!(m.route_completion_pct().unwrap() < 15.0, "{m:?}");
    let table = steerlab::drive::eval::metrics_table(&[("town".into(), m.clone())]);
    assert!(
        table.contains("**town stalled** (a failure): stood still"),
        "{table}"
    );
    // Crawling at 1 m/s, 200 ticks cover 10 m of the 600 planned: out of time, 1.7 %.
    let mut env = states_only(Scenario::load(&path).unwrap());
    let mut crawler = |obs: &steerlab::world::Observation| {
        Action::new(obs.info.expert_action.curvature_per_m, 1.0)
    };
    let slow = DriveOptions {
        max_ticks: 200,
        ..free.clone()
    };
    let m = drive(
        &mut env,
        &mut Pilot::Custom(&mut crawler),
        &slow,
        &mut |_, _| {},
    )
    .unwrap()
    .metrics;
    assert_eq!((m.timed_out, m.stalls), (1, 0), "{m:?}");
    assert!(m.route_completion_pct().unwrap() < 5.0, "{m:?}");
}

#[test]
fn a_tiny_town_dagger_run_trains_a_routed_navnet_on_map_patches() {
    use steerlab::sim::map_input::MapMode;
    let out = crate::tempdir("town-dagger");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/town_small.ron");
    let town = Scenario::load(&path).unwrap();
    let mut config = ModelConfig::navnet(MapMode::Routed);
    config.input.width = town.camera.width_px as usize;
    config.input.height = town.camera.height_px as usize;
    let options = DaggerOptions {
        train_scenarios: vec![town.clone()],
        eval_scenarios: vec![town.clone()],
        iterations: 1,
        ticks: 60,
        bc_ticks: 60,
        noise: steerlab::sim::DartNoise::white(0.02),
        beta0: 0.5,
        config,
        epochs: 1,
        retrain_epochs: 1,
        eval_km: 0.05,
        validation_ticks: 30,
        calibration_scenarios: vec![town.clone()],
        calibration_ticks: 30,
        rule: InterventionRule::default(),
        out: out.clone(),
        seed: 2,
        randomise: None,
        gps: None,
        evaluate: dagger::Evaluate::Last,
        resume: false,
        expert_speed: false,
    };
    let (iterations, last) =
        dagger::run(&options, &mut Silent(Quiet), &AtomicBool::new(false)).unwrap();
    assert_eq!(iterations.len(), 2);
    // Only the last iteration was evaluated.
    assert!(iterations[0].eval.is_none() && iterations[0].eval_free.is_none());
    assert!(iterations[1].eval.is_some() && iterations[1].eval_free.is_some());
    assert!(!out.join("eval").join("iter0").exists());
    // Every training frame came with the routed patch the network read beside it.
    let data = Dataset::load(&[dagger::data_dir(&out, 0), dagger::data_dir(&out, 1)]).unwrap();
    assert_eq!(data.samples.len(), 122);
    assert!(data.samples.iter().all(|s| s.map_png.is_some()));
    let model =
        <steerlab::nn::Model as steerlab::nn::ModelDir>::load(&dagger::model_dir(&out, 1)).unwrap();
    assert_eq!(model.config.map_channels(), 2);
    // The final model drove the town itself with its map; its drive is recorded with it.
    let drive = &last.0.drives[0];
    assert!(drive.policy_ticks > 0 && drive.metrics.distance_km > 0.04);
    let recording =
        steerlab::record::EpisodeReader::open(drive.recording.as_ref().unwrap()).unwrap();
    assert!(recording.steps(false).unwrap().all(|s| s.map_png.is_some()));
}

#[test]
fn a_drive_of_an_evaluation_depends_on_its_scenario_alone() {
    use steerlab::drive::eval::{EvalOptions, evaluate};
    use steerlab::drive::{Choice, Policy};
    use steerlab::nn::{Model, ModelDir};
    let dir = crate::tempdir("eval-side-by-side");
    let model_dir = dir.join("model");
    Model::new(ModelConfig::preset("pilotnet").unwrap(), 5)
        .unwrap()
        .save(&model_dir)
        .unwrap();
    // A sampling policy: its random stream would carry from one drive into the next if drives
    // shared it.
    let policy = Policy::load(&model_dir, Choice::Sample, 0).unwrap();
    let mut winding =
        Scenario::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/winding.ron"))
            .unwrap();
    winding.episode_steps = 200;
    let scenarios = vec![oval(), winding];
    let run = |scenarios: Vec<Scenario>, out: &str, policy: &Policy| {
        let options = EvalOptions {
            scenarios,
            km: 0.05,
            out: dir.join(out),
            seed: 4,
            supervision: Supervision::default(),
            gps: None,
            localise: None,
        };
        evaluate(Some(policy), &options, &mut |_, _, _| {}).unwrap()
    };
    // Side by side (one world per core), then each alone: the same drives.
    let both = run(scenarios.clone(), "both", &policy);
    for (k, scenario) in scenarios.into_iter().enumerate() {
        let alone = run(vec![scenario], &format!("alone{k}"), &policy);
        let (a, b) = (&both.drives[k].metrics, &alone.drives[0].metrics);
        assert_eq!(a.ticks, b.ticks, "drive {k}");
        assert_eq!(a.mean_abs_offset_m, b.mean_abs_offset_m, "drive {k}");
        assert_eq!(a.expert_nll, b.expert_nll, "drive {k}");
    }
}

#[test]
fn a_free_drive_copied_from_an_untouched_supervised_one_is_the_drive_itself() {
    use steerlab::drive::eval::{EvalOptions, evaluate, evaluate_supervised_and_free};
    use steerlab::drive::{Choice, Policy};
    use steerlab::nn::{Model, ModelDir};
    let dir = crate::tempdir("eval-free-copied");
    let model_dir = dir.join("model");
    Model::new(ModelConfig::preset("pilotnet").unwrap(), 5)
        .unwrap()
        .save(&model_dir)
        .unwrap();
    let options = |out: &str, supervision| EvalOptions {
        scenarios: vec![oval()],
        km: 0.15,
        out: dir.join(out),
        seed: 4,
        supervision,
        gps: None,
        localise: None,
    };
    // The expert never needs the safety driver (its free drive is copied); an untrained
    // network does (its free drive is driven). Either way the free evaluation is the one a
    // free drive of its own gives, files included.
    for (name, policy) in [
        ("expert", None),
        (
            "untrained",
            Some(Policy::load(&model_dir, Choice::Mode, 0).unwrap()),
        ),
    ] {
        let supervised = options(&format!("{name}/supervised"), Supervision::default());
        let free_dir = dir.join(name).join("free");
        let (with, free) = evaluate_supervised_and_free(
            policy.as_ref(),
            &supervised,
            &free_dir,
            &mut |_, _, _| {},
        )
        .unwrap();
        let alone = evaluate(
            policy.as_ref(),
            &options(&format!("{name}/alone"), Supervision::Free),
            &mut |_, _, _| {},
        )
        .unwrap();
        let interventions = with.drives[0].metrics.interventions;
        assert_eq!(
            interventions == 0,
            name == "expert",
            "{name}: {interventions}"
        );
        assert_eq!(
            serde_json::to_value(&free.drives[0].metrics).unwrap(),
            serde_json::to_value(&alone.drives[0].metrics).unwrap(),
            "{name}"
        );
        let bytes = |e: &steerlab::drive::eval::Evaluation| {
            std::fs::read(e.drives[0].recording.as_ref().unwrap()).unwrap()
        };
        assert!(bytes(&free) == bytes(&alone), "{name}: recordings differ");
        assert!(free_dir.join("oval_map.png").is_file() && free_dir.join("eval.json").is_file());
    }
}
