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
    let expert = Expert::new(ExpertConfig::default(), 0.0, 1);
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
            // Every route pixel lies on the route from 10 m behind the car onwards.
            let stretch: Vec<Vec2> = (0..=180)
                .map(|k| route.at(state.s_m - 10.0 + k as f64 * 0.5).position)
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
            let p = route.at(state.s_m + 20.0).position - v.position;
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
    use steerlab::sim::traffic::RoutePosition;
    let at = |junction: &str, turn, in_junction| RoutePosition {
        lane: 0,
        route_index: 0,
        junction: junction.into(),
        turn,
        distance_to_junction_m: if in_junction { 0.0 } else { 40.0 },
        in_junction,
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
    // A crash inside a junction fails its passage.
    let mut tally = JunctionTally::default();
    drive(&mut tally, &at("j1", Turn::Right, true), 5, usize::MAX);
    let stats = tally.finish(true);
    assert_eq!((stats.right.attempts, stats.right.successes), (1, 0));
}
