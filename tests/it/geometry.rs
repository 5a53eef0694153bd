//! Track geometry, vehicle and expert properties, without rendering.

use proptest::prelude::*;
use steerlab::sim::scenario::builtin;
use steerlab::sim::{Action, Expert, ExpertConfig, Simulation, Track, Vec2, Vehicle, VehicleState};

/// A random star-shaped loop: radii between 60 and 100 m at evenly spaced angles.
fn star(radii: &[f64]) -> Track {
    let n = radii.len();
    let pts: Vec<Vec2> = radii
        .iter()
        .enumerate()
        .map(|(i, r)| Vec2::from_heading(std::f64::consts::TAU * i as f64 / n as f64) * *r)
        .collect();
    Track::from_control_points(&pts).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn projection_inverts_offset_points(radii in prop::collection::vec(60.0f64..100.0, 6..14), u in 0.0f64..1.0, offset in -3.0f64..3.0) {
        let track = star(&radii);
        let s = u * track.length_m();
        let p = track.offset_point(s, offset);
        let proj = track.project(p);
        prop_assert!(proj.s_m.is_finite() && proj.lateral_offset_m.is_finite() && proj.heading.is_finite());
        // Interpolation between 0.5 m samples leaves centimetre errors.
        prop_assert!((proj.lateral_offset_m - offset).abs() < 0.05, "{} vs {}", proj.lateral_offset_m, offset);
        let ds = (proj.s_m - s).abs().min(track.length_m() - (proj.s_m - s).abs());
        prop_assert!(ds < 0.3, "s {} vs {}", proj.s_m, s);
        prop_assert!(track.at(s).curvature_per_m.is_finite());
        // The local search from last tick's place agrees with the exhaustive one.
        let near = track.project_near(p, s - 1.5, 7.0);
        prop_assert_eq!(near, proj);
    }

    #[test]
    fn vehicle_never_produces_nan(actions in prop::collection::vec((-5.0f64..5.0, -10.0f64..80.0), 1..200), dt in 0.001f64..0.5) {
        let mut car = Vehicle::new(Default::default(), VehicleState { speed_m_s: 5.0, ..Default::default() });
        for (k, v) in actions {
            car.step(Action::new(k, v), dt);
            let s = car.state;
            prop_assert!(s.position.is_finite() && s.heading.is_finite() && s.speed_m_s.is_finite() && s.steer_rad.is_finite());
            prop_assert!(s.steer_rad.abs() <= car.spec.max_steer_deg.to_radians() + 1e-12);
            prop_assert!(s.speed_m_s >= 0.0);
        }
    }
}

#[test]
fn expert_stays_on_the_road_for_two_km_on_every_shipped_scenario() {
    for mut scenario in builtin().unwrap() {
        scenario.episode_steps = u32::MAX;
        let name = scenario.name.clone();
        let half_width = scenario.road.width_m / 2.0;
        let cruise = scenario.vehicle.speed_m_s;
        let mut sim = Simulation::new(scenario, 1).unwrap();
        let expert = Expert::new(ExpertConfig::default(), 0.0, 0);
        sim.reset(7);
        let mut ticks = 0;
        while sim.states()[0].stats.distance_m < 2000.0 {
            let action = expert.label(&sim.track, &sim.states()[0], cruise);
            sim.step(&[action]).unwrap();
            ticks += 1;
            assert!(ticks < 100_000, "{name}: the expert does not make progress");
        }
        let stats = &sim.states()[0].stats;
        assert_eq!(stats.off_road_events, 0, "{name}: {stats:?}");
        // The expert keeps well inside the lane, not just on the asphalt.
        assert!(
            stats.max_abs_lateral_offset_m < 0.5 * half_width,
            "{name}: {stats:?}"
        );
    }
}

#[test]
fn dart_noise_is_seeded_and_recoverable() {
    let scenario = builtin().unwrap().remove(1);
    let cruise = scenario.vehicle.speed_m_s;
    let run = |seed: u64| {
        let mut sim = Simulation::new(scenario.clone(), 1).unwrap();
        sim.reset(1);
        let mut expert = Expert::new(ExpertConfig::default(), 0.03, seed);
        let mut labels_differ = false;
        for _ in 0..1500 {
            let a = expert.act(&sim.track, &sim.states()[0], cruise);
            labels_differ |= a.label != a.applied;
            sim.step(&[a.applied]).unwrap();
        }
        assert!(labels_differ);
        sim.states()[0].clone()
    };
    let (a, b, c) = (run(5), run(5), run(6));
    assert_eq!(a, b, "same seed, same episode");
    assert_ne!(a.vehicle, c.vehicle, "another seed, another episode");
    // The noisy expert wanders more but recovers: it never leaves the road.
    assert_eq!(a.stats.off_road_events, 0, "{:?}", a.stats);
    assert!(a.stats.mean_abs_lateral_offset_m() > 0.02);
}

#[test]
fn simulation_is_bit_identical_for_a_seed() {
    let scenario = builtin().unwrap().remove(4);
    let cruise = scenario.vehicle.speed_m_s;
    let run = |seed| {
        let mut sim = Simulation::new(scenario.clone(), 3).unwrap();
        sim.reset(seed);
        let expert = Expert::new(ExpertConfig::default(), 0.0, 0);
        for _ in 0..500 {
            let actions: Vec<Action> = sim
                .states()
                .iter()
                .map(|s| expert.label(&sim.track, s, cruise))
                .collect();
            sim.step(&actions).unwrap();
        }
        sim.states().to_vec()
    };
    let (a, b) = (run(9), run(9));
    assert_eq!(a, b);
    assert_ne!(a, run(10));
    assert!(
        Simulation::new(scenario.clone(), 2)
            .unwrap()
            .step(&[Action::default()])
            .is_err()
    );
}
