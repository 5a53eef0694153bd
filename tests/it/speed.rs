//! The speed head: a mixture over target speed beside the steering mixture, trained on the
//! expert's speed, and the car of a policy that has one driving at the policy's speed.

use candle_core::{DType, Device, Tensor};
use std::path::PathBuf;
use steerlab::drive::closed_loop::{DriveOptions, Pilot, drive};
use steerlab::drive::metrics::Supervision;
use steerlab::drive::policy::SpeedSource;
use steerlab::drive::{Choice, Policy};
use steerlab::nn::models::steering::config::{ModelConfig, SpeedHeadConfig};
use steerlab::nn::models::steering::{Inputs, SteeringNet};
use steerlab::nn::{Model, ModelDir};
use steerlab::sim::Scenario;
use steerlab::sim::map_input::MapMode;
use steerlab::world::{Env, EnvOptions};

#[test]
fn the_speed_head_reads_the_camera_and_the_map_and_its_gradient_is_exact() {
    let mut config = crate::nn::tiny_navnet();
    let tiny_trunk = config.speed.as_ref().unwrap().trunk.clone();
    config.speed = Some(SpeedHeadConfig {
        hidden: vec![4],
        trunk_gradient: 1.0,
        trunk: tiny_trunk,
        reads_wheel_speed: true,
        ..SpeedHeadConfig::default()
    });
    let (varmap, net, named) = crate::nn::f64_net(&config);
    assert!(
        named.iter().any(|(n, _)| n == "speed.dense1.bias"),
        "{named:?}"
    );
    for (i, (_, var)) in named.iter().enumerate() {
        let values: Vec<f64> = (0..var.elem_count())
            .map(|k| ((i * 7919 + k * 104_729) % 1000) as f64 / 1000.0 - 0.5)
            .collect();
        var.set(&Tensor::from_vec(values, var.dims(), &Device::Cpu).unwrap())
            .unwrap();
    }
    let pattern = |shape: &[usize], seed: usize| {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n)
            .map(|k| ((k * 31 + seed * 17) % 97) as f64 / 97.0)
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    };
    let images = pattern(&[3, 3, 8, 8], 1);
    let maps = pattern(&[3, 2, 8, 8], 2);
    let curvatures = Tensor::new(&[0.02f64, -0.04, 0.0], &Device::Cpu).unwrap();
    let speeds = Tensor::new(&[0.0f64, 6.5, 9.0], &Device::Cpu).unwrap();
    let wheel = Tensor::new(&[[0.5f64], [8.0], [9.5]], &Device::Cpu).unwrap();
    let loss = |images: &Tensor, maps: &Tensor| {
        let out = net
            .forward_all(&Inputs {
                images: images.clone(),
                maps: Some(maps.clone()),
                commands: None,
                wheel_speeds: Some(wheel.clone()),
            })
            .unwrap();
        let speed = out.speed.expect("a speed head").nll(&speeds).unwrap();
        (out.steering.nll(&curvatures).unwrap() + speed)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    // The gradient of the joint loss reaches the camera and the map through the speed head
    // too, and matches central differences.
    let (vi, vm) = (
        candle_core::Var::from_tensor(&images).unwrap(),
        candle_core::Var::from_tensor(&maps).unwrap(),
    );
    let out = net
        .forward_all(&Inputs {
            images: vi.as_tensor().clone(),
            maps: Some(vm.as_tensor().clone()),
            commands: None,
            wheel_speeds: Some(wheel.clone()),
        })
        .unwrap();
    let total = (out.steering.nll(&curvatures).unwrap() + out.speed.unwrap().nll(&speeds).unwrap())
        .unwrap();
    let grads = total.backward().unwrap();
    for (var, which) in [(&vi, 0), (&vm, 1)] {
        let g = grads.get(var).unwrap().flatten_all().unwrap();
        let g = g.to_vec1::<f64>().unwrap();
        let base = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for k in (0..base.len()).step_by(23) {
            let shifted = |d: f64| {
                let mut v = base.clone();
                v[k] += d;
                let t = Tensor::from_vec(v, var.dims(), &Device::Cpu).unwrap();
                match which {
                    0 => loss(&t, &maps),
                    _ => loss(&images, &t),
                }
            };
            let numeric = (shifted(1e-6) - shifted(-1e-6)) / 2e-6;
            assert!(
                (numeric - g[k]).abs() <= 1e-5 * (1.0 + numeric.abs()),
                "input {which} element {k}: analytic {} numeric {numeric}",
                g[k]
            );
        }
    }
    // With no trunk gradient (the default), the speed loss reaches no input.
    let mut detached = config.clone();
    detached.speed.as_mut().unwrap().trunk_gradient = 0.0;
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F64, &Device::Cpu);
    let held = SteeringNet::new(&detached, vb).unwrap();
    let speed = held
        .forward_all(&Inputs {
            images: vi.as_tensor().clone(),
            maps: Some(vm.as_tensor().clone()),
            commands: None,
            wheel_speeds: Some(wheel.clone()),
        })
        .unwrap()
        .speed
        .unwrap()
        .nll(&speeds)
        .unwrap();
    let grads = speed.backward().unwrap();
    // It reaches the camera through the speed head's own trunk alone: no weight of the shared
    // camera or map trunk gets any of it.
    assert!(grads.get(&vm).is_none());
    assert!(grads.get(&vi).is_some());
    for (name, var) in &named {
        let reached = grads.get(var).is_some();
        let shared = name.starts_with("backbone.") || name.starts_with("map.");
        let own = name.starts_with("speed.trunk.");
        assert!(!(shared && reached), "{name} got the speed loss's gradient");
        if own {
            assert!(reached, "{name} got none of the speed loss's gradient");
        }
    }
    assert!(named.iter().any(|(n, _)| n.starts_with("speed.trunk.")));
    let at = |maps: &Tensor, wheel: &Tensor| {
        net.forward_all(&Inputs {
            images: images.clone(),
            maps: Some(maps.clone()),
            commands: None,
            wheel_speeds: Some(wheel.clone()),
        })
        .unwrap()
    };
    let means =
        |m: &steerlab::nn::models::steering::MixtureBatch| m.means.to_vec2::<f64>().unwrap();
    // The map moves the speed, not only the steering.
    let speed_means = |maps: &Tensor| means(at(maps, &wheel).speed.as_ref().unwrap());
    let (a, b) = (speed_means(&maps), speed_means(&maps.zeros_like().unwrap()));
    assert!(
        a.iter()
            .flatten()
            .zip(b.iter().flatten())
            .any(|(x, y)| (x - y).abs() > 1e-6)
    );
    // The wheel speed moves the speed, and not the steering; a head that reads it refuses to
    // run without it.
    let (slow, fast) = (at(&maps, &wheel), at(&maps, &(&wheel + 4.0).unwrap()));
    assert_eq!(means(&slow.steering), means(&fast.steering));
    let (a, b) = (
        means(slow.speed.as_ref().unwrap()),
        means(fast.speed.as_ref().unwrap()),
    );
    assert!(
        a.iter()
            .flatten()
            .zip(b.iter().flatten())
            .any(|(x, y)| (x - y).abs() > 1e-6)
    );
    let err = net
        .forward_all(&Inputs {
            images: images.clone(),
            maps: Some(maps.clone()),
            commands: None,
            wheel_speeds: None,
        })
        .err()
        .expect("no wheel speed given");
    assert!(err.to_string().contains("wheel speed"), "{err}");
}

#[test]
fn town_presets_have_a_speed_head_and_old_or_bad_configs_say_so() {
    assert!(ModelConfig::navnet(MapMode::Routed).speed.is_some());
    assert!(ModelConfig::cil().speed.is_some());
    assert!(ModelConfig::pilotnet().speed.is_none());
    assert!(ModelConfig::lanepose().speed.is_none());
    // A config written before speed heads existed loads as a model that steers only.
    let mut old = serde_json::to_value(ModelConfig::navnet(MapMode::Routed)).unwrap();
    old.as_object_mut().unwrap().remove("speed");
    let old: ModelConfig = serde_json::from_value(old).unwrap();
    assert!(old.speed.is_none() && old.feature_shape().is_ok());
    // One written before speed heads read the wheel speed loads as a head that does not.
    let mut old = serde_json::to_value(ModelConfig::navnet(MapMode::Routed)).unwrap();
    old["speed"]
        .as_object_mut()
        .unwrap()
        .remove("reads_wheel_speed");
    old["speed"].as_object_mut().unwrap().remove("trunk");
    let old: ModelConfig = serde_json::from_value(old).unwrap();
    assert!(old.speed.is_some() && !old.reads_wheel_speed());
    assert!(old.speed.as_ref().unwrap().trunk.is_empty() && old.feature_shape().is_ok());
    // A trunk layer that does not fit the frame is named.
    let mut bad = ModelConfig::navnet(MapMode::Routed);
    bad.speed.as_mut().unwrap().trunk[3] =
        steerlab::nn::models::steering::config::LayerSpec::Conv {
            out_channels: 8,
            kernel: 40,
            stride: 1,
            padding: 0,
        };
    let err = bad.feature_shape().unwrap_err();
    assert!(err.contains("speed.trunk[3]"), "{err}");
    assert!(!ModelConfig::navnet(MapMode::Routed).reads_wheel_speed());
    // Bad speed heads are refused by field.
    let mut bad = ModelConfig::navnet(MapMode::Routed);
    bad.speed.as_mut().unwrap().std_floor_m_s = 0.0;
    let err = bad.feature_shape().unwrap_err();
    assert!(
        err.contains("speed") && err.contains("std_floor_m_s"),
        "{err}"
    );
    let mut lanepose = ModelConfig::lanepose();
    lanepose.speed = Some(SpeedHeadConfig::default());
    assert!(lanepose.feature_shape().unwrap_err().contains("speed"));
}

/// Drives `env` with `pilot` for `max_ticks` (a safety driver on board), recording into
/// `record`; the drive, the file's metadata and its ticks.
fn drive_recorded(
    env: &mut Env,
    pilot: &mut Pilot,
    max_ticks: u64,
    seed: u64,
    record: &std::path::Path,
) -> (
    steerlab::drive::Drive,
    steerlab::record::writer::EpisodeMeta,
    Vec<steerlab::record::Step>,
) {
    let d = drive(
        env,
        pilot,
        &DriveOptions {
            distance_m: 1e9,
            max_ticks,
            seed,
            supervision: Supervision::default(),
            record: Some(record.to_path_buf()),
            episode: 0,
            localise: None,
        },
        &mut |_, _| {},
    )
    .unwrap();
    let reader = steerlab::record::EpisodeReader::open(record).unwrap();
    let steps = reader.steps(false).unwrap().collect();
    (d, reader.meta, steps)
}

fn oval() -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/oval.ron");
    Scenario::load(&path).unwrap()
}

/// A PilotNet whose speed head says "about `speed` m/s" whatever it sees: its last layer's
/// weights zero, its biases a two-component mixture with nearly all weight on `speed`.
fn constant_speed_model(dir: &std::path::Path, speed: f64) -> PathBuf {
    let mut config = ModelConfig::pilotnet();
    let head = SpeedHeadConfig {
        hidden: vec![],
        ..SpeedHeadConfig::default()
    };
    let scale = head.speed_scale_m_s;
    config.speed = Some(head);
    let model = Model::new(config, 3).unwrap();
    {
        let vars = model.varmap.data().lock().unwrap();
        let w = &vars["speed.dense0.weight"];
        w.set(&w.zeros_like().unwrap()).unwrap();
        // Logits 6, 0; means `speed` and 12 m/s; raw scales −4 (σ ≈ 0.1 m/s above the floor).
        let offset = SpeedHeadConfig::default().speed_offset_m_s;
        let mean = |v: f64| ((v - offset) / scale) as f32;
        let bias = [6.0f32, 0.0, mean(speed), mean(12.0), -4.0, -4.0];
        vars["speed.dense0.bias"]
            .set(&Tensor::new(&bias, &candle_core::Device::Cpu).unwrap())
            .unwrap();
    }
    let out = dir.join("model");
    model.save(&out).unwrap();
    out
}

#[test]
fn a_policy_with_a_speed_head_drives_at_its_own_speed_unless_told_the_experts() {
    let dir = crate::tempdir("policy-speed");
    let model = constant_speed_model(&dir, 3.0);
    let scenario = oval();
    let cruise = scenario.vehicle.speed_m_s;
    assert!(cruise > 5.0, "the oval's cruise speed {cruise}");
    let run = |expert_speed: bool, name: &str| {
        let mut policy = Policy::load(&model, Choice::Mode, 0)
            .unwrap()
            .with_expert_speed(expert_speed);
        let mut env = Env::new(scenario.clone(), EnvOptions::default()).unwrap();
        let record = dir.join(format!("{name}.mcap"));
        let (d, _, steps) =
            drive_recorded(&mut env, &mut Pilot::Policy(&mut policy), 120, 1, &record);
        (d, steps)
    };
    let (own, steps) = run(false, "own");
    assert_eq!(own.speed, SpeedSource::Policy);
    // The car settles at the policy's 3 m/s (not the expert's cruise speed), and every tick it
    // drove records the speed mixture it chose from.
    let last: Vec<f64> = steps[80..].iter().map(|s| s.state.speed_m_s).collect();
    assert!(last.iter().all(|v| (v - 3.0).abs() < 0.2), "{last:?}");
    let driven: Vec<_> = steps.iter().filter(|s| s.action.is_some()).collect();
    assert!(driven.iter().all(|s| s.speed_distribution.is_some()));
    assert!(
        driven
            .iter()
            .all(|s| (s.action.unwrap().speed_m_s - 3.0).abs() < 0.05)
    );
    // The speed head read the car's wheel speed: its odometry's reading, recorded every tick,
    // near the car's speed but not the simulation's exact value.
    let wheel: Vec<(f64, f64)> = steps[1..]
        .iter()
        .map(|s| (s.odometry.expect("/odometry").speed_m_s, s.state.speed_m_s))
        .collect();
    assert!(
        wheel.iter().all(|(w, v)| (w - v).abs() < 0.1 * v + 0.05),
        "{wheel:?}"
    );
    assert!(wheel.iter().any(|(w, v)| w != v), "{wheel:?}");
    let m = &own.metrics;
    assert_eq!(m.speed_calibration.count(), driven.len() as u64);
    assert!(m.mean_abs_speed_error_m_s.unwrap() > 1.0, "{m:?}");
    // Told the expert's, the same model's car keeps the cruise speed; nothing of its speed
    // head is recorded or scored.
    let (expert, steps) = run(true, "expert");
    assert_eq!(expert.speed, SpeedSource::Expert);
    let v = steps.last().unwrap().state.speed_m_s;
    assert!((v - cruise).abs() < 0.5, "{v} vs cruise {cruise}");
    assert!(steps.iter().all(|s| s.speed_distribution.is_none()));
    assert!(expert.metrics.mean_abs_speed_error_m_s.is_none());
}

#[test]
fn training_a_speed_head_learns_the_experts_speed_from_the_camera() {
    use std::sync::atomic::AtomicBool;
    use steerlab::nn::train::steering::{Quiet, TrainOptions, train};
    let dir = crate::tempdir("train-speed");
    // Expert drives of a town with traffic: its speed falls behind cars and at junctions.
    let mut scenario = Scenario::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/town_traffic.ron"),
    )
    .unwrap();
    scenario.episode_steps = 300;
    // Dense traffic: cars to stop behind, queues at junctions.
    let world = steerlab::sim::built::BuiltWorld::validated(&scenario).unwrap();
    let km = steerlab::sim::traffic::soak::town_lane_km(&scenario, &world).unwrap();
    scenario.traffic.cars = steerlab::sim::traffic::soak::cars_at_density(km, 20.0).unwrap();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut env = Env::new(scenario, EnvOptions::default()).unwrap();
    for episode in 0..3u32 {
        steerlab::drive::collect::record_episode(
            &mut env,
            &data.join(format!("town-{episode}.mcap")),
            10 + episode as u64,
            episode,
            steerlab::sim::DartNoise::white(0.01),
            &mut || {},
        )
        .unwrap();
    }
    // The best a model blind to the frame can do: the training frames' median speed,
    // whatever it sees, scored on the frames training validates on (the same split).
    let set = steerlab::nn::data::dataset::Dataset::load(std::slice::from_ref(&data)).unwrap();
    let split = set.split(0.34, 0);
    let speeds = |ix: &[usize]| -> Vec<f64> {
        ix.iter()
            .map(|&i| set.samples[i].speed_m_s as f64)
            .collect()
    };
    let mut train_speeds = speeds(&split.train);
    train_speeds.sort_by(f64::total_cmp);
    let median = train_speeds[train_speeds.len() / 2];
    let validation = speeds(&split.validation);
    let blind =
        validation.iter().map(|v| (v - median).abs()).sum::<f64>() / validation.len() as f64;
    let stopped = validation.iter().filter(|v| **v < 1.0).count();
    assert!(
        stopped >= 5,
        "{stopped} of {} frames stopped",
        validation.len()
    );
    // On 600 frames the speed head needs a trunk that learns for it too (the navnet's default
    // leaves the trunk to the steering, whose features 32 000 frames make rich enough).
    // From the camera alone: a head that read the wheel speed could score on the car's own
    // speed rather than on what it sees.
    let mut config = ModelConfig::pilotnet();
    config.speed = Some(SpeedHeadConfig {
        trunk_gradient: 1.0,
        reads_wheel_speed: false,
        ..SpeedHeadConfig::default()
    });
    let mut options = TrainOptions::new(vec![data], dir.join("model"), config);
    options.epochs = 10;
    options.batch_size = 16;
    options.learning_rate = 3e-3;
    options.patience = 10;
    options.validation_fraction = 0.34;
    let report = train(&options, &mut Quiet, &AtomicBool::new(false)).unwrap();
    let first = &report.history[0];
    let best = report
        .history
        .iter()
        .map(|e| e.validation_speed_mae_m_s)
        .fold(f64::INFINITY, f64::min);
    assert!(first.validation_speed_nll.is_finite());
    eprintln!(
        "blind {blind}, stopped {stopped}; speed MAE {} → {best}; {:?}",
        first.validation_speed_mae_m_s,
        report
            .history
            .iter()
            .map(|e| e.validation_speed_mae_m_s)
            .collect::<Vec<_>>()
    );
    assert!(
        best < 0.75 * blind,
        "speed MAE {best} against {blind} blind"
    );
    let csv = std::fs::read_to_string(dir.join("model/metrics.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .contains("validation_speed_mae_m_s")
    );
}

#[test]
fn braking_frames_weigh_more_in_the_speed_loss() {
    use steerlab::nn::models::steering::{MixtureBatch, MixtureScale};
    let scale = SpeedHeadConfig::default().scale();
    // Two samples, one component each: the same mixture, targets 0 (braking) and 6 m/s.
    let raw = Tensor::new(&[[0.0f32, 0.0, 0.3], [0.0, 0.0, 0.3]], &Device::Cpu).unwrap();
    let raw = Tensor::cat(&[&raw, &raw], 1).unwrap();
    let one = MixtureScale {
        components: 2,
        ..scale
    };
    let m = MixtureBatch::from_raw(&raw, &one).unwrap();
    let targets = Tensor::new(&[0.0f32, 6.0], &Device::Cpu).unwrap();
    let lp = m.log_prob(&targets).unwrap().to_vec1::<f32>().unwrap();
    let at = |w: &[f32]| {
        m.weighted_nll(&targets, &Tensor::new(w, &Device::Cpu).unwrap())
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let plain = m.nll(&targets).unwrap().to_scalar::<f32>().unwrap();
    assert!((at(&[1.0, 1.0]) - plain).abs() < 1e-5);
    let four = -(4.0 * lp[0] + lp[1]) / 5.0;
    assert!(
        (at(&[4.0, 1.0]) - four).abs() < 1e-5,
        "{} vs {four}",
        at(&[4.0, 1.0])
    );
    // The presets weigh braking four times; configs written before weigh it once.
    assert_eq!(SpeedHeadConfig::default().braking_weight, 4.0);
    let mut old = serde_json::to_value(SpeedHeadConfig::default()).unwrap();
    old.as_object_mut().unwrap().remove("braking_weight");
    let old: SpeedHeadConfig = serde_json::from_value(old).unwrap();
    assert_eq!(old.braking_weight, 1.0);
}

#[test]
fn speed_dart_noise_shows_braking_without_running_into_cars() {
    // The expert's drives of a town in dense traffic, its speed perturbed or not: the
    // perturbed ones follow closer and faster, so more of their frames are ones where the
    // (clean) label brakes, and the noise never runs the car into what it stops for.
    let mut scenario = Scenario::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/town_traffic.ron"),
    )
    .unwrap();
    let world = steerlab::sim::built::BuiltWorld::validated(&scenario).unwrap();
    let km = steerlab::sim::traffic::soak::town_lane_km(&scenario, &world).unwrap();
    scenario.traffic.cars = steerlab::sim::traffic::soak::cars_at_density(km, 15.0).unwrap();
    let dir = crate::tempdir("speed-dart");
    let run = |speed_noise_m_s: f64, seed: u64| {
        let mut env = Env::new(
            scenario.clone(),
            EnvOptions {
                render: false,
                ..EnvOptions::default()
            },
        )
        .unwrap();
        let record = dir.join(format!("{speed_noise_m_s}-{seed}.mcap"));
        let mut expert = Pilot::Expert(steerlab::sim::DartNoise {
            correlation_s: 1.0,
            speed_m_s: speed_noise_m_s,
            ..steerlab::sim::DartNoise::NONE
        });
        let (d, meta, steps) = drive_recorded(&mut env, &mut expert, 1500, seed, &record);
        assert_eq!(meta.noise.speed_m_s, speed_noise_m_s);
        let braking = steps
            .iter()
            .filter(|s| s.expert_target_speed_m_s <= s.state.speed_m_s - 1.0)
            .count();
        let perturbed = steps
            .iter()
            .filter(|s| {
                s.action
                    .is_some_and(|a| (a.speed_m_s - s.expert_action.speed_m_s).abs() > 0.05)
            })
            .count();
        (d.metrics.crashes, braking, perturbed, steps.len())
    };
    let (mut clean_braking, mut noisy_braking) = (0, 0);
    for seed in 1..=3 {
        let (crashes, braking, perturbed, _) = run(0.0, seed);
        assert_eq!((crashes, perturbed), (0, 0), "seed {seed}");
        clean_braking += braking;
        let (crashes, braking, perturbed, ticks) = run(1.5, seed);
        assert_eq!(
            crashes, 0,
            "seed {seed}: the speed noise ran the car into something"
        );
        assert!(
            perturbed > ticks / 4,
            "seed {seed}: {perturbed} of {ticks} ticks perturbed"
        );
        noisy_braking += braking;
    }
    // 930 against 704 when written.
    assert!(
        noisy_braking > clean_braking + clean_braking / 5,
        "braking frames: {noisy_braking} with speed noise, {clean_braking} without"
    );
}
