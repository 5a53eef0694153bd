//! Domain randomisation: draws are seeded and valid, ranges files are checked, and a randomised
//! episode carries its drawn scenario, so it re-simulates to the same frames.

use std::path::PathBuf;
use steerlab::drive::collect::{RecordOptions, Shard, record};
use steerlab::drive::resimulate::{Counterfactual, resimulate};
use steerlab::record::EpisodeReader;
use steerlab::sim::Scenario;
use steerlab::sim::randomise::{FIRST_DRAWN_TRACK_SEED, Randomisation};
use steerlab::sim::scenario::builtin;
use steerlab::sim::track::TrackSpec;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn draws_are_seeded_and_every_drawn_scenario_validates_and_builds() {
    let ranges = Randomisation::default();
    for base in builtin().unwrap() {
        let mut looks = std::collections::HashSet::new();
        for seed in 0..40 {
            let a = ranges.draw(&base, seed).unwrap().scenario;
            assert_eq!(
                a,
                ranges.draw(&base, seed).unwrap().scenario,
                "{} seed {seed}",
                base.name
            );
            assert!(a.validate().is_empty(), "{}: {:?}", base.name, a.validate());
            a.build_track()
                .unwrap_or_else(|e| panic!("{} seed {seed}: {e}", base.name));
            // Within the stated ranges.
            assert!((4.5..=9.0).contains(&a.road.width_m));
            let lift = a.camera.mount_height_m - base.camera.mount_height_m;
            assert!(lift.abs() <= 0.3 + 1e-9, "camera moved {lift} m");
            if let (
                TrackSpec::Procedural {
                    seed: drawn_seed,
                    length_m,
                    ..
                },
                TrackSpec::Procedural {
                    length_m: base_length_m,
                    ..
                },
            ) = (&a.track, &base.track)
            {
                assert!(*drawn_seed >= FIRST_DRAWN_TRACK_SEED, "seed {drawn_seed}");
                let scale = length_m / base_length_m;
                assert!((0.45..=1.2).contains(&scale), "length times {scale}");
            }
            looks.insert(format!("{:?}", a.lighting));
        }
        assert_eq!(
            looks.len(),
            40,
            "{}: every seed draws its own light",
            base.name
        );
    }
}

#[test]
fn night_like_light_is_drawn_as_often_as_its_share_of_the_log_range() {
    // Sun, ambient light and sky brightness share one light level: with the default ranges
    // about one draw in six has sun ≤ 0.06 and ambient ≤ 0.1 at once (uniform independent
    // draws gave one in a hundred), and a dark sun never comes with a bright sky.
    let ranges = Randomisation::default();
    let base = builtin().unwrap().remove(0);
    let draws: Vec<Scenario> = (0..600)
        .map(|seed| ranges.draw(&base, seed).unwrap().scenario)
        .collect();
    let night = draws
        .iter()
        .filter(|s| s.lighting.sun_intensity <= 0.06 && s.lighting.ambient_intensity <= 0.1)
        .count();
    assert!(
        (60..=160).contains(&night),
        "{night} night-like draws in 600"
    );
    for s in &draws {
        if s.lighting.sun_intensity <= 0.04 {
            assert!(s.lighting.ambient_intensity < 0.15, "{:?}", s.lighting);
        }
    }
}

#[test]
fn the_default_ranges_file_holds_the_default_ranges() {
    let file = Randomisation::load(&repo("scenarios/randomise/default.ron")).unwrap();
    assert_eq!(file, Randomisation::default());
    assert_eq!(Randomisation::named("default").unwrap(), file);
}

#[test]
fn inverted_and_empty_ranges_are_named_with_their_field() {
    let err = Randomisation::from_ron(
        "Randomisation(sun_intensity: (1.0, 0.2), centre_lines: [], fog_probability: 1.5)",
        "bad.ron",
    )
    .unwrap_err()
    .to_string();
    for field in [
        "randomisation.sun_intensity: (1, 0.2) is inverted",
        "randomisation.centre_lines: is empty",
        "randomisation.fog_probability: 1.5 must be in [0, 1]",
    ] {
        assert!(err.contains(field), "{err}");
    }
    assert!(err.contains("bad.ron"), "{err}");
    let unknown = Randomisation::from_ron("Randomisation(sun_brightness: (0, 1))", "typo.ron")
        .unwrap_err()
        .to_string();
    assert!(
        unknown.contains("typo.ron:1") && unknown.contains("sun_brightness"),
        "{unknown}"
    );
    // `scenario check` tells ranges files from scenarios and checks them.
    let dir = crate::tempdir("randomise-check");
    let bad = dir.join("bad.ron");
    std::fs::write(&bad, "// ranges\nRandomisation(road_width_m: (9.0, 4.0))\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_steerlab"))
        .args(["scenario", "check"])
        .arg(repo("scenarios/randomise/default.ron"))
        .arg(&bad)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("ok      ") && text.contains("randomisation ranges"),
        "{text}"
    );
    assert!(
        text.contains("randomisation.road_width_m: (9, 4) is inverted"),
        "{text}"
    );
}

#[test]
fn randomised_episodes_repeat_and_resimulate_to_the_same_frames() {
    let mut scenario = Scenario::load(&repo("scenarios/props.ron")).unwrap();
    scenario.episode_steps = 24;
    let ranges = Randomisation::default();
    let run = |dir: &str| {
        let options = RecordOptions {
            scenarios: vec![scenario.clone()],
            episodes: 2,
            out: crate::tempdir(dir),
            noise: steerlab::sim::DartNoise::NONE,
            seed: 9,
            labels: false,
            shard: Shard::default(),
            randomise: Some(ranges.clone()),
            map: None,
        };
        record(&options, &mut |_| {}).unwrap().files
    };
    let (first, second) = (run("randomise-a"), run("randomise-b"));
    let hashes = |file: &PathBuf| -> Vec<u64> {
        let episode = EpisodeReader::open(file).unwrap();
        let steps = episode.steps(true).unwrap();
        steps
            .filter_map(|s| s.frame.map(|f| f.content_hash()))
            .collect()
    };
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(
            hashes(a),
            hashes(b),
            "two runs, the same draws, the same frames"
        );
    }
    let episodes: Vec<EpisodeReader> = first
        .iter()
        .map(|f| EpisodeReader::open(f).unwrap())
        .collect();
    // Each episode holds the scenario drawn with its own seed.
    for e in &episodes {
        assert_eq!(
            e.scenario,
            ranges.draw(&scenario, e.meta.seed).unwrap().scenario
        );
        assert_ne!(e.scenario.lighting, scenario.lighting);
    }
    assert_ne!(episodes[0].scenario, episodes[1].scenario);
    let r = resimulate(&episodes[0], &Counterfactual::default(), &mut |_, _| Ok(())).unwrap();
    assert_eq!((r.frames, r.compared, r.matching), (25, 25, 25));
}

#[test]
fn the_robustness_suite_generates_the_same_valid_held_out_cells() {
    use steerlab::drive::suite::Suite;
    let suite = Suite::named("robustness").unwrap();
    // The built-in suite is the repository's file.
    let file = Suite::named(repo("scenarios/suites/robustness.ron").to_str().unwrap()).unwrap();
    assert_eq!(suite, file);
    let (a, b) = (suite.cells().unwrap(), file.cells().unwrap());
    assert_eq!(a, b, "the same cells every time");
    assert!(suite.axes.len() >= 8 && suite.axes.iter().all(|x| x.severities.len() >= 3));
    assert_eq!(a.len(), suite.axes.len() * 3 * suite.tracks.len());
    for cell in &a {
        cell.scenario
            .build_track()
            .unwrap_or_else(|e| panic!("{}: {e}", cell.scenario.name));
    }
    // A camera 0.3 m lower and 3° further down is the middle severity of its axis.
    let middle = a
        .iter()
        .find(|c| c.axis == "camera-lower" && c.severity == 2)
        .unwrap();
    let base = &a.iter().find(|c| c.axis == "fog").unwrap().scenario.camera;
    let camera = &middle.scenario.camera;
    assert!((camera.mount_height_m - (base.mount_height_m - 0.3)).abs() < 1e-9);
    assert!((camera.pitch_deg - (base.pitch_deg - 3.0)).abs() < 1e-9);
    // Held out: no built-in scenario draws the suite's tracks.
    for s in builtin().unwrap() {
        if let steerlab::sim::track::TrackSpec::Procedural { seed, .. } = s.track {
            assert!(suite.tracks.iter().all(|t| t.seed != seed), "{}", s.name);
        }
    }
}

#[test]
fn a_suite_run_writes_a_table_and_heat_map_that_agree_with_its_json() {
    use steerlab::drive::suite::{Suite, run_suite};
    use steerlab::drive::{Choice, Policy};
    use steerlab::nn::{Model, ModelConfig, ModelDir};
    let dir = crate::tempdir("suite");
    let model_dir = dir.join("model");
    Model::new(ModelConfig::preset("pilotnet").unwrap(), 3)
        .unwrap()
        .save(&model_dir)
        .unwrap();
    let suite = Suite::from_ron(
        "Suite(name: \"tiny\", km: 0.04, tracks: [(seed: 7201, length_m: 400.0, curviness: 0.3)], \
         axes: [(name: \"fog\", severities: [(fog_end_m: Some(150.0)), (fog_end_m: Some(30.0))])])",
        "tiny.ron",
    )
    .unwrap();
    let policy = Policy::load(&model_dir, Choice::Mode, 0).unwrap();
    let out = dir.join("out");
    let result = run_suite(&policy, &suite, &out, 0, &mut |_, _, _| {}).unwrap();
    assert_eq!(result.cells.len(), 2);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("suite.json")).unwrap()).unwrap();
    let table = std::fs::read_to_string(out.join("suite.md")).unwrap();
    let (_, grid) = result.grid(|c| c.supervised.autonomy_pct);
    for (i, cell) in result.cells.iter().enumerate() {
        let stored = json["cells"][i]["supervised"]["autonomy_pct"]
            .as_f64()
            .unwrap();
        assert_eq!(stored, cell.supervised.autonomy_pct);
        assert_eq!(grid[0][cell.severity - 1], Some(stored), "heat map cell");
        let row = format!("| fog | {} | {:.1} % |", cell.severity, stored);
        assert!(table.contains(&row), "{row} not in\n{table}");
    }
    let png = std::fs::read(out.join("suite.png")).unwrap();
    let frame = steerlab::sim::Frame::from_png(&png, 0, 0).unwrap();
    // Two severity columns of 120 px beside the 150 px label column.
    assert_eq!(frame.width, 150 + 2 * 120 + 10);
}

#[test]
fn collection_drives_split_a_scenario_into_drives_of_their_own_draws() {
    use steerlab::drive::closed_loop::each::drive_each;
    use steerlab::drive::metrics::Supervision;
    let mut scenario = Scenario::load(&repo("scenarios/oval.ron")).unwrap();
    scenario.episode_steps = 40;
    let dir = crate::tempdir("randomise-drives");
    let ranges = Randomisation::default();
    let drives = drive_each(
        std::slice::from_ref(&scenario),
        40,
        &dir,
        steerlab::drive::workers::Driver::Expert(steerlab::sim::DartNoise::NONE),
        Supervision::default(),
        &|name| steerlab::sim::math::fnv1a(&[name.as_bytes()]),
        Some((&ranges, 2)),
        None,
        &mut |_, _, _| {},
    )
    .unwrap();
    assert_eq!(drives.len(), 2);
    let scenarios: Vec<Scenario> = ["oval_0.mcap", "oval_1.mcap"]
        .iter()
        .map(|f| EpisodeReader::open(&dir.join(f)).unwrap().scenario)
        .collect();
    // Each drive is 20 ticks of a scenario drawn with its own seed.
    assert_ne!(scenarios[0], scenarios[1]);
    for (d, s) in drives.iter().zip(&scenarios) {
        assert_eq!(d.metrics.ticks, 20);
        assert_eq!(s.episode_steps, 20);
    }
}

#[test]
fn randomised_towns_are_valid_and_some_meet_at_oblique_five_way_junctions() {
    // Every draw of the default ranges builds (no collection may stop on a town it drew),
    // and the layouts spread beyond a right-angled grid: diagonal roads make junctions where
    // five or more roads meet.
    let base = Scenario::load(&repo("scenarios/town.ron")).unwrap();
    let ranges = Randomisation::default();
    let (mut larger, mut towns) = (0, 0);
    let mut bad = Vec::new();
    for seed in 0..40 {
        let drawn = match ranges.draw(&base, seed) {
            Ok(d) => d,
            Err(e) => {
                bad.push(format!("{seed}: {e}"));
                continue;
            }
        };
        // The draw's world is the scenario's: built again from it, the same network.
        let counts = drawn.world.network().unwrap().junction_counts();
        let sim = steerlab::sim::Simulation::new(drawn.scenario, 1).unwrap();
        assert_eq!(sim.town().unwrap().network.junction_counts(), counts);
        larger += (counts[4] > 0) as u32;
        towns += 1;
    }
    assert!(
        bad.is_empty(),
        "{} invalid draws:\n{}",
        bad.len(),
        bad.join("\n")
    );
    assert!(
        larger >= 5,
        "{larger} of {towns} drawn towns have a junction of five roads or more"
    );
    // The default layout is the town the file describes, as before.
    let plain = steerlab::sim::Simulation::new(base, 1).unwrap();
    assert_eq!(plain.town().unwrap().network.junction_counts()[4], 0);
    // A straight grid, a NaN and an out-of-range style: built or refused by name, never a panic.
    let with_style = |style: &str| {
        Scenario::from_ron(
            &format!(
                "Scenario(name: \"s\", seed: 1, track: Town(seed: 3, size_m: 420.0, style: {style}))"
            ),
            "s.ron",
        )
    };
    assert!(with_style("(jitter: 0.0, diagonals: 0.5)").is_ok());
    for bad in [
        "(jitter: NaN)",
        "(jitter: 0.5)",
        "(diagonals: -1.0)",
        "(diagonals: inf)",
    ] {
        let err = with_style(bad).err().unwrap().to_string();
        assert!(err.contains("track.style."), "{bad}: {err}");
    }
    let err = Randomisation::from_ron("Randomisation(town_diagonals: (0.0, 0.9))", "t.ron")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("town_diagonals"), "{err}");
}

/// The generator seeds of a scenario's track, town and route.
fn generator_seeds(s: &Scenario) -> Vec<u64> {
    match &s.track {
        TrackSpec::Procedural { seed, .. } => vec![*seed],
        TrackSpec::Town { seed, route, .. } => {
            let mut seeds = vec![*seed];
            if let steerlab::sim::network::RouteSpec::Random { seed, .. } = route {
                seeds.push(*seed);
            }
            seeds
        }
        _ => Vec::new(),
    }
}

#[test]
fn held_out_and_suite_seeds_lie_outside_every_training_draw() {
    // A draw gives a new track or town a generator seed of at least FIRST_DRAWN_TRACK_SEED...
    let ranges = Randomisation::default();
    for base in builtin().unwrap() {
        for seed in 0..20 {
            let drawn = ranges.draw(&base, seed).unwrap().scenario;
            for s in generator_seeds(&drawn) {
                if generator_seeds(&base).contains(&s) {
                    continue; // a hand-written track keeps its own
                }
                assert!(
                    s >= FIRST_DRAWN_TRACK_SEED,
                    "{} seed {seed}: {s}",
                    base.name
                );
            }
        }
    }
    // ...so the main job's held-out tracks, the shipped held-out scenarios and the suites'
    // tracks all use lower ones, and none a training scenario uses.
    let training = builtin().unwrap();
    let used: Vec<u64> = training.iter().flat_map(generator_seeds).collect();
    let mut held_out = Vec::new();
    for seed in [0, 1, 7] {
        held_out.extend(steerlab::sim::randomise::held_out_tracks(&training, 8, seed).unwrap());
    }
    for folder in ["scenarios/heldout", "scenarios/heldout_towns"] {
        for entry in std::fs::read_dir(repo(folder)).unwrap() {
            held_out.push(Scenario::load(&entry.unwrap().path()).unwrap());
        }
    }
    let suite = steerlab::drive::suite::Suite::named("robustness").unwrap();
    held_out.extend(suite.cells().unwrap().into_iter().map(|c| c.scenario));
    let traffic = steerlab::drive::traffic_suite::TrafficSuite::named("traffic").unwrap();
    held_out.extend(traffic.1);
    assert!(held_out.len() > 40, "{} held-out scenarios", held_out.len());
    for s in &held_out {
        for seed in generator_seeds(s) {
            assert!(
                seed < FIRST_DRAWN_TRACK_SEED,
                "{}: generator seed {seed}",
                s.name
            );
            assert!(
                !used.contains(&seed),
                "{}: a training scenario's seed {seed}",
                s.name
            );
        }
    }
}
