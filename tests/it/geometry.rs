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
        let expert = Expert::new(ExpertConfig::default(), 0);
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
        let mut expert = Expert::new(ExpertConfig::default(), seed)
            .with_noise(steerlab::sim::DartNoise::white(0.03), scenario.dt_s);
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
fn junction_noise_scales_the_noise_only_in_and_just_before_junctions() {
    use steerlab::sim::DartNoise;
    use steerlab::sim::expert::JUNCTION_NOISE_LEAD_M;
    let scenario = crate::network::shipped("town");
    let cruise = scenario.vehicle.speed_m_s;
    let mut sim = Simulation::new(scenario.clone(), 1).unwrap();
    sim.reset(3);
    let noise = |junction_scale| {
        let noise = DartNoise {
            std_per_m: 0.02,
            correlation_s: 1.0,
            junction_scale,
            ..DartNoise::NONE
        };
        Expert::new(ExpertConfig::default(), 9).with_noise(noise, scenario.dt_s)
    };
    let (mut plain, mut tripled) = (noise(1.0), noise(3.0));
    let (mut near, mut away) = (0, 0);
    for _ in 0..1500 {
        let state = sim.states()[0].clone();
        let a = plain.act(&sim.track, &state, cruise);
        let b = tripled.act(&sim.track, &state, cruise);
        assert_eq!(a.label, b.label);
        let (da, db) = (
            a.applied.curvature_per_m - a.label.curvature_per_m,
            b.applied.curvature_per_m - b.label.curvature_per_m,
        );
        let route = state.route.as_ref().expect("a town car has a route");
        if route.in_junction || route.distance_to_junction_m <= JUNCTION_NOISE_LEAD_M {
            near += 1;
            assert!((db - 3.0 * da).abs() < 1e-12, "{db} against 3 × {da}");
        } else {
            away += 1;
            assert_eq!(da, db);
        }
        sim.step(&[a.applied]).unwrap();
    }
    assert!(
        near > 50 && away > 50,
        "{near} ticks near junctions, {away} away"
    );
}

#[test]
fn simulation_is_bit_identical_for_a_seed() {
    let scenario = builtin().unwrap().remove(4);
    let cruise = scenario.vehicle.speed_m_s;
    let run = |seed| {
        let mut sim = Simulation::new(scenario.clone(), 3).unwrap();
        sim.reset(seed);
        let expert = Expert::new(ExpertConfig::default(), 0);
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

#[test]
fn rectangles_overlap_exactly_when_they_touch() {
    use steerlab::sim::collision::Rect;
    let r = |x: f64, y: f64, heading_deg: f64| Rect {
        centre: Vec2::new(x, y),
        heading: heading_deg.to_radians(),
        half_length: 2.0,
        half_width: 1.0,
    };
    // Side by side along x: they touch at a centre distance of 4 m (2 + 2).
    assert!(r(0.0, 0.0, 0.0).overlaps(&r(3.99, 0.0, 0.0)));
    assert!(!r(0.0, 0.0, 0.0).overlaps(&r(4.01, 0.0, 0.0)));
    // Turned by 90°, the second reaches only 1 m along x: touching at 3 m.
    assert!(r(0.0, 0.0, 0.0).overlaps(&r(2.99, 0.0, 90.0)));
    assert!(!r(0.0, 0.0, 0.0).overlaps(&r(3.01, 0.0, 90.0)));
    // The second turned 45° and 3 m off on both axes: the enclosing circles (radius √5 each,
    // 4.24 m apart) overlap, but along the second's length axis the two span 2.12 + 2 = 4.12 m
    // < 3·√2 = 4.24 m, so that axis separates them.
    let a = r(0.0, 0.0, 0.0);
    let b = r(3.0, 3.0, 45.0);
    assert!(a.centre.distance(b.centre) < a.reach() + b.reach());
    assert!(!a.overlaps(&b));
    assert!(a.overlaps(&r(2.8, 2.8, 45.0)));
}

#[test]
fn crashes_come_from_the_body_not_the_centre() {
    use steerlab::sim::collision::CrashCheck;
    use steerlab::sim::scenario::{Placement, Prop, PropKind};
    use steerlab::sim::{Crash, Scenario};
    let mut oval: Scenario = builtin()
        .unwrap()
        .into_iter()
        .find(|s| s.name == "oval")
        .unwrap();
    // The bottom straight runs east along y = −45 m (straight between x = −20 and 20 m, where
    // its control points and their neighbours are in line); the road is 7 m wide.
    oval.props = vec![Prop {
        kind: PropKind::Cone,
        at: Placement::Absolute { x: 10.0, y: -45.0 },
        yaw_deg: 0.0,
        repeat: None,
    }];
    let track = oval.build_track().unwrap();
    let world = steerlab::sim::built::BuiltWorld::build(&oval).unwrap();
    let check = CrashCheck::new(&oval, &world.props, None);
    let at = |x: f64, offset: f64| VehicleState {
        position: Vec2::new(x, -45.0 + offset),
        heading: 0.0,
        speed_m_s: 10.0,
        steer_rad: 0.0,
    };
    let s = |x: f64| track.project(Vec2::new(x, -45.0)).s_m;
    assert_eq!(check.check(&track, &at(-10.0, 0.0), s(-10.0)), None);
    // The body is 1.8 m wide: 2.5 m left of the centreline it is inside the 3.5 m half width,
    // at 2.7 m its left wheels are off the road (2.7 + 0.9 > 3.5) while the centre is not.
    assert_eq!(check.check(&track, &at(-10.0, 2.5), s(-10.0)), None);
    assert_eq!(
        check.check(&track, &at(-10.0, 2.7), s(-10.0)),
        Some(Crash::OffRoad)
    );
    assert_eq!(
        check.check(&track, &at(-10.0, -2.7), s(-10.0)),
        Some(Crash::OffRoad)
    );
    // The cone at x = 10 m (base 0.44 m): the body, centred 1.35 m ahead of the rear axle and
    // 4.4 m long, reaches 3.55 m ahead of it; 10 − 0.22 − 3.55 = 6.23 m is the last clear
    // rear-axle position.
    assert_eq!(check.check(&track, &at(6.2, 0.0), s(6.2)), None);
    assert_eq!(
        check.check(&track, &at(6.3, 0.0), s(6.3)),
        Some(Crash::Prop(PropKind::Cone))
    );
    // Beside the cone with 0.1 m to spare: 0.22 + 0.9 = 1.12 m between centres touches.
    assert_eq!(check.check(&track, &at(9.0, 1.2), s(9.0)), None);
    assert_eq!(
        check.check(&track, &at(9.0, 1.1), s(9.0)),
        Some(Crash::Prop(PropKind::Cone))
    );
}
