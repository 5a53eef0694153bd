//! The closed loop: metrics on hand-made drives, scripted pilots in a world without rendering,
//! and a short run of the whole loop (expert data, training, DAgger, evaluation) on lavapipe.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use steerlab::drive::dagger::{self, DaggerObserver, DaggerOptions};
use steerlab::drive::{DriveOptions, InterventionRule, Pilot, Tally, TickOutcome, drive};
use steerlab::nn::ModelConfig;
use steerlab::nn::dataset::Dataset;
use steerlab::nn::train::{Quiet, TrainObserver};
use steerlab::sim::{Action, Scenario};
use steerlab::world::{Env, EnvOptions};

fn outcome(offset: f64, curvature: f64) -> TickOutcome<'static> {
    TickOutcome {
        dt_s: 0.05,
        distance_m: 0.5,
        lateral_offset_m: offset,
        heading_error_rad: 0.01,
        road_half_width_m: 3.5,
        applied_curvature_per_m: curvature,
        expert_curvature_per_m: 0.0,
        distribution: None,
    }
}

#[test]
fn known_interventions_give_the_known_autonomy() {
    // 120 s of driving (2,400 ticks of 50 ms), two excursions past 1 m: (1 − 2·6/120)·100 = 90 %.
    let mut tally = Tally::new(InterventionRule::default());
    let mut interventions = 0;
    for i in 0..2400 {
        let offset = if i == 500 || i == 1500 { 1.3 } else { 0.2 };
        interventions += tally.tick(&outcome(offset, 0.01 * (i % 2) as f64)) as u32;
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
        rule: InterventionRule::default(),
        record: None,
        episode: 0,
    }
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

#[test]
fn driving_straight_on_a_curved_track_calls_for_interventions() {
    let mut env = states_only(oval());
    let mut straight =
        |obs: &steerlab::world::Observation| Action::new(0.0, obs.info.expert_action.speed_m_s);
    let d = drive(
        &mut env,
        &mut Pilot::Custom(&mut straight),
        &options(1500),
        &mut |_, _| {},
    )
    .unwrap();
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
        eval_scenarios: vec![scenario],
        iterations: 1,
        ticks: 60,
        noise_std_per_m: 0.02,
        beta0: 0.5,
        config: ModelConfig::preset("pilotnet").unwrap(),
        epochs: 1,
        retrain_epochs: 1,
        eval_km: 0.03,
        rule: InterventionRule::default(),
        out: out.clone(),
        seed: 1,
    };
    let (iterations, last) =
        dagger::run(&options, &mut Silent(Quiet), &AtomicBool::new(false)).unwrap();
    assert_eq!(iterations.len(), 2);
    // Iteration 1 trained on both iterations' frames: 61 recorded ticks each.
    assert_eq!(iterations[0].frames_total, 61);
    assert_eq!(iterations[1].frames_total, 122);
    assert_eq!(iterations[0].samples, 61);
    assert_eq!(iterations[1].samples, 122);
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
        for f in ["eval.json", "eval.md", "oval_map.png", "oval.mcap"] {
            assert!(eval.join(f).is_file(), "{}", eval.join(f).display());
        }
    }
    assert!(last.overall.distance_km > 0.0);
    assert!(last.overall.expert_nll.is_some());
    for f in ["dagger.md", "dagger.json", "dagger.png"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    std::fs::remove_dir_all(&out).ok();
}
