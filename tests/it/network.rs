//! Road networks: validation naming fields, connected lanes, turn paths continuous in
//! position, heading and curvature, routes through every manoeuvre, the expert driving
//! towns without leaving the paved area, the drivable-area raster, and towns rendered
//! (traffic: `traffic.rs`).

use steerlab::error::Error;
use steerlab::sim::network::raster::DrivableMap;
use steerlab::sim::network::route::Route;
use steerlab::sim::network::{LaneKind, Network, Turn};
use steerlab::sim::{Expert, ExpertConfig, Scenario, Simulation, Vec2};

pub(crate) fn shipped(name: &str) -> Scenario {
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
        let mut expert = Expert::new(ExpertConfig::default(), 7);
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
