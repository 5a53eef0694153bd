//! Navigation: the map input (drivable area and route ahead, cut at the believed pose) and the
//! GPS fix it is cut at.

use std::path::PathBuf;
use steerlab::sim::map_input::{GpsFix, GpsNoise, MapSpec, MapView};
use steerlab::sim::{Expert, ExpertConfig, Scenario, Simulation, Vec2, VehicleState};

fn shipped(name: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    Scenario::load(&path).unwrap()
}

/// Red and green of pixel (row, col).
fn px(patch: &steerlab::sim::Frame, row: u32, col: u32) -> (bool, bool) {
    let [r, g, _] = patch.pixel(col, row);
    (r == 255, g == 255)
}

#[test]
fn the_map_patch_matches_hand_computed_pixels_on_the_oval() {
    // The oval's bottom straight runs east along y = −45 from x = −60 to 60, 7 m wide. A
    // 64-pixel patch over ±40 m has 1.25 m pixels: pixel (row, col) is centred
    // 40 − 1.25·(row + 0.5) m ahead and 40 − 1.25·(col + 0.5) m to the left.
    let sim = Simulation::new(shipped("oval.ron"), 1).unwrap();
    let view = MapView::new(&sim);
    let spec = MapSpec::default();
    let car = Vec2::new(0.0, -45.0);
    let s = sim.track.project(car).s_m;
    let east = view.patch(&spec, car, 0.0, s);
    assert_eq!((east.width, east.height), (64, 64));
    // Under the car (0.6 m ahead, 0.6 m left): paved, on the route.
    assert_eq!(px(&east, 31, 31), (true, true));
    // 3.1 m left and right: paved, off the route's 1.75 m half-width; 5.6 m: grass.
    assert_eq!(px(&east, 31, 29), (true, false));
    assert_eq!(px(&east, 31, 34), (true, false));
    assert_eq!(px(&east, 31, 27), (false, false));
    assert_eq!(px(&east, 31, 36), (false, false));
    // 39.4 m ahead: the straight goes on to x = 60, with the route on it.
    assert_eq!(px(&east, 0, 31), (true, true));
    // 16.9 m and 39.4 m behind: road, but the route is drawn from 10 m behind only.
    assert_eq!(px(&east, 45, 31), (true, false));
    assert_eq!(px(&east, 63, 31), (true, false));
    // Turned to face north at the same place, the road runs across the patch.
    let north = view.patch(&spec, car, std::f64::consts::FRAC_PI_2, s);
    assert_eq!(
        px(&north, 31, 10).0,
        true,
        "26.9 m to the left (west) is road"
    );
    assert_eq!(px(&north, 20, 31).0, false, "14.4 m ahead (north) is grass");
    // The route runs off to the right (east), the way the track goes.
    assert_eq!(px(&north, 31, 50), (true, true));
    assert_eq!(px(&north, 31, 16), (true, false));
}

#[test]
fn the_routed_map_marks_the_route_ahead_and_no_other_road() {
    let scenario = shipped("town_small.ron");
    let mut sim = Simulation::new(scenario.clone(), 1).unwrap();
    let view = MapView::new(&sim);
    let spec = MapSpec::default();
    let expert = Expert::new(ExpertConfig::default(), 1);
    let route = sim.town().unwrap().route.track.clone();
    let cruise = scenario.vehicle.speed_m_s;
    let (mut junction_ticks, mut open_exits) = (0, 0);
    for tick in 0..1500 {
        let state = sim.states()[0].clone();
        if tick % 10 == 0 {
            let v = &state.vehicle;
            let patch = view.patch(&spec, v.position, v.heading, state.s_m);
            let ahead = Vec2::from_heading(v.heading);
            let left = ahead.perp();
            let world = |row: u32, col: u32| {
                let p = spec.pixel_m();
                v.position
                    + ahead * (spec.half_extent_m - (row as f64 + 0.5) * p)
                    + left * (spec.half_extent_m - (col as f64 + 0.5) * p)
            };
            // Every route pixel lies on the route from 10 m behind the car onwards, drawn
            // along the middle of its roads.
            let stretch: Vec<Vec2> = (0..=180)
                .map(|k| view.road_centre(state.s_m - 10.0 + k as f64 * 0.5))
                .collect();
            let (mut green, mut red_only) = (0, 0);
            for row in 0..64 {
                for col in 0..64 {
                    let (red, g) = px(&patch, row, col);
                    if g {
                        green += 1;
                        let p = world(row, col);
                        let d = stretch
                            .iter()
                            .map(|q| q.distance(p))
                            .fold(f64::MAX, f64::min);
                        assert!(
                            d < 1.75 + 1.0,
                            "tick {tick}: route pixel {d:.2} m off the route"
                        );
                    } else if red {
                        red_only += 1;
                    }
                }
            }
            assert!(
                green > 20,
                "tick {tick}: the route ahead is drawn ({green} pixels)"
            );
            // The point 20 m ahead along the route is marked.
            let p = view.road_centre(state.s_m + 20.0) - v.position;
            let row = ((spec.half_extent_m - p.dot(ahead)) / spec.pixel_m()) as u32;
            let col = ((spec.half_extent_m - p.dot(left)) / spec.pixel_m()) as u32;
            assert!(px(&patch, row, col).1, "tick {tick}: 20 m ahead not marked");
            if let Some(r) = &state.route
                && r.distance_to_junction_m < 15.0
            {
                junction_ticks += 1;
                // Near a junction other roads are paved but not marked.
                open_exits += (red_only > 150) as u32;
            }
        }
        let action = expert.label(&sim.track, &state, cruise);
        sim.step(&[action]).unwrap();
    }
    assert!(junction_ticks >= 5, "{junction_ticks} ticks near junctions");
    assert_eq!(open_exits, junction_ticks);
    // Off junctions the route is drawn on the centreline of the road (between its two
    // directions, whatever lane the route takes), so the map never tells the lane.
    let town = sim.town().unwrap();
    let mut on_roads = 0;
    for k in 0..(route.length_m() as usize) {
        let s = k as f64;
        if town.route.position(&town.network, s).in_junction {
            continue;
        }
        let c = view.road_centre(s);
        let gap = town
            .network
            .roads
            .iter()
            .map(|r| r.centre.distance(c).0)
            .fold(f64::MAX, f64::min);
        assert!(
            gap < 0.3,
            "{s} m along the route: {gap:.2} m off the road's centre"
        );
        on_roads += 1;
    }
    assert!(on_roads > 200);
}

#[test]
fn a_gps_fix_wanders_with_the_stated_spread_and_correlation() {
    let noise: GpsNoise = "10,5".parse().unwrap();
    assert_eq!(
        (noise.position_m, noise.heading_deg, noise.correlation_s),
        (10.0, 5.0, 10.0)
    );
    let mut fix = GpsFix::new(noise, 3);
    let truth = VehicleState {
        position: Vec2::new(100.0, 50.0),
        heading: 0.3,
        ..VehicleState::default()
    };
    // 2000 s at 20 Hz: 200 correlation times.
    let mut errors = Vec::new();
    for _ in 0..40_000 {
        fix.step(0.05);
        let (p, h) = fix.fix(&truth);
        errors.push((p.x - truth.position.x, (h - truth.heading).to_degrees()));
    }
    let rms = |f: &dyn Fn(&(f64, f64)) -> f64| {
        (errors.iter().map(|e| f(e).powi(2)).sum::<f64>() / errors.len() as f64).sqrt()
    };
    let (sx, sh) = (rms(&|e| e.0), rms(&|e| e.1));
    assert!((7.5..12.5).contains(&sx), "east error spread {sx} m");
    assert!((3.7..6.3).contains(&sh), "heading error spread {sh}°");
    // One second apart the error has barely moved (exp(−1/10) = 0.90 correlation).
    let lag = 20;
    let c: f64 = errors
        .windows(lag + 1)
        .map(|w| w[0].0 * w[lag].0)
        .sum::<f64>()
        / (errors.len() - lag) as f64
        / (sx * sx);
    assert!((0.8..0.97).contains(&c), "1 s autocorrelation {c}");
    // The same seed, the same fixes.
    let (mut a, mut b) = (GpsFix::new(noise, 9), GpsFix::new(noise, 9));
    a.step(0.05);
    b.step(0.05);
    assert_eq!(a.fix(&truth), b.fix(&truth));
    // Bad noise strings name the fix.
    for bad in ["10", "a,b", "-1,5", "10,5,0", "1e9,5"] {
        let err = bad.parse::<GpsNoise>().unwrap_err();
        assert!(err.contains(bad), "{bad}: {err}");
    }
}

#[test]
fn junction_success_counts_a_wrong_exit_as_a_failure() {
    use steerlab::drive::junctions::{EXIT_CHECK_M, JunctionTally};
    use steerlab::sim::network::Turn;
    use steerlab::sim::route_path::RoutePosition;
    let at = |junction: &str, turn, in_junction| RoutePosition {
        lane: 0,
        route_index: 0,
        junction: junction.into(),
        turn,
        distance_to_junction_m: if in_junction { 0.0 } else { 40.0 },
        in_junction,
        exits: Vec::new(),
    };
    // Drive `metres` in 1 m ticks at one place of the route, off it from tick `off_from`.
    let drive = |tally: &mut JunctionTally, p: &RoutePosition, metres: usize, off_from: usize| {
        for k in 0..metres {
            tally.tick(p, 1.0, k >= off_from);
        }
    };
    let mut tally = JunctionTally::default();
    // Left at j1, on the route throughout: a success.
    drive(&mut tally, &at("j1", Turn::Left, true), 20, usize::MAX);
    drive(&mut tally, &at("j2", Turn::Right, false), 20, usize::MAX);
    // Right at j2, then 5 m after the junction the car is on another road: a wrong exit.
    drive(&mut tally, &at("j2", Turn::Right, true), 18, usize::MAX);
    drive(&mut tally, &at("j3", Turn::Straight, false), 20, 5);
    // Straight through j3 and on the route, but a wrong move inside the junction.
    drive(&mut tally, &at("j3", Turn::Straight, true), 10, 4);
    drive(&mut tally, &at("j4", Turn::Left, false), 20, usize::MAX);
    // Left at j4, cut short by the drive's end before EXIT_CHECK_M: not counted.
    drive(&mut tally, &at("j4", Turn::Left, true), 10, usize::MAX);
    drive(
        &mut tally,
        &at("j5", Turn::Left, false),
        EXIT_CHECK_M as usize - 5,
        usize::MAX,
    );
    let stats = tally.finish(false);
    assert_eq!((stats.left.attempts, stats.left.successes), (1, 1));
    assert_eq!((stats.right.attempts, stats.right.successes), (1, 0));
    assert_eq!((stats.straight.attempts, stats.straight.successes), (1, 0));
    assert_eq!(stats.all().success_pct(), Some(100.0 / 3.0));
    // Where each failure happened, in percent of its turn path (metres counted from the tick
    // that entered it): the wrong exit 6 m past a 17 m path, the wrong move 4 m into a 9 m one.
    assert_eq!(
        stats.right.failed_at_pct(),
        Some((100.0f64 * 23.0 / 17.0).round())
    );
    assert_eq!(
        stats.straight.failed_at_pct(),
        Some((100.0f64 * 4.0 / 9.0).round())
    );
    assert_eq!(stats.left.failed_at_pct(), None);
    // A crash inside a junction fails its passage, where it happened.
    let mut tally = JunctionTally::default();
    drive(&mut tally, &at("j1", Turn::Right, true), 5, usize::MAX);
    let stats = tally.finish(true);
    assert_eq!((stats.right.attempts, stats.right.successes), (1, 0));
    assert_eq!(stats.right.failed_at_pct(), Some(100.0));
}

#[test]
fn the_particle_filter_recovers_a_known_gps_offset_from_a_synthetic_likelihood() {
    use steerlab::drive::localise::{LocaliseOptions, Localiser, Pose, summarise};
    // A fix whose error barely moves (τ = 10⁶ s): a fixed offset the GPS alone never reveals.
    let options = LocaliseOptions {
        gps: GpsNoise {
            position_m: 10.0,
            heading_deg: 3.0,
            correlation_s: 1e6,
        },
        particles: 300,
        every_ticks: 1,
        network_weight: 1.0,
        seed: 4,
        ..LocaliseOptions::default()
    };
    let dt = 0.05;
    let mut localiser = Localiser::new(&options, dt, 0).unwrap();
    // The car drives a gentle arc at 10 m/s; the synthetic evidence is a 2 m Gaussian around
    // its true position, which only the network filter hears.
    let mut points = Vec::new();
    for tick in 0..600 {
        let t = tick as f64 * dt;
        let heading = 0.02 * t;
        let truth = Pose::new(10.0 * t, 0.1 * t * t, heading);
        let point = localiser
            .tick(truth, &mut |candidates| {
                Ok(Some(
                    candidates
                        .iter()
                        .map(|c| -0.5 * c.position.distance(truth.position).powi(2) / 4.0)
                        .collect(),
                ))
            })
            .unwrap();
        points.push(point);
    }
    let s = summarise(&points, 20.0);
    assert_eq!(s.points, 200);
    let (fix, with, without) = (
        s.fix.mean_m,
        s.with_network.mean_m,
        s.without_network.mean_m,
    );
    assert!(fix > 5.0, "the drawn offset is large: {s:?}");
    assert!(with < 1.0, "the evidence finds the car: {s:?}");
    assert!(with < 0.1 * fix, "ten times better than the fix: {s:?}");
    assert!(s.with_network.median_m <= s.with_network.p95_m, "{s:?}");
    // Without the evidence, the filter can only follow the fix it started from.
    assert!(without > 0.5 * fix, "{s:?}");
    // Bad options are named.
    let bad = LocaliseOptions {
        particles: 1,
        every_ticks: 0,
        ..LocaliseOptions::default()
    };
    let err = Localiser::new(&bad, dt, 0).err().unwrap().to_string();
    assert!(err.contains("particles") && err.contains("every"), "{err}");
}

#[test]
fn localise_runs_on_a_recorded_town_drive_and_writes_its_report() {
    use steerlab::nn::models::steering::config::ModelConfig;
    use steerlab::nn::{Model, ModelDir};
    use steerlab::sim::map_input::MapMode;
    let dir = crate::tempdir("localise");
    let town = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/town_small.ron");
    let bin = env!("CARGO_BIN_EXE_steerlab");
    let out = std::process::Command::new(bin)
        .args(["record", "--steps", "30", "--out"])
        .arg(dir.join("episodes"))
        .arg("--scenario")
        .arg(&town)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An untrained navnet with an unrouted map, at the town's camera size.
    let scenario = Scenario::load(&town).unwrap();
    let mut config = ModelConfig::navnet(MapMode::Unrouted);
    config.input.width = scenario.camera.width_px as usize;
    config.input.height = scenario.camera.height_px as usize;
    Model::new(config, 3)
        .unwrap()
        .save(&dir.join("model"))
        .unwrap();
    let out = std::process::Command::new(bin)
        .arg("localise")
        .arg(dir.join("episodes"))
        .arg("--model")
        .arg(dir.join("model"))
        .args([
            "--particles",
            "24",
            "--gps-noise",
            "10,5",
            "--settle-s",
            "0.5",
            "--out",
        ])
        .arg(dir.join("out"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("| all ("), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("out/localise.json")).unwrap()).unwrap();
    let fix = json["overall"]["fix"]["median_m"].as_f64().unwrap();
    assert!(fix > 0.5 && fix < 60.0, "a 10 m fix error: {fix}");
    let with = &json["overall"]["with_network"];
    assert!(with["median_m"].as_f64().unwrap().is_finite());
    assert!(with["p95_m"].as_f64().unwrap() >= with["median_m"].as_f64().unwrap());
    assert!(dir.join("out/localise.png").exists());
    let gifs = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "gif")
        })
        .count();
    assert_eq!(gifs, 1);
    // A camera-only model is refused with the reason.
    let mut camera = ModelConfig::pilotnet();
    camera.input.width = scenario.camera.width_px as usize;
    camera.input.height = scenario.camera.height_px as usize;
    Model::new(camera, 3)
        .unwrap()
        .save(&dir.join("camera"))
        .unwrap();
    let out = std::process::Command::new(bin)
        .arg("localise")
        .arg(dir.join("episodes"))
        .arg("--model")
        .arg(dir.join("camera"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("reads a map"), "{stderr}");
}

#[test]
fn a_turn_chosen_before_a_junction_redraws_the_route_on_the_map() {
    use steerlab::sim::map_input::MapOptions;
    use steerlab::sim::network::Turn;
    use steerlab::world::{Env, EnvOptions};
    let mut env = Env::new(
        shipped("town_small.ron"),
        EnvOptions {
            render: false,
            map: Some(MapOptions::default()),
            ..EnvOptions::default()
        },
    )
    .unwrap();
    let mut obs = env.reset(1).unwrap().remove(0);
    // Drive to 20 m before a junction, where the patch shows its exits.
    for _ in 0..2000 {
        let r = obs.state.route.clone().unwrap();
        if !r.in_junction && r.distance_to_junction_m < 20.0 {
            break;
        }
        obs = env.step(obs.info.expert_action).unwrap();
    }
    let planned = obs.state.route.as_ref().unwrap().turn;
    let green = |o: &steerlab::world::Observation| -> Vec<bool> {
        o.map
            .as_ref()
            .unwrap()
            .patch
            .rgb
            .chunks_exact(3)
            .map(|p| p[1] == 255)
            .collect()
    };
    let chosen = [Turn::Left, Turn::Straight, Turn::Right]
        .into_iter()
        .filter(|t| *t != planned)
        .find(|t| env.choose_turn(*t).is_ok())
        .expect("another way out of the junction");
    let action = obs.info.expert_action;
    let before = green(&obs);
    let after = env.step(action).unwrap();
    assert_eq!(after.state.route.as_ref().unwrap().turn, chosen);
    let now = green(&after);
    let changed = before.iter().zip(&now).filter(|(a, b)| a != b).count();
    assert!(
        changed > 40,
        "{planned:?} → {chosen:?}: {changed} route pixels changed"
    );
    assert!(now.iter().filter(|g| **g).count() > 100);
}

#[test]
fn replay_exports_the_passage_through_one_junction_with_the_map_beside_the_frame() {
    let dir = crate::tempdir("replay-junction");
    let town = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/town_small.ron");
    let bin = env!("CARGO_BIN_EXE_steerlab");
    let out = std::process::Command::new(bin)
        .args(["record", "--map", "--steps", "500", "--out"])
        .arg(&dir)
        .arg("--scenario")
        .arg(&town)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let episode = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "mcap"))
        .unwrap();
    let frames = dir.join("frames");
    let out = std::process::Command::new(bin)
        .arg("replay")
        .arg(&episode)
        .args(["--junction", "1", "--frames"])
        .arg(&frames)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut pngs: Vec<PathBuf> = std::fs::read_dir(&frames)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pngs.sort();
    // 3 s (60 ticks) before the turn path, the passage, 3 s after: a part of the 501 ticks.
    assert!(
        pngs.len() > 120 && pngs.len() < 400,
        "{} frames",
        pngs.len()
    );
    assert!(
        stdout.contains(&format!("{} frames through junction 1", pngs.len())),
        "{stdout}"
    );
    // The map patch stands beside the camera frame, scaled to its height.
    let scenario = Scenario::load(&town).unwrap();
    let (w, h) = (scenario.camera.width_px, scenario.camera.height_px);
    let frame = steerlab::sim::Frame::from_png(&std::fs::read(&pngs[0]).unwrap(), 0, 0).unwrap();
    assert_eq!((frame.width, frame.height), (w + h, h));
    // A junction the drive never reaches is an error, not an empty export.
    let out = std::process::Command::new(bin)
        .arg("replay")
        .arg(&episode)
        .args(["--junction", "99", "--frames"])
        .arg(dir.join("none"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("fewer than 99 junction"));
}

#[test]
fn a_mixture_counts_as_multimodal_only_with_a_mode_of_its_own_at_each_exit() {
    use steerlab::drive::junctions::JunctionEntry;
    use steerlab::sim::network::Turn;
    let exits = vec![
        (Turn::Left, 0.07),
        (Turn::Straight, 0.0),
        (Turn::Right, -0.09),
    ];
    let entry = |components: Vec<(f64, f64, f64)>| JunctionEntry {
        junction: "j".into(),
        turn: Turn::Left,
        exits: exits.clone(),
        components,
    };
    // One narrow mode at each exit (and a negligible fourth component).
    let three = entry(vec![
        (0.3, 0.068, 0.01),
        (0.38, 0.002, 0.012),
        (0.3, -0.088, 0.01),
        (0.02, 0.03, 0.01),
    ]);
    assert_eq!(three.modes(), 3);
    assert!(three.one_mode_per_exit());
    let mass = three.mass_near_exits();
    assert_eq!(mass.len(), 3);
    assert!(mass.iter().all(|m| *m > 0.25 && *m < 0.45), "{mass:?}");
    // One broad mode over all three exits: unimodal, however much mass it puts near each.
    let broad = entry(vec![(0.5, 0.0, 0.05), (0.5, 0.01, 0.05)]);
    assert_eq!(broad.modes(), 1);
    assert!(!broad.one_mode_per_exit());
    // Two modes for three exits, or two components at one exit, do not count either.
    let two = entry(vec![(0.5, 0.07, 0.01), (0.5, -0.09, 0.01)]);
    assert_eq!(two.modes(), 2);
    assert!(!two.one_mode_per_exit());
    let twins = entry(vec![
        (0.5, 0.07, 0.01),
        (0.3, 0.075, 0.01),
        (0.2, -0.09, 0.01),
    ]);
    assert_eq!(twins.modes(), 2);
    assert!(!twins.one_mode_per_exit());
    // A narrow mode at one exit beside a wide one at the other: the density dips between
    // them, so two modes, each on its exit (a rule merging components within two of the wider
    // one's standard deviations saw one).
    let pair = JunctionEntry {
        exits: vec![(Turn::Right, -0.134), (Turn::Straight, 0.007)],
        ..entry(vec![
            (0.11, -0.002, 0.029),
            (0.39, -0.013, 0.019),
            (0.49, -0.121, 0.092),
        ])
    };
    assert_eq!(pair.modes(), 2);
    assert!(pair.one_mode_per_exit());
    // Two equal components 1.5σ apart make one flat-topped peak, not two.
    let flat = entry(vec![(0.5, 0.0, 0.02), (0.5, 0.03, 0.02)]);
    assert_eq!(flat.modes(), 1);
    // A lone exit with the mixture on it.
    let lone = JunctionEntry {
        exits: vec![(Turn::Right, -0.09)],
        ..entry(vec![(1.0, -0.085, 0.01)])
    };
    assert!(lone.one_mode_per_exit() && lone.modes_on_exits());
    assert!(three.modes_on_exits() && pair.modes_on_exits());
    // A mode per exit, in order, but each 3σ off its exit: one mode per exit, not on them.
    let off = entry(vec![
        (0.3, 0.04, 0.01),
        (0.4, -0.03, 0.01),
        (0.3, -0.12, 0.01),
    ]);
    assert_eq!(off.modes(), 3);
    assert!(off.one_mode_per_exit() && !off.modes_on_exits());
    // A mode on a road that is not there: a T junction (left and right) with a straight mode.
    let t = JunctionEntry {
        exits: vec![(Turn::Left, 0.07), (Turn::Right, -0.09)],
        ..three.clone()
    };
    assert!(!t.one_mode_per_exit() && !t.modes_on_exits());
}

#[test]
fn near_a_junction_every_exit_is_labelled_and_the_routes_label_is_the_experts() {
    use steerlab::sim::exits::{COMMIT_M, DECISION_ZONE_M};
    use steerlab::sim::network::Turn;
    use steerlab::world::{Env, EnvOptions};
    let mut env = Env::new(
        shipped("town_small.ron"),
        EnvOptions {
            render: false,
            ..EnvOptions::default()
        },
    )
    .unwrap();
    let mut obs = env.reset(3).unwrap().remove(0);
    let (mut labelled, mut far, mut several) = (0, 0, 0);
    for _ in 0..1500 {
        let r = obs.state.route.clone().unwrap();
        let near = r.in_junction || r.distance_to_junction_m <= DECISION_ZONE_M;
        if r.exits.is_empty() {
            far += 1;
            // Away from the junction, or committed to its turn.
            assert!(
                r.in_junction || r.distance_to_junction_m > DECISION_ZONE_M,
                "{r:?}"
            );
        } else {
            assert!(near);
            labelled += 1;
            // One label per exit, the route's among them and equal to the expert's (the
            // route's track is the lanes resampled, so within a little).
            let route = r
                .exits
                .iter()
                .find(|e| e.turn == r.turn)
                .expect("the route's exit");
            let expert = obs.info.expert_action.curvature_per_m;
            assert!(
                (route.curvature_per_m - expert).abs() < 0.01,
                "{:?}: {} vs the expert's {expert}",
                r.turn,
                route.curvature_per_m
            );
            if r.exits.len() >= 2 && r.in_junction {
                several += 1;
                // Entering the junction, left exits bend left of right ones.
                let of = |t: Turn| {
                    r.exits
                        .iter()
                        .find(|e| e.turn == t)
                        .map(|e| e.curvature_per_m)
                };
                if let (Some(l), Some(rt)) = (of(Turn::Left), of(Turn::Right)) {
                    assert!(l > 0.02 && rt < -0.02, "left {l}, right {rt}");
                }
            }
        }
        obs = env.step(obs.info.expert_action).unwrap();
    }
    assert!(
        labelled > 20 && far > 500 && several > 0,
        "{labelled} {far} {several}"
    );
    assert!(COMMIT_M > 0.0);
}

#[test]
fn a_model_not_told_the_route_learns_each_exit_near_a_junction() {
    use std::sync::Arc;
    use steerlab::nn::data::dataset::{Batch, BatchStream, Dataset, Sample, StreamSpec};
    use steerlab::sim::network::Turn;
    // A frame near a junction with three exits, recorded on a route that turned left, and
    // one on the road after it.
    let frame = crate::grey_frame(4, 2);
    let sample = |curvature_per_m, exits: Vec<(Turn, f32)>| Sample {
        png: frame.to_png().unwrap().into(),
        curvature_per_m,
        speed_m_s: 5.0,
        lane_offset_m: 0.0,
        heading_error_rad: 0.0,
        car_speed_m_s: 0.0,
        wheel_speed_m_s: None,
        episode: 0,
        tick: 0,
        map_png: None,
        command: steerlab::sim::map_input::Command::Left,
        exits,
    };
    let data = Arc::new(Dataset {
        samples: vec![
            sample(
                0.08,
                vec![
                    (Turn::Left, 0.08),
                    (Turn::Straight, 0.0),
                    (Turn::Right, -0.1),
                ],
            ),
            sample(0.01, Vec::new()),
        ],
        episodes: vec![PathBuf::from("e.mcap")],
        episode_scenarios: vec!["town".into()],
        frame_size: Some((2, 4)),
        warnings: Vec::new(),
    });
    let batch = |route_blind: bool, epoch: usize, order: Vec<usize>| -> Batch {
        let spec = StreamSpec {
            order,
            batch_size: 2,
            skip_batches: 0,
            augment: None,
            seed: 1,
            epoch,
            workers: 1,
            map_channels: 0,
            commands: false,
            route_blind,
            components: 5,
            target: Default::default(),
            speed: false,
            wheel_speed: false,
            braking_weight: None,
            pose: false,
        };
        BatchStream::new(data.clone(), spec)
            .next()
            .unwrap()
            .unwrap()
    };
    let targets = |route_blind: bool| -> Vec<f32> {
        (0..60)
            .map(|epoch| {
                batch(route_blind, epoch, vec![0])
                    .targets
                    .to_vec1::<f32>()
                    .unwrap()[0]
            })
            .collect()
    };
    // Told the route: always its label. Not told: each exit's, about equally often.
    assert!(targets(false).iter().all(|&k| k == 0.08));
    let blind = targets(true);
    for exit in [0.08f32, 0.0, -0.1] {
        let n = blind.iter().filter(|&&k| k == exit).count();
        assert!((10..=35).contains(&n), "{exit}: {n} of 60");
    }
    // Trained on: every exit's label on its manoeuvre's component (left 0, straight 1,
    // right 2), a third each; away from the junction the label on the whole mixture.
    assert!(batch(false, 1, vec![0, 1]).anchored.is_none());
    let anchored = batch(true, 1, vec![0, 1]).anchored.unwrap();
    let values = anchored.values.to_vec2::<f32>().unwrap();
    let shares = anchored.shares.to_vec2::<f32>().unwrap();
    assert_eq!(values[0], [0.08, 0.0, -0.1, 0.0, 0.0]);
    let third = 1.0 / 3.0;
    assert_eq!(shares[0], [third, third, third, 0.0, 0.0]);
    assert_eq!(shares[1], [0.0; 5]);
    assert_eq!(anchored.plain.to_vec1::<f32>().unwrap(), [0.0, 1.0]);
}

/// The steering gain: the policy's curvature regressed on the expert's, by place and on or off
/// the path; a policy steering half the expert's curvature in junctions when off its path has
/// gain 0.5 there, and a label too small to regress on gives none.
#[test]
fn steering_gain_is_the_policys_share_of_the_experts_curvature_by_place() {
    use steerlab::drive::metrics::SteeringGains;
    use steerlab::sim::network::Turn;
    use steerlab::sim::route_path::RoutePosition;
    let at = |in_junction: bool, distance_to_junction_m: f64| RoutePosition {
        lane: 0,
        route_index: 0,
        junction: "j".into(),
        turn: Turn::Left,
        distance_to_junction_m,
        in_junction,
        exits: Vec::new(),
    };
    let mut g = SteeringGains::default();
    assert!(g.is_empty());
    for k in 0..40 {
        let expert = 0.1 + 0.002 * k as f64;
        g.count(&at(true, 0.0), 0.0, 0.0, expert, expert); // on the path: as asked
        g.count(&at(true, 0.0), 0.6, 0.0, 0.5 * expert, expert); // off it: half
        g.count(&at(false, 500.0), 0.0, 0.0, 0.0, 0.001); // a road: labels too small
    }
    assert!((g.junction[0].gain().unwrap() - 1.0).abs() < 1e-9);
    assert!((g.junction[1].gain().unwrap() - 0.5).abs() < 1e-9);
    assert_eq!((g.road[0].ticks, g.road[0].gain()), (40, None));
    assert_eq!(g.approach[0].ticks + g.approach[1].ticks, 0);
    let mut both = g;
    both.merge(&g);
    assert_eq!(both.junction[1].ticks, 80);
    assert!((both.junction[1].gain().unwrap() - 0.5).abs() < 1e-9);
}

#[test]
fn a_lane_pose_head_learns_the_cars_place_on_its_path_from_the_camera_and_never_steers() {
    use candle_core::{Device, Tensor};
    use std::sync::Arc;
    use steerlab::nn::data::dataset::{BatchStream, Dataset, Sample, StreamSpec};
    use steerlab::nn::models::steering::config::PoseHeadConfig;
    use steerlab::nn::models::steering::presets::HeadChoice;
    use steerlab::nn::models::steering::{Inputs, Model};
    use steerlab::nn::{ModelConfig, ModelDir};
    use steerlab::sim::map_input::MapMode;
    // The labels: the offset from the route's lane in metres, the heading against it in
    // tenths of a radian, a car lost 5 m off told only "3 units".
    let frame = crate::grey_frame(8, 8);
    let sample = |lane_offset_m, heading_error_rad| Sample {
        png: frame.to_png().unwrap().into(),
        curvature_per_m: 0.0,
        speed_m_s: 5.0,
        lane_offset_m,
        heading_error_rad,
        car_speed_m_s: 5.0,
        wheel_speed_m_s: None,
        episode: 0,
        tick: 0,
        map_png: None,
        command: steerlab::sim::map_input::Command::Follow,
        exits: Vec::new(),
    };
    let data = Arc::new(Dataset {
        samples: vec![sample(0.4, -0.05), sample(-5.0, 0.5)],
        episodes: vec![PathBuf::from("e.mcap")],
        episode_scenarios: vec!["town".into()],
        frame_size: Some((8, 8)),
        warnings: Vec::new(),
    });
    let spec = |pose| StreamSpec {
        order: vec![0, 1],
        batch_size: 2,
        skip_batches: 0,
        augment: None,
        seed: 1,
        epoch: 0,
        workers: 1,
        map_channels: 0,
        commands: false,
        route_blind: false,
        components: 5,
        target: Default::default(),
        speed: false,
        wheel_speed: false,
        braking_weight: None,
        pose,
    };
    let batch = BatchStream::new(data.clone(), spec(true))
        .next()
        .unwrap()
        .unwrap();
    let poses = batch.poses.unwrap().to_vec2::<f32>().unwrap();
    let close = |a: f32, b: f32| (a - b).abs() < 1e-5;
    assert!(
        close(poses[0][0], 0.4) && close(poses[0][1], -0.5),
        "{poses:?}"
    );
    assert!(
        close(poses[1][0], -3.0) && close(poses[1][1], 3.0),
        "{poses:?}"
    );
    let unasked = BatchStream::new(data, spec(false)).next().unwrap().unwrap();
    assert!(unasked.poses.is_none());

    // `--pose-head W` adds the head to a driving policy, within its range only.
    let with = |preset: &str, w: f64| {
        let choice = HeadChoice {
            pose_weight: Some(w),
            ..HeadChoice::default()
        };
        ModelConfig::from_preset(
            preset,
            Some(MapMode::Routed).filter(|_| preset == "navnet"),
            &choice,
        )
    };
    assert_eq!(
        with("navnet", 2.0).unwrap().pose,
        Some(PoseHeadConfig::new(2.0))
    );
    for (preset, w, says) in [
        ("navnet", 0.0, "pose.weight"),
        ("navnet", f64::NAN, "pose.weight"),
        ("navnet", 101.0, "pose.weight"),
        ("lanepose", 1.0, "not a driving policy"),
    ] {
        let e = with(preset, w).unwrap_err().to_string();
        assert!(e.contains("--pose-head") && e.contains(says), "{e}");
    }
    // A config saved before the head existed reads as one without it, and one without it
    // saves no `pose` key.
    let plain = crate::nn::tiny_navnet();
    let json = serde_json::to_value(&plain).unwrap();
    assert!(json.get("pose").is_none());
    let read: ModelConfig = serde_json::from_value(json).unwrap();
    assert_eq!(read.pose, None);

    // Driving reads the steering head alone: the same weights steer the same with the pose
    // head and without it, and the head outputs two numbers a frame.
    let mut posed = plain.clone();
    posed.pose = Some(PoseHeadConfig::new(1.0));
    let dir = crate::tempdir("pose-head");
    let with_head = Model::new(posed, 3).unwrap();
    let without = Model::new(plain, 4).unwrap();
    let mut tensors = with_head.tensors().unwrap();
    tensors.retain(|name, _| !name.starts_with("pose."));
    assert_eq!(tensors.len(), without.tensors().unwrap().len());
    candle_core::safetensors::save(&tensors, dir.join("steering.safetensors")).unwrap();
    without
        .load_weights(&dir.join("steering.safetensors"))
        .unwrap();
    let dev = Device::Cpu;
    let inputs = Inputs {
        images: Tensor::rand(0f32, 1.0, (2, 3, 8, 8), &dev).unwrap(),
        maps: Some(Tensor::rand(0f32, 1.0, (2, 2, 8, 8), &dev).unwrap()),
        commands: None,
        wheel_speeds: None,
    };
    let (a, b) = (
        with_head.predict(&inputs).unwrap(),
        without.predict(&inputs).unwrap(),
    );
    for (a, b) in a.iter().zip(&b) {
        assert!((a.mode() - b.mode()).abs() < 1e-7 && (a.mean() - b.mean()).abs() < 1e-7);
    }
    // It reads the camera alone: another map leaves it as it was.
    let pose = |inputs: &Inputs| {
        let pose = with_head.net.forward_all(inputs).unwrap().pose.unwrap();
        assert_eq!(pose.dims(), &[2, 2]);
        pose.to_vec2::<f32>().unwrap()
    };
    let other_map = Inputs {
        maps: Some(Tensor::rand(0f32, 1.0, (2, 2, 8, 8), &dev).unwrap()),
        ..inputs.detach()
    };
    assert_eq!(pose(&inputs), pose(&other_map));
    assert_ne!(
        with_head.predict(&inputs).unwrap()[0].mean(),
        with_head.predict(&other_map).unwrap()[0].mean()
    );
    assert!(without.net.forward_all(&inputs).unwrap().pose.is_none());
}
