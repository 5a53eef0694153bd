//! What a car knows: every map input follows from its sensors (GPS fix, odometry) and the map,
//! never from the simulation state; sensor errors are drawn per drive; localisation does not
//! weigh poses by the action of the model doing the weighing.

use std::path::PathBuf;
use steerlab::drive::closed_loop::{DriveOptions, Pilot, drive};
use steerlab::drive::metrics::Supervision;
use steerlab::record::EpisodeReader;
use steerlab::sim::map_input::{GpsNoise, MapOptions, MapSpec, MapView, Navigator};
use steerlab::sim::odometry::{Odometry, OdometryNoise};
use steerlab::sim::{Expert, ExpertConfig, Scenario, Simulation, Vec2, VehicleState};
use steerlab::world::{Env, EnvOptions};

fn shipped(name: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    Scenario::load(&path).unwrap()
}

const GPS: GpsNoise = GpsNoise {
    position_m: 5.0,
    heading_deg: 3.0,
    correlation_s: 10.0,
};

#[test]
fn every_map_input_follows_from_the_fix_alone() {
    // Along an expert drive through a town with a route, the car's navigation system is
    // cloned; the clone sees a different true pose (moved across its lane and along the road,
    // turned) through a receiver whose error makes the same fix. Patch, route progress and
    // command must not change: only the fix (and the map) may reach them.
    let scenario = shipped("town_small.ron");
    let mut sim = Simulation::new(scenario.clone(), 1).unwrap();
    let view = MapView::new(&sim);
    let spec = MapSpec::default();
    let options = MapOptions {
        gps: Some(GPS),
        ..MapOptions::default()
    };
    let expert = Expert::new(ExpertConfig::default(), 1);
    let cruise = scenario.vehicle.speed_m_s;
    let dt = scenario.dt_s;
    let mut car = Navigator::new(&options, 7);
    let mut odometry = Odometry::new(OdometryNoise::default(), 7);
    let (mut compared, mut commands) = (0, std::collections::BTreeSet::new());
    for tick in 0..1200u64 {
        let state = sim.states()[0].clone();
        let truth = state.vehicle;
        let reading = odometry.measure(&truth, dt);
        if tick % 40 == 17 {
            // The twin's car is elsewhere; its receiver's error puts the fix where the car's is
            // (the error steps on by `a·e + noise` inside `sense`, the same noise for both).
            let moved = VehicleState {
                position: truth.position
                    + Vec2::from_heading(truth.heading).perp() * 1.6
                    + Vec2::from_heading(truth.heading) * 3.0,
                heading: truth.heading + 0.2,
                ..truth
            };
            let mut twin = car.clone();
            let e = car_error(&car);
            let a = (-dt / GPS.correlation_s).exp();
            let shift = truth.position - moved.position;
            twin.receiver_mut().unwrap().set_error([
                e[0] + shift.x / a,
                e[1] + shift.y / a,
                e[2] + (truth.heading - moved.heading) / a,
            ]);
            car.sense(&view, &spec, &truth, reading, dt);
            twin.sense(&view, &spec, &moved, reading, dt);
            let (a, b) = (car.observation().unwrap(), twin.observation().unwrap());
            assert!(
                a.position.distance(b.position) < 1e-6,
                "tick {tick}: same fix"
            );
            assert_eq!(
                a.patch, b.patch,
                "tick {tick}: the patch moved with the true pose"
            );
            assert!(
                (a.progress_m - b.progress_m).abs() < 1e-6,
                "tick {tick}: progress {} vs {}",
                a.progress_m,
                b.progress_m
            );
            assert_eq!(a.command, b.command, "tick {tick}");
            commands.insert(format!("{:?}", a.command));
            compared += 1;
        } else {
            car.sense(&view, &spec, &truth, reading, dt);
        }
        sim.step(&[expert.label(&sim.track, &state, cruise)])
            .unwrap();
    }
    assert!(compared >= 25, "{compared} comparisons");
    assert!(commands.len() >= 2, "commands seen: {commands:?}");
}

/// The current error of a navigator's receiver.
fn car_error(car: &Navigator) -> [f64; 3] {
    car.clone().receiver_mut().unwrap().error()
}

#[test]
fn the_route_progress_is_tracked_from_the_fix_within_its_error() {
    // Map-matched progress from a 5 m fix stays within a few σ of the true progress over a
    // drive, and exactly on it with the true pose.
    let scenario = shipped("town_small.ron");
    let mut sim = Simulation::new(scenario.clone(), 1).unwrap();
    let view = MapView::new(&sim);
    let spec = MapSpec::default();
    let expert = Expert::new(ExpertConfig::default(), 1);
    let route = sim.town().unwrap().route.track.clone();
    let length = route.length_m();
    let mut noisy = Navigator::new(
        &MapOptions {
            gps: Some(GPS),
            ..MapOptions::default()
        },
        3,
    );
    let mut exact = Navigator::new(&MapOptions::default(), 3);
    let mut odometry = Odometry::new(OdometryNoise::default(), 3);
    let (mut worst_exact, mut errors) = (0.0f64, Vec::new());
    for _ in 0..1500 {
        let state = sim.states()[0].clone();
        let reading = odometry.measure(&state.vehicle, scenario.dt_s);
        for nav in [&mut noisy, &mut exact] {
            nav.sense(&view, &spec, &state.vehicle, reading, scenario.dt_s);
        }
        let truth = state.s_m;
        let gap = |s: f64| {
            let d = (s - truth).rem_euclid(length);
            d.min(length - d)
        };
        worst_exact = worst_exact.max(gap(exact.observation().unwrap().progress_m));
        errors.push(gap(noisy.observation().unwrap().progress_m));
        sim.step(&[expert.label(&sim.track, &state, scenario.vehicle.speed_m_s)])
            .unwrap();
    }
    assert!(worst_exact < 0.5, "true pose: {worst_exact:.2} m");
    errors.sort_by(f64::total_cmp);
    let p95 = errors[errors.len() * 95 / 100];
    assert!(p95 < 4.0 * GPS.position_m, "p95 {p95:.1} m");
}

#[test]
fn two_drives_of_one_run_get_different_gps_errors_and_a_drive_repeats_its_own() {
    let dir = crate::tempdir("gps-per-drive");
    let run = |episode: u32, name: &str| -> Vec<f64> {
        let mut env = Env::new(
            shipped("town_small.ron"),
            EnvOptions {
                render: false,
                map: Some(MapOptions {
                    gps: Some(GPS),
                    ..MapOptions::default()
                }),
                ..EnvOptions::default()
            },
        )
        .unwrap();
        let path = dir.join(name);
        let options = DriveOptions {
            distance_m: f64::INFINITY,
            max_ticks: 40,
            seed: 5,
            supervision: Supervision::Free,
            record: Some(path.clone()),
            episode,
            localise: None,
        };
        drive(
            &mut env,
            &mut Pilot::Expert(steerlab::sim::DartNoise::NONE),
            &options,
            &mut |_, _| {},
        )
        .unwrap();
        EpisodeReader::open(&path)
            .unwrap()
            .steps(false)
            .unwrap()
            .map(|s| {
                let pose = s.map_pose.unwrap();
                pose.x_m - s.state.x_m
            })
            .collect()
    };
    let (a, b, again) = (run(0, "a.mcap"), run(1, "b.mcap"), run(0, "c.mcap"));
    assert_eq!(a.len(), 41);
    assert_ne!(a, b, "two drives of one seed share their GPS error");
    assert_eq!(a, again, "a drive repeats its own error");
}

#[test]
fn odometry_has_a_seeded_scale_error_and_a_drifting_gyro() {
    // A straight kilometre at 10 m/s.
    let read = |seed: u64| {
        let mut odometry = Odometry::new(OdometryNoise::default(), seed);
        let (mut distance, mut heading) = (0.0, 0.0);
        for tick in 0..=2000 {
            let truth = VehicleState {
                position: Vec2::new(tick as f64 * 0.5, 0.0),
                speed_m_s: 10.0,
                ..VehicleState::default()
            };
            let r = odometry.measure(&truth, 0.05);
            distance += r.distance_m;
            heading += r.heading_change_rad;
        }
        (distance, heading, odometry.scale_error())
    };
    let (d1, h1, scale1) = read(1);
    assert_eq!(read(1), (d1, h1, scale1), "seeded");
    let (d2, h2, scale2) = read(2);
    assert_ne!(scale1, scale2);
    // The distance is off by the drive's scale error (white noise averages away).
    for (d, scale) in [(d1, scale1), (d2, scale2)] {
        assert!(scale != 0.0);
        assert!(
            (d / 1000.0 - 1.0 - scale).abs() < 0.002,
            "{d:.2} m read for 1000 m with scale error {scale:.4}"
        );
    }
    // 100 s of driving straight: the gyro's bias has turned the dead-reckoned heading.
    assert!(h1 != 0.0 && h2 != 0.0 && h1 != h2);
    assert!(h1.abs().to_degrees() < 30.0, "{h1}");
    // Exact odometry reads the truth.
    let mut exact = Odometry::new(OdometryNoise::EXACT, 1);
    exact.measure(&VehicleState::default(), 0.05);
    let r = exact.measure(
        &VehicleState {
            position: Vec2::new(0.5, 0.0),
            ..VehicleState::default()
        },
        0.05,
    );
    assert!((r.distance_m - 0.5).abs() < 1e-12 && r.heading_change_rad == 0.0);
    assert!(
        OdometryNoise {
            scale_sigma: -1.0,
            ..OdometryNoise::default()
        }
        .problems()[0]
            .contains("odometry.scale_sigma")
    );
}

#[test]
fn localise_refuses_ticks_the_localising_model_drove() {
    use steerlab::drive::localise::{LocaliseOptions, localise};
    use steerlab::nn::models::steering::config::ModelConfig;
    use steerlab::nn::{Model, ModelDir};
    use steerlab::record::schema::{ActionMsg, DriverMsg};
    use steerlab::record::{EpisodeMeta, EpisodeWriter, StepRecord};
    use steerlab::sim::map_input::MapMode;
    let dir = crate::tempdir("localise-self");
    let scenario = shipped("town_small.ron");
    let mut config = ModelConfig::navnet(MapMode::Unrouted);
    config.input.width = scenario.camera.width_px as usize;
    config.input.height = scenario.camera.height_px as usize;
    let model = Model::new(config.clone(), 3).unwrap();
    let other = Model::new(config, 4).unwrap();
    let (mine, theirs) = (model.fingerprint().unwrap(), other.fingerprint().unwrap());
    assert_ne!(mine, theirs);
    assert_eq!(
        mine,
        model.fingerprint().unwrap(),
        "a fingerprint is stable"
    );
    let write = |name: &str, model: Option<&str>| -> PathBuf {
        let path = dir.join(name);
        let meta = EpisodeMeta::new(&scenario, 1, 0, steerlab::sim::DartNoise::NONE).unwrap();
        let mut writer = EpisodeWriter::create(&path, &scenario, &meta).unwrap();
        let mut sim = Simulation::new(scenario.clone(), 1).unwrap();
        sim.reset(1);
        for tick in 0..6 {
            let state = sim.states()[0].clone();
            let action = steerlab::sim::Action {
                curvature_per_m: 0.0,
                speed_m_s: 5.0,
            };
            writer
                .write_step(&StepRecord {
                    tick,
                    frame: Some(steerlab::sim::Frame {
                        tick,
                        agent: 0,
                        width: scenario.camera.width_px,
                        height: scenario.camera.height_px,
                        rgb: vec![
                            90;
                            (scenario.camera.width_px * scenario.camera.height_px * 3)
                                as usize
                        ],
                    }),
                    state: (&state).into(),
                    action: Some(ActionMsg::new(tick, action)),
                    expert_action: ActionMsg::new(tick, action),
                    driver: DriverMsg {
                        tick,
                        driver: if tick >= 3 { "policy" } else { "expert" }.into(),
                        model: model.filter(|_| tick >= 3).map(Into::into),
                    },
                    distribution: None,
                    speed_distribution: None,
                    labels: None,
                    route: None,
                    traffic: None,
                    map: None,
                    odometry: None,
                })
                .unwrap();
            sim.step(&[action]).unwrap();
        }
        writer.finish().unwrap();
        path
    };
    let options = LocaliseOptions {
        particles: 8,
        ..LocaliseOptions::default()
    };
    let run = |path: &PathBuf, model: &Model| {
        let episode = EpisodeReader::open(path).unwrap();
        localise(&episode, model, &options, &mut |_, _, _| Ok(()))
    };
    let own = write("own.mcap", Some(&mine));
    let err = run(&own, &model).err().unwrap().to_string();
    assert!(
        err.contains("tick 3") && err.contains("driven by this model"),
        "{err}"
    );
    // The same drive localised by another model is evidence.
    assert_eq!(run(&own, &other).unwrap().points.len(), 6);
    // A policy the episode does not name is refused too.
    let unnamed = write("unnamed.mcap", None);
    let err = run(&unnamed, &other).err().unwrap().to_string();
    assert!(err.contains("does not name"), "{err}");
    // A lane-pose model reads the camera, not a driver's action: any drive will do.
    let mut lane_config = ModelConfig::lanepose();
    lane_config.input.width = scenario.camera.width_px as usize;
    lane_config.input.height = scenario.camera.height_px as usize;
    let lane = Model::new(lane_config, 5).unwrap();
    assert_eq!(run(&unnamed, &lane).unwrap().points.len(), 6);
}

#[test]
fn a_randomised_collection_draws_a_localisation_error_per_drive() {
    use steerlab::sim::randomise::Randomisation;
    let ranges = Randomisation::default();
    let draws: Vec<_> = (0..200)
        .map(|seed| ranges.draw_localisation(seed))
        .collect();
    let positions: Vec<f64> = draws.iter().map(|d| d.0.position_m).collect();
    assert!(positions.iter().all(|p| (0.0..=8.0).contains(p)));
    assert!(positions.iter().any(|p| *p < 1.0) && positions.iter().any(|p| *p > 7.0));
    let rates: Vec<f64> = draws
        .iter()
        .map(|d| d.1.map_or(0.0, |d| d.per_minute))
        .collect();
    assert!(rates.iter().all(|r| (0.0..=1.0).contains(r)));
    assert!(rates.iter().any(|r| *r < 0.2) && rates.iter().any(|r| *r > 0.8));
    assert_eq!(ranges.draw_localisation(9), ranges.draw_localisation(9));
    // The scenario drawn with a seed is the same whatever the localisation ranges are.
    let base = shipped("town_small.ron");
    let other = Randomisation {
        gps_position_m: (1.0, 2.0),
        ..Randomisation::default()
    };
    assert_eq!(
        ranges.draw(&base, 4).unwrap().scenario,
        other.draw(&base, 4).unwrap().scenario
    );
    let err = Randomisation::from_ron("Randomisation(gps_position_m: (3.0, 1.0))", "loc.ron")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("gps_position_m"), "{err}");
    // A randomised drive that cuts map patches records its drawn error.
    let dir = crate::tempdir("randomised-gps");
    let drives = steerlab::drive::closed_loop::each::drive_each(
        &[base],
        60,
        &dir,
        steerlab::drive::workers::Driver::Expert(steerlab::sim::DartNoise::NONE),
        Supervision::Free,
        &|name| steerlab::sim::math::fnv1a(&[name.as_bytes()]),
        Some((&ranges, 3)),
        Some(MapOptions::default()),
        &mut |_, _, _| {},
    )
    .unwrap();
    assert_eq!(drives.len(), 3);
    let spread: Vec<f64> = drives
        .iter()
        .map(|d| {
            let steps: Vec<_> = EpisodeReader::open(d.recording.as_ref().unwrap())
                .unwrap()
                .steps(false)
                .unwrap()
                .collect();
            let errors: Vec<f64> = steps
                .iter()
                .map(|s| {
                    let p = s.map_pose.as_ref().unwrap();
                    Vec2::new(p.x_m, p.y_m).distance(Vec2::new(s.state.x_m, s.state.y_m))
                })
                .collect();
            errors.iter().sum::<f64>() / errors.len() as f64
        })
        .collect();
    assert!(
        spread.iter().any(|e| *e > 0.05),
        "the drawn GPS errors reach the map: {spread:?}"
    );
    assert!(
        spread[0] != spread[1] || spread[1] != spread[2],
        "{spread:?}"
    );
}

#[test]
fn a_car_drives_on_its_own_localisation_and_eval_reports_its_error() {
    use steerlab::drive::localise::{LocaliseOptions, OwnLocalisation};
    use steerlab::drive::metrics::InterventionRule;
    use steerlab::nn::models::steering::config::ModelConfig;
    use steerlab::nn::{Model, ModelDir};
    use steerlab::sim::map_input::MapMode;
    let dir = crate::tempdir("own-localisation");
    let scenario = shipped("town_small.ron");
    let sized = |mut config: ModelConfig| {
        config.input.width = scenario.camera.width_px as usize;
        config.input.height = scenario.camera.height_px as usize;
        config
    };
    // An untrained lane-pose model reads next to nothing: the filter leans on odometry and
    // the fix, and its error must stay bounded by the fix's.
    let lane = Model::new(sized(ModelConfig::lanepose()), 1).unwrap();
    lane.save(&dir.join("lane")).unwrap();
    let own = OwnLocalisation::load(
        &dir.join("lane"),
        LocaliseOptions {
            particles: 64,
            gps: GPS,
            ..LocaliseOptions::default()
        },
    )
    .unwrap();
    let mut env = Env::new(
        scenario.clone(),
        EnvOptions {
            map: Some(MapOptions {
                gps: Some(GPS),
                ..MapOptions::default()
            }),
            ..EnvOptions::default()
        },
    )
    .unwrap();
    let path = dir.join("drive.mcap");
    let drove = drive(
        &mut env,
        &mut Pilot::Expert(steerlab::sim::DartNoise::NONE),
        &DriveOptions {
            distance_m: f64::INFINITY,
            max_ticks: 300,
            seed: 2,
            supervision: Supervision::SafetyDriver(InterventionRule::default()),
            record: Some(path.clone()),
            episode: 0,
            localise: Some(own),
        },
        &mut |_, _| {},
    )
    .unwrap();
    let errors: Vec<f64> = drove.localisation_errors.iter().map(|e| e.0).collect();
    assert_eq!(errors.len(), 301, "one estimate a tick");
    assert!(
        errors
            .iter()
            .all(|e| e.is_finite() && *e < 6.0 * GPS.position_m),
        "{errors:?}"
    );
    let mut sorted = errors.clone();
    sorted.sort_by(f64::total_cmp);
    assert!(
        sorted[150] < 3.0 * GPS.position_m,
        "median {:.1} m",
        sorted[150]
    );
    // The recorded map pose is the car's estimate, not the fix: the two part.
    let steps: Vec<_> = EpisodeReader::open(&path)
        .unwrap()
        .steps(false)
        .unwrap()
        .collect();
    let from_truth: Vec<f64> = steps
        .iter()
        .map(|s| {
            let p = s.map_pose.as_ref().unwrap();
            Vec2::new(p.x_m, p.y_m).distance(Vec2::new(s.state.x_m, s.state.y_m))
        })
        .collect();
    for (a, b) in from_truth.iter().zip(&errors) {
        assert!((a - b).abs() < 1e-6, "recorded {a} vs logged {b}");
    }
    // `eval --localise` drives a policy so and reports the filter's error in eval.md; a model
    // of another kind is refused by name.
    Model::new(sized(ModelConfig::navnet(MapMode::Routed)), 2)
        .unwrap()
        .save(&dir.join("navnet"))
        .unwrap();
    let bin = env!("CARGO_BIN_EXE_steerlab");
    let eval = |lane: &str| {
        std::process::Command::new(bin)
            .arg("eval")
            .arg("--model")
            .arg(dir.join("navnet"))
            .arg("--scenario")
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/town_small.ron"))
            .args([
                "--km",
                "0.05",
                "--gps-noise",
                "5,3",
                "--particles",
                "32",
                "--localise",
            ])
            .arg(dir.join(lane))
            .arg("--out")
            .arg(dir.join(format!("eval-{lane}")))
            .output()
            .unwrap()
    };
    let out = eval("lane");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(dir.join("eval-lane/eval.md")).unwrap();
    assert!(
        md.contains("its own localisation") && md.contains("95th percentile"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("eval-lane/eval.json")).unwrap()).unwrap();
    assert!(
        json["localisation"]["median_m"]
            .as_f64()
            .unwrap()
            .is_finite()
    );
    let out = eval("navnet");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("lane-pose model"), "{stderr}");
}
