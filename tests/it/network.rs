//! Road networks: validation naming fields, connected lanes, turn paths continuous in
//! position, heading and curvature, routes through every manoeuvre, the expert driving
//! towns without leaving the paved area, the drivable-area raster, and towns rendered.

use steerlab::error::Error;
use steerlab::sim::network::raster::DrivableMap;
use steerlab::sim::network::route::Route;
use steerlab::sim::network::{LaneKind, Network, Turn};
use steerlab::sim::{Expert, ExpertConfig, Scenario, Simulation, Vec2};

fn shipped(name: &str) -> Scenario {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.ron"));
    Scenario::load(&path).unwrap()
}

fn network(s: &Scenario) -> (Network, Route) {
    s.build_network().unwrap().expect("a network scenario")
}

/// `town_small.ron` with its `track:` replaced.
fn with_track(track: &str) -> String {
    format!(
        "Scenario(name: \"bad\", seed: 1, episode_steps: 10, track: {track}, road: (width_m: 7.0))"
    )
}

fn problems(text: &str) -> Vec<String> {
    match Scenario::from_ron(text, "bad.ron") {
        Err(Error::ScenarioInvalid { problems, .. }) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn shipped_towns_have_every_junction_kind_and_connected_lanes() {
    let (small, _) = network(&shipped("town_small"));
    let [dead, _, t, four, _] = small.junction_counts();
    assert!(dead >= 1 && t >= 2 && four >= 1, "{}", small.summary());
    let (town, _) = network(&shipped("town"));
    let [_, bends, t, four, _] = town.junction_counts();
    assert!(
        t + four >= 12 && t >= 2 && four >= 2 && bends == 0,
        "{}",
        town.summary()
    );
    assert!(town.unreachable_lanes().is_empty());
    assert!(town.roads.iter().any(|r| r.lanes == 2));
    // Generated towns of other seeds and sizes build too, deterministically.
    for seed in 0..5 {
        let s = Scenario::from_ron(
            &with_track(&format!("Town(seed: {seed}, size_m: {})", 300 + 150 * seed)),
            "gen.ron",
        )
        .unwrap();
        let (a, ra) = network(&s);
        let (b, rb) = network(&s);
        assert_eq!(a.lanes.len(), b.lanes.len());
        assert_eq!(ra, rb);
        assert!(a.junctions.len() >= 12, "seed {seed}: {}", a.summary());
    }
}

#[test]
fn bad_networks_name_their_fields() {
    let cases = [
        // A junction with one road.
        (
            r#"Network(nodes: [(name: "a", at: (0.0, 0.0)), (name: "b", at: (100.0, 0.0))], roads: [(from: "a", to: "b")])"#,
            "track.nodes[0] (\"a\"): a junction with one road",
        ),
        // An unknown node and an unsupported lane count.
        (
            r#"Network(nodes: [(name: "a", at: (0.0, 0.0), kind: DeadEnd), (name: "b", at: (100.0, 0.0), kind: DeadEnd)], roads: [(from: "a", to: "c", lanes: 3)])"#,
            "track.roads[0].to: no node is named \"c\"",
        ),
        // Two pieces.
        (
            r#"Network(nodes: [(name: "a", at: (0.0, 0.0), kind: DeadEnd), (name: "b", at: (100.0, 0.0), kind: DeadEnd), (name: "c", at: (0.0, 300.0), kind: DeadEnd), (name: "d", at: (100.0, 300.0), kind: DeadEnd)], roads: [(from: "a", to: "b"), (from: "c", to: "d")])"#,
            "disconnected",
        ),
        // Roads crossing without a junction.
        (
            r#"Network(nodes: [(name: "a", at: (0.0, 0.0), kind: DeadEnd), (name: "b", at: (200.0, 0.0)), (name: "c", at: (100.0, -100.0), kind: DeadEnd), (name: "d", at: (100.0, 100.0))], roads: [(from: "a", to: "b"), (from: "c", to: "d"), (from: "d", to: "b", via: [(250.0, 60.0)])])"#,
            "track.roads[0] and track.roads[1]",
        ),
        // Nodes too close for their junction surfaces.
        (
            r#"Network(nodes: [(name: "a", at: (0.0, 0.0), kind: DeadEnd), (name: "b", at: (20.0, 0.0), kind: DeadEnd)], roads: [(from: "a", to: "b")])"#,
            "track.roads[0]: the road from a to b leaves",
        ),
        // A dead end with two roads, and a generated town too small.
        (
            r#"Network(nodes: [(name: "a", at: (0.0, 0.0), kind: DeadEnd), (name: "b", at: (100.0, 0.0)), (name: "c", at: (200.0, 0.0))], roads: [(from: "a", to: "b"), (from: "a", to: "c", via: [(100.0, 80.0)]), (from: "b", to: "c")])"#,
            "track.nodes[0] (\"a\"): a dead end with 2 roads",
        ),
        ("Town(seed: 1, size_m: 10.0)", "track.size_m"),
        (
            "Town(seed: 1, size_m: 400.0, route: Turns([]))",
            "track.route",
        ),
        // Two dead ends joined by one road, asked for a left turn: once overflowed the stack
        // (a U-turn at a dead end uses up no manoeuvre, so the search went round for ever).
        (
            r#"Network(nodes: [(name: "a", at: (0.0, 0.0), kind: DeadEnd), (name: "b", at: (100.0, 0.0), kind: DeadEnd)], roads: [(from: "a", to: "b")], route: Turns([Left]))"#,
            "turn 0 (Left) cannot be made",
        ),
        // A `via` point at 1e300 m: once sized a 4 GB allocation from the network's extent.
        (
            r#"Network(nodes: [(name: "a", at: (0.0, 0.0), kind: DeadEnd), (name: "b", at: (100.0, 0.0), kind: DeadEnd)], roads: [(from: "a", to: "b", via: [(1e300, 0.0)])])"#,
            "the limit is 5000 m each way",
        ),
        (
            r#"Network(nodes: [(name: "a", at: (0.0, 0.0), kind: DeadEnd), (name: "b", at: (100.0, 0.0), kind: DeadEnd)], roads: [(from: "a", to: "b", via: [(50.0, inf)])])"#,
            "track.roads[0].via: every coordinate must be finite",
        ),
    ];
    for (track, needle) in cases {
        let p = problems(&with_track(track));
        assert!(
            p.iter().any(|m| m.contains(needle)),
            "{track}: no {needle:?} in {p:#?}"
        );
    }
    // Every problem at once: the unknown node and the lane count together.
    let p = problems(&with_track(cases[1].0));
    assert!(
        p.iter().any(|m| m.contains("track.roads[0].lanes")),
        "{p:#?}"
    );
}

#[test]
fn turn_paths_join_their_lanes_continuously() {
    for name in ["town_small", "town"] {
        let (net, _) = network(&shipped(name));
        let mut turns = 0;
        for (i, lane) in net.lanes.iter().enumerate() {
            for &n in &lane.next {
                let (a, b) = (&lane.path, &net.lanes[n].path);
                let gap = a.end().distance(b.start());
                let dh = steerlab::sim::math::wrap_angle(a.end_heading() - b.start_heading());
                // Curvature over the last and the first 0.4 m.
                let dk = a.curvature(a.length_m(), 0.8) - b.curvature(0.0, 0.8);
                assert!(gap < 1e-6, "{name}: lane {i} → {n} leaves a {gap} m gap");
                assert!(
                    dh.abs() < 3f64.to_radians(),
                    "{name}: lane {i} → {n} kinks by {dh} rad"
                );
                // (Measured on 0.25–0.5 m samples: a few hundredths is the measurement's noise.)
                assert!(
                    dk.abs() < 0.05,
                    "{name}: lane {i} → {n} curvature jumps by {dk}"
                );
            }
            if let LaneKind::Turn { .. } = lane.kind {
                turns += 1;
                // Turn paths stay drivable: curvature within the default car's reach.
                let len = lane.path.length_m();
                let mut s = 0.0;
                while s < len {
                    let k = lane.path.curvature(s, 1.5).abs();
                    assert!(k < 0.22, "{name}: turn path {i} curves {k} 1/m at {s:.1} m");
                    s += 0.5;
                }
            }
        }
        assert!(turns > 10);
    }
}

#[test]
fn routes_take_the_manoeuvres_asked_for() {
    let s = shipped("town_small");
    let (net, _) = network(&s);
    let asked = [
        Turn::Left,
        Turn::Straight,
        Turn::Right,
        Turn::UTurn,
        Turn::Right,
    ];
    let route = Route::from_turns(&net, &asked).unwrap();
    let taken: Vec<Turn> = route.junctions(&net).iter().map(|j| j.turn).collect();
    // Dead ends met on the way are turned round at; the rest are the manoeuvres asked for.
    let mut k = 0;
    for t in &taken {
        if k < asked.len() && *t == asked[k] {
            k += 1;
        } else {
            assert!(
                k == asked.len() || *t == Turn::UTurn,
                "{taken:?} for {asked:?}"
            );
        }
    }
    assert_eq!(k, asked.len(), "{taken:?}");
    // The route is a closed walk over connected lanes.
    for w in route.lanes.windows(2) {
        assert!(net.lanes[w[0]].next.contains(&w[1]));
    }
    let last = route.lanes[route.lanes.len() - 1];
    assert!(net.lanes[last].next.contains(&route.lanes[0]));
    // A manoeuvre no junction allows is named.
    let err = Route::from_turns(
        &net,
        &[
            Turn::UTurn,
            Turn::UTurn,
            Turn::UTurn,
            Turn::UTurn,
            Turn::Left,
            Turn::Left,
            Turn::Left,
            Turn::Left,
            Turn::Left,
            Turn::Left,
            Turn::UTurn,
            Turn::UTurn,
            Turn::UTurn,
        ],
    );
    if let Err(e) = err {
        assert!(e.contains("cannot be made"), "{e}");
    }
    // `Turns` is capped, so planning stays bounded.
    let long = vec![Turn::Straight; steerlab::sim::network::route::MAX_TURNS + 1];
    let e = Route::from_turns(&net, &long).unwrap_err();
    assert!(e.contains("the limit is"), "{e}");
    // Random routes are seeded.
    assert_eq!(Route::random(&net, 4, 10), Route::random(&net, 4, 10));
}

#[test]
fn the_expert_drives_towns_on_the_paved_area_through_every_junction() {
    for name in ["town_small", "town"] {
        let mut s = shipped(name);
        s.episode_steps = u32::MAX;
        let (net, route) = network(&s);
        let junctions = route.junctions(&net).len();
        let mut sim = Simulation::new(s.clone(), 1).unwrap();
        sim.reset(7);
        let mut expert = Expert::new(ExpertConfig::default(), 0.0, 7);
        let route_m = route.length_m(&net);
        let mut crashes = 0;
        let mut max_offset: f64 = 0.0;
        // Once round the whole route.
        let ticks = (route_m / (0.6 * s.vehicle.speed_m_s * s.dt_s)) as u64;
        for _ in 0..ticks {
            let state = sim.states()[0].clone();
            let a = expert.act(&sim.track, &state, s.vehicle.speed_m_s).applied;
            let after = &sim.step(&[a]).unwrap()[0];
            crashes += after.crash.is_some() as u32;
            max_offset = max_offset.max(after.lateral_offset_m.abs());
            if after.stats.distance_m > route_m + 20.0 {
                break;
            }
        }
        let st = &sim.states()[0].stats;
        assert!(
            st.distance_m > route_m,
            "{name}: drove {} of {route_m} m",
            st.distance_m
        );
        assert_eq!(crashes, 0, "{name}: {crashes} ticks off the paved area");
        assert!(
            max_offset < 0.6,
            "{name}: {max_offset} m from the lane centre"
        );
        assert!(
            junctions >= 5,
            "{name}: the route passes {junctions} junctions"
        );
    }
}

#[test]
fn the_drivable_raster_matches_the_network_and_patches_turn_with_the_car() {
    let (net, route) = network(&shipped("town_small"));
    let map = DrivableMap::new(&net, 0.25);
    // The raster agrees with the exact test away from the edges.
    let (w, h) = map.size();
    let mut disagree = 0;
    let mut checked = 0;
    for y in (0..h).step_by(7) {
        for x in (0..w).step_by(7) {
            let p = map.cell_centre(x, y);
            checked += 1;
            disagree += (map.is_paved(p) != net.is_paved(p)) as u32;
        }
    }
    assert_eq!(disagree, 0, "{disagree} of {checked} cells disagree");
    // On a lane heading along it: the patch is paved under and ahead of the car, and not
    // everywhere (the ground beside a road).
    let lane = &net.lanes[route.lanes[0]].path;
    let (p, heading) = lane.at(lane.length_m() / 2.0);
    let mut patch = vec![0.0f32; 64 * 64];
    map.patch(p, heading, 40.0, 64, &mut patch);
    assert_eq!(patch[32 * 64 + 32], 1.0);
    assert_eq!(patch[28 * 64 + 32], 1.0, "4 cells (5 m) ahead");
    let paved: f32 = patch.iter().sum();
    assert!(paved > 64.0 && paved < 64.0 * 40.0, "{paved}");
    // Turning the car turns the patch: the same place heading the other way is a flipped
    // view.
    let mut back = vec![0.0f32; 64 * 64];
    map.patch(p, heading + std::f64::consts::PI, 40.0, 64, &mut back);
    let flipped = (0..64 * 64)
        .filter(|&k| patch[k] != back[64 * 64 - 1 - k])
        .count();
    assert!(
        flipped < 64,
        "{flipped} cells differ from the flipped patch"
    );
    let _ = Vec2::new(0.0, 0.0);
}

#[test]
fn towns_render_with_road_under_the_car_and_junction_surfaces_in_view() {
    use steerlab::sim::labels::LabelClass;
    use steerlab::world::{Env, EnvOptions};
    let s = shipped("town_small");
    let options = EnvOptions {
        labels: true,
        ..EnvOptions::default()
    };
    let building_pixels = |env: &mut Env, seed| {
        let obs = env.reset(seed).unwrap().remove(0);
        let mask = obs.labels.as_ref().unwrap().class_mask();
        mask.iter()
            .filter(|&&c| c as usize == LabelClass::Building.index())
            .count()
    };
    // Buildings line the roads (a town is built up by default), and `density: 0` clears them.
    let mut open = s.clone();
    open.buildings.density = 0.0;
    let mut env = Env::new(open, options.clone()).unwrap();
    assert_eq!(
        (0..3).map(|k| building_pixels(&mut env, k)).sum::<usize>(),
        0
    );
    let mut env = Env::new(s, options).unwrap();
    let built: usize = (0..3).map(|k| building_pixels(&mut env, k)).sum();
    assert!(built > 300, "{built} building pixels in three frames");
    let mut road_rows = 0;
    for seed in 0..3 {
        let obs = env.reset(seed).unwrap().remove(0);
        let labels = obs.labels.as_ref().expect("labels are on");
        let mask = labels.class_mask();
        let class = |x: u32, y: u32| mask[(y * labels.width + x) as usize] as usize;
        assert_eq!(
            class(100, labels.height - 1),
            LabelClass::Road.index(),
            "seed {seed}"
        );
        assert_eq!(class(100, 0), LabelClass::Sky.index());
        // Paint is seen (centre line, edges or stop lines).
        let paint = mask
            .iter()
            .filter(|&&c| c as usize == LabelClass::LaneMarking.index())
            .count();
        assert!(paint > 20, "seed {seed}: {paint} paint pixels");
        road_rows += (0..labels.height)
            .filter(|&y| class(100, y) == LabelClass::Road.index())
            .count();
        let f = obs.frame.as_ref().unwrap();
        assert!(f.rgb.iter().any(|&v| v > 0));
    }
    assert!(road_rows > 30);
}

/// Drives `s` with the expert for `ticks`: (ego crashes by kind, traffic states at the end,
/// least distance between any two traffic bodies' centres seen).
fn drive_town(
    s: &Scenario,
    seed: u64,
    ticks: u64,
) -> (Vec<String>, Vec<steerlab::sim::VehicleState>, u64) {
    let mut sim = Simulation::new(s.clone(), 1).unwrap();
    sim.reset(seed);
    let mut expert = Expert::new(ExpertConfig::default(), 0.0, seed);
    let mut crashes = Vec::new();
    let mut traffic_overlaps = 0;
    for _ in 0..ticks {
        let state = sim.states()[0].clone();
        let a = expert.act(&sim.track, &state, s.vehicle.speed_m_s).applied;
        let after = sim.step(&[a]).unwrap()[0].clone();
        if let Some(c) = after.crash {
            crashes.push(format!("tick {}: {c}", after.tick));
        }
        let traffic = sim.town().unwrap().traffic.as_ref().unwrap();
        let bodies = traffic.bodies();
        for i in 0..bodies.len() {
            for k in i + 1..bodies.len() {
                traffic_overlaps += bodies[i].overlaps(&bodies[k]) as u64;
            }
        }
    }
    (crashes, sim.traffic_states(), traffic_overlaps)
}

#[test]
fn traffic_is_deterministic_and_nobody_collides() {
    let s = shipped("town_traffic");
    let (crashes, end, overlaps) = drive_town(&s, 3, 2400);
    assert!(crashes.is_empty(), "{crashes:?}");
    assert_eq!(overlaps, 0, "traffic cars overlapped {overlaps} times");
    assert_eq!(end.len(), 14);
    // The cars moved: the traffic is not stuck.
    assert!(
        end.iter().filter(|v| v.speed_m_s > 0.5).count() >= 5,
        "{end:?}"
    );
    let (_, again, _) = drive_town(&s, 3, 2400);
    assert_eq!(end, again, "same seed, same traffic");
}

#[test]
fn a_dense_jam_and_a_busy_crossing_never_collide_or_lock() {
    // Many cars in a small town: IDM queues, every approach of every crossing busy.
    let mut s = shipped("town_small");
    s.traffic = steerlab::sim::traffic::TrafficSpec {
        cars: 16,
        seed: 5,
        ..Default::default()
    };
    // Ten simulated minutes.
    s.episode_steps = u32::MAX;
    let ticks = (600.0 / s.dt_s) as u64;
    let mut sim = Simulation::new(s.clone(), 1).unwrap();
    sim.reset(1);
    let mut expert = Expert::new(ExpertConfig::default(), 0.0, 1);
    let mut moved = vec![0.0f64; 16];
    let mut last = sim.traffic_states();
    let mut crashes = 0;
    for t in 0..ticks {
        let state = sim.states()[0].clone();
        let a = expert.act(&sim.track, &state, s.vehicle.speed_m_s).applied;
        crashes += sim.step(&[a]).unwrap()[0].crash.is_some() as u32;
        let now = sim.traffic_states();
        for (i, (a, b)) in last.iter().zip(&now).enumerate() {
            moved[i] += a.position.distance(b.position);
        }
        last = now;
        let bodies = sim.town().unwrap().traffic.as_ref().unwrap().bodies();
        for i in 0..bodies.len() {
            for k in i + 1..bodies.len() {
                assert!(
                    !bodies[i].overlaps(&bodies[k]),
                    "tick {t}: cars {i} and {k} collide"
                );
            }
        }
    }
    assert_eq!(crashes, 0);
    // Nobody waits forever: every car covered ground (a deadlock would freeze some).
    for (i, m) in moved.iter().enumerate() {
        assert!(*m > 500.0, "car {i} moved only {m:.0} m in ten minutes");
    }
    assert!(sim.states()[0].stats.distance_m > 1000.0);
}

#[test]
fn traffic_cars_are_rendered_and_labelled_as_cars() {
    use steerlab::sim::labels::LabelClass;
    use steerlab::world::{Env, EnvOptions};
    let mut s = shipped("town_traffic");
    s.props.clear();
    let mut env = Env::new(
        s,
        EnvOptions {
            labels: true,
            ..EnvOptions::default()
        },
    )
    .unwrap();
    // Drive until a traffic car is in view: its box is labelled Car.
    let mut obs = env.reset(3).unwrap();
    let mut seen = 0;
    for _ in 0..600 {
        let labels = obs[0].labels.as_ref().unwrap();
        let boxes = labels.boxes(20);
        if boxes.iter().any(|b| b.class == LabelClass::Car) {
            seen += 1;
            if seen >= 3 {
                break;
            }
        }
        let a = obs[0].info.expert_action;
        obs = env.step_all(&[a]).unwrap();
    }
    assert!(seen >= 3, "no traffic car came into view");
    assert!(env.simulation().traffic_states().len() == 14);
}

#[test]
fn town_episodes_record_the_route_and_resimulate_with_traffic_bit_for_bit() {
    use steerlab::drive::collect::{RecordOptions, Shard, record};
    use steerlab::drive::resimulate::{Counterfactual, resimulate};
    use steerlab::record::EpisodeReader;
    let dir = crate::tempdir("town-record");
    let mut s = shipped("town_traffic");
    s.episode_steps = 120;
    let options = RecordOptions {
        scenarios: vec![s],
        episodes: 1,
        out: dir.clone(),
        noise_std_per_m: 0.02,
        noise_correlation_s: 0.0,
        seed: 9,
        labels: false,
        shard: Shard::default(),
        randomise: None,
        map: None,
    };
    let summary = record(&options, &mut |_| {}).unwrap();
    let episode = EpisodeReader::open(&summary.files[0]).unwrap();
    let steps: Vec<_> = episode.steps(false).unwrap().collect();
    assert_eq!(steps.len(), 121);
    // Every tick says where the car is on its route; the distance to the next junction
    // shrinks as the car drives towards it.
    let routes: Vec<_> = steps
        .iter()
        .map(|s| s.route.clone().expect("a /route message"))
        .collect();
    assert!(
        routes
            .iter()
            .all(|r| ["Left", "Straight", "Right", "UTurn"].contains(&r.turn.as_str()))
    );
    let (a, b) = (&routes[10], &routes[11]);
    if a.junction == b.junction && !a.in_junction && !b.in_junction {
        assert!(
            b.distance_to_junction_m < a.distance_to_junction_m,
            "{a:?} then {b:?}"
        );
    }
    // The traffic cars are recorded every tick, for replays.
    assert!(
        steps
            .iter()
            .all(|s| s.traffic.as_ref().is_some_and(|t| t.cars.len() == 14))
    );
    let r = resimulate(&episode, &Counterfactual::default(), &mut |_, _| Ok(())).unwrap();
    assert_eq!((r.compared, r.matching), (121, 121));
}

#[test]
fn a_driver_can_choose_the_turn_at_the_next_junction() {
    use steerlab::sim::network::Turn;
    let mut s = shipped("town_small");
    s.episode_steps = u32::MAX;
    let mut sim = Simulation::new(s.clone(), 1).unwrap();
    sim.reset(2);
    let mut expert = Expert::new(ExpertConfig::default(), 0.0, 2);
    // At every junction the car comes to, ask for the first manoeuvre it allows other than
    // the planned one, and check the car takes it and stays on the paved area.
    let mut chosen = 0;
    let mut last_junction = String::new();
    for _ in 0..6000 {
        let state = sim.states()[0].clone();
        let route = state.route.clone().unwrap();
        if !route.in_junction
            && route.junction != last_junction
            && route.distance_to_junction_m < 40.0
        {
            last_junction = route.junction.clone();
            for turn in [Turn::Left, Turn::Right, Turn::Straight] {
                if turn != route.turn && sim.choose_turn(turn).is_ok() {
                    let after = sim.states()[0].route.clone().unwrap();
                    assert_eq!(
                        (after.turn, after.junction.as_str()),
                        (turn, route.junction.as_str())
                    );
                    chosen += 1;
                    break;
                }
            }
        }
        let state = sim.states()[0].clone();
        let a = expert.act(&sim.track, &state, s.vehicle.speed_m_s).applied;
        let after = sim.step(&[a]).unwrap()[0].clone();
        assert!(
            after.crash.is_none(),
            "tick {}: {:?}",
            after.tick,
            after.crash
        );
        assert!(
            after.lateral_offset_m.abs() < 0.6,
            "tick {}: {}",
            after.tick,
            after.lateral_offset_m
        );
    }
    assert!(chosen >= 5, "chose {chosen} turns");
    // Outside a town there is nothing to choose.
    let mut loop_sim =
        Simulation::new(steerlab::sim::scenario::builtin().unwrap().remove(0), 1).unwrap();
    assert!(loop_sim.choose_turn(Turn::Left).is_err());
}

#[test]
fn a_car_placed_onto_a_traffic_car_is_a_crash_that_ends_the_episode_when_asked() {
    use steerlab::sim::Crash;
    let mut s = shipped("town_traffic");
    s.end_on_crash = true;
    let mut sim = Simulation::new(s, 1).unwrap();
    sim.reset(3);
    assert!(sim.states()[0].crash.is_none());
    // On top of traffic car 0, and then just beside it (a body width and a bit to its left).
    let car = sim.traffic_states()[0];
    let state = sim.place(0, car).unwrap().clone();
    assert_eq!(state.crash, Some(Crash::Car));
    assert!(state.done, "end_on_crash ends the episode");
    let beside = steerlab::sim::VehicleState {
        position: car.position + Vec2::from_heading(car.heading).perp() * 2.2,
        ..car
    };
    let state = sim.place(0, beside).unwrap().clone();
    assert_ne!(state.crash, Some(Crash::Car), "{:?}", state.crash);
}
