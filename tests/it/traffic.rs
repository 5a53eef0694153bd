//! Traffic in towns: deterministic and collision-free, dense traffic over many seeds that never
//! locks, traffic cars rendered and labelled, episodes that resimulate with traffic bit for bit,
//! the driver's choice of turn, and a car placed onto another one.

use crate::network::shipped;
use steerlab::sim::{Expert, ExpertConfig, Scenario, Simulation, Vec2};

/// Drives `s` with the expert for `ticks`: (ego crashes by kind, traffic states at the end,
/// least distance between any two traffic bodies' centres seen).
fn drive_town(
    s: &Scenario,
    seed: u64,
    ticks: u64,
) -> (Vec<String>, Vec<steerlab::sim::VehicleState>, u64) {
    let mut sim = Simulation::new(s.clone(), 1).unwrap();
    sim.reset(seed);
    let mut expert = Expert::new(ExpertConfig::default(), seed);
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
fn dense_traffic_over_many_seeds_never_collides_or_stands_for_a_minute() {
    // Ten cars per km of lane (NoCrash's dense level puts 100 cars in its Town01): IDM
    // queues, every approach of every crossing busy. `steerlab bench traffic` runs the same
    // soak over 100 seeds of ten minutes in every shipped town.
    use steerlab::sim::traffic::soak::{cars_at_density, soak, town_lane_km};
    for (town, seeds) in [("town_small", 0..12), ("town", 0..2)] {
        let mut s = shipped(town);
        let world = steerlab::sim::built::BuiltWorld::validated(&s).unwrap();
        s.traffic.cars = cars_at_density(town_lane_km(&s, &world).unwrap(), 10.0).unwrap();
        for seed in seeds {
            let soaked = soak(&s, &world, seed, 180.0, 60.0).unwrap();
            assert!(soaked.cars >= 25, "{town}: {} cars", soaked.cars);
            assert_eq!(soaked.ego_crashes, 0, "{town} seed {seed}");
            assert_eq!(
                soaked.traffic_overlaps, 0,
                "{town} seed {seed}: cars collided"
            );
            assert_eq!(
                soaked.cars_over_limit,
                0,
                "{town} seed {seed}: {}",
                soaked
                    .longest
                    .as_ref()
                    .map_or(String::new(), |l| l.to_string())
            );
            // Every car keeps moving: a locked junction would freeze some for good.
            assert!(
                soaked.slowest_m_per_min > 60.0,
                "{town} seed {seed}: the slowest car drove {:.0} m a minute",
                soaked.slowest_m_per_min
            );
        }
    }
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
        noise: steerlab::sim::DartNoise::white(0.02),
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
    let mut expert = Expert::new(ExpertConfig::default(), 2);
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

#[test]
fn a_car_that_leaves_by_a_wrong_exit_is_off_its_route_until_it_is_back() {
    // Another car takes a different exit at each of the route's first junctions; the route's
    // car is put where it is, tick by tick. From the wrong exit on, it is off its route: its
    // place on the route stays near where it left (it moves by no more than the stretch
    // searched around it, 20 m), never jumping to a part of the route that happens to be nearer.
    use steerlab::sim::network::Turn;
    let mut s = shipped("town_small");
    s.traffic = Default::default();
    s.episode_steps = u32::MAX;
    let mut truth = Simulation::new(s.clone(), 1).unwrap();
    truth.reset(4);
    let mut expert = Expert::new(ExpertConfig::default(), 4);
    let (mut tried, mut last_junction) = (0, String::new());
    for _ in 0..4000 {
        let route = truth.states()[0].route.clone().unwrap();
        if !route.in_junction
            && route.junction != last_junction
            && route.distance_to_junction_m < 30.0
        {
            last_junction = route.junction.clone();
            for turn in [Turn::Left, Turn::Right, Turn::Straight] {
                let mut wrong = truth.clone();
                if turn == route.turn || wrong.choose_turn(turn).is_err() {
                    continue;
                }
                tried += 1;
                let mut placed = truth.clone();
                let mut other = Expert::new(ExpertConfig::default(), 4);
                let (mut off_for, mut last_s) = (0u32, placed.states()[0].s_m);
                let half_track = placed.track.length_m() / 2.0;
                for t in 0..500 {
                    let state = wrong.states()[0].clone();
                    let a = other.act(&wrong.track, &state, s.vehicle.speed_m_s).applied;
                    let vehicle = wrong.step(&[a]).unwrap()[0].vehicle;
                    let on = placed.place(0, vehicle).unwrap().clone();
                    let jump = (on.s_m - last_s).abs();
                    assert!(
                        jump.min(2.0 * half_track - jump) < 25.0,
                        "{} {turn:?}, tick {t}: the route place jumped {last_s:.1} → {:.1} m",
                        route.junction,
                        on.s_m
                    );
                    last_s = on.s_m;
                    off_for += (on.lateral_offset_m.abs() > 1.75) as u32;
                }
                // Most of the drive after the wrong exit is off the route.
                assert!(
                    off_for > 300,
                    "{} {turn:?}: off for {off_for} ticks",
                    route.junction
                );
                break;
            }
        }
        let state = truth.states()[0].clone();
        let a = expert
            .act(&truth.track, &state, s.vehicle.speed_m_s)
            .applied;
        truth.step(&[a]).unwrap();
        if tried >= 4 {
            break;
        }
    }
    assert!(tried >= 4, "tried {tried} wrong exits");
}

#[test]
fn cars_that_brake_suddenly_brake_hard_and_nobody_runs_into_them() {
    let mut s = shipped("town_small");
    s.traffic.cars = 20;
    s.traffic.sudden_brakes_per_min = 6.0;
    s.episode_steps = u32::MAX;
    let mut sim = Simulation::new(s.clone(), 1).unwrap();
    sim.reset(3);
    let mut expert = Expert::new(ExpertConfig::default(), 3);
    let (mut brakes, mut hardest) = (0, 0.0f64);
    let mut last = sim.traffic_states();
    for _ in 0..2400 {
        let state = sim.states()[0].clone();
        let a = expert.act(&sim.track, &state, s.vehicle.speed_m_s).applied;
        let ego = sim.step(&[a]).unwrap()[0].clone();
        assert!(ego.crash.is_none(), "tick {}: {:?}", ego.tick, ego.crash);
        let cars = &sim.town().unwrap().traffic.as_ref().unwrap().cars;
        brakes += cars.iter().filter(|c| c.braking_s > 0.0).count();
        let now = sim.traffic_states();
        for (a, b) in last.iter().zip(&now) {
            hardest = hardest.max((a.speed_m_s - b.speed_m_s) / s.dt_s);
        }
        last = now;
    }
    assert!(brakes > 100, "{brakes} car-ticks of sudden braking");
    assert!(hardest >= 5.9, "hardest braking {hardest:.1} m/s²");
    use steerlab::sim::traffic::soak::{cars_at_density, soak, town_lane_km};
    let world = steerlab::sim::built::BuiltWorld::validated(&s).unwrap();
    s.traffic.cars = cars_at_density(town_lane_km(&s, &world).unwrap(), 8.0).unwrap();
    let soaked = soak(&s, &world, 1, 180.0, 60.0).unwrap();
    assert_eq!(
        (soaked.ego_crashes, soaked.traffic_overlaps),
        (0, 0),
        "{soaked:?}"
    );
}

#[test]
fn the_traffic_suite_drives_every_town_and_level_and_names_bad_fields() {
    use steerlab::drive::traffic_suite::{TrafficSuite, run_traffic_suite};
    let dir = crate::tempdir("traffic-suite");
    let text = r#"TrafficSuite(
        name: "tiny",
        towns: ["town_small.ron"],
        levels: [(name: "empty", cars_per_lane_km: 0.0), (name: "dense", cars_per_lane_km: 10.0, sudden_brakes_per_min: 1.0)],
        routes: 2,
        route_km: 0.15,
        min_average_speed_m_s: 2.0,
    )"#;
    let file = dir.join("tiny.ron");
    std::fs::write(&file, text).unwrap();
    let name = file.to_str().unwrap();
    assert!(TrafficSuite::is_traffic_suite(name) && TrafficSuite::is_traffic_suite("traffic"));
    assert!(!TrafficSuite::is_traffic_suite("robustness"));
    let (suite, towns) = TrafficSuite::named(name).unwrap();
    // The shipped town is found by its path under scenarios/, not next to the suite file.
    assert_eq!(towns[0].name, "town_small");
    let out = dir.join("out");
    let result = run_traffic_suite(None, &suite, &towns, &out, 0, &mut |_, _, _| {}).unwrap();
    assert_eq!(result.cells.len(), 2);
    for c in &result.cells {
        // The expert completes every route in time, in traffic too.
        assert_eq!((c.routes, c.successes), (2, 2), "{c:?}");
        assert!((c.metrics.distance_km - 0.3).abs() < 0.01, "{c:?}");
    }
    assert_eq!(result.cells[0].cars, 0);
    assert!(result.cells[1].cars >= 20, "{:?}", result.cells[1].cars);
    let md = std::fs::read_to_string(out.join("traffic_suite.md")).unwrap();
    assert!(
        md.contains("| town_small | dense |") && md.contains("| 100 % | 2/2 |"),
        "{md}"
    );
    assert!(md.contains("Speed: the expert's profile"), "{md}");
    assert!(out.join("traffic_suite.png").is_file() && out.join("traffic_suite.json").is_file());
    // Every route is recorded, to replay the ones that fail.
    let routes = std::fs::read_dir(out.join("routes")).unwrap().count();
    assert_eq!(routes, 4);
    assert!(out.join("routes/town_small_dense_1.mcap").is_file());
    // Bad fields are named.
    let bad = text
        .replace("routes: 2", "routes: 0")
        .replace("town_small.ron", "nowhere.ron")
        .replace("cars_per_lane_km: 10.0", "cars_per_lane_km: -1.0");
    std::fs::write(&file, &bad).unwrap();
    let err = TrafficSuite::named(name).unwrap_err().to_string();
    assert!(
        err.contains("routes: 0") && err.contains("cars_per_lane_km: -1"),
        "{err}"
    );
    std::fs::write(&file, text.replace("town_small.ron", "nowhere.ron")).unwrap();
    let err = TrafficSuite::named(name).unwrap_err().to_string();
    assert!(err.contains("towns[0]: nowhere.ron"), "{err}");
}
