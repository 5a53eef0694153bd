//! Rendering on the real Bevy renderer (lavapipe in CI): the frame shows the world where the
//! camera maths says it is, of the tick it claims, identically for a seed.

use steerlab::nn::ModelDir;
use steerlab::sim::scenario::{Placement, PropKind, builtin};
use steerlab::sim::{Action, Expert, ExpertConfig, Frame, Scenario};
use steerlab::world::{Env, EnvOptions, Observation};

fn scenario(name: &str) -> Scenario {
    builtin()
        .unwrap()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap()
}

fn frame(obs: &Observation) -> &Frame {
    obs.frame.as_ref().expect("rendering is on")
}

/// Asphalt is dark, unsaturated grey; paint is bright and the ground is green.
fn is_road(p: [u8; 3]) -> bool {
    let (max, min) = (
        p.iter().max().copied().unwrap(),
        p.iter().min().copied().unwrap(),
    );
    max - min < 18 && max > 15 && max < 150
}

/// Mean column of the road pixels in `row`, or `None` when the row shows little road.
fn road_centre_column(f: &Frame, row: u32) -> Option<f64> {
    let cols: Vec<u32> = (0..f.width).filter(|&x| is_road(f.pixel(x, row))).collect();
    (cols.len() >= 6).then(|| cols.iter().map(|&x| x as f64 + 0.5).sum::<f64>() / cols.len() as f64)
}

/// Where the centreline point `ahead_m` in front of the car should appear: (column, row).
fn predicted_centre(env: &Env, obs: &Observation, ahead_m: f64) -> (f64, f64) {
    let rig = &env.scenario().camera;
    let pose = rig.pose(&obs.state.vehicle);
    let p = env.track().at(obs.state.s_m + ahead_m).position;
    rig.project(&pose, p, 0.0).expect("ahead of the camera")
}

#[test]
fn road_is_at_the_bottom_and_sky_at_the_top() {
    let s = scenario("oval");
    let sky = s.lighting.sky_colour.map(|c| c * 255.0);
    let mut env = Env::new(s, EnvOptions::default()).unwrap();
    let obs = env.reset(3).unwrap().remove(0);
    let f = frame(&obs);
    assert_eq!((f.width, f.height, f.rgb.len()), (200, 66, 200 * 66 * 3));
    assert_eq!(f.tick, 0);
    let mut road = 0;
    for y in f.height - 8..f.height {
        for x in 90..110 {
            road += is_road(f.pixel(x, y)) as u32;
        }
    }
    assert!(
        road >= 110,
        "only {road} of 160 bottom-centre pixels look like asphalt"
    );
    let top = f.mean_rgb(0, f.width, 0, 4);
    for c in 0..3 {
        // The clear colour is written as is (no tonemapping, no dithering).
        assert!((top[c] - sky[c]).abs() < 4.0, "top {top:?} vs sky {sky:?}");
    }
}

#[test]
fn frame_shows_the_state_of_its_own_tick() {
    let mut env = Env::new(scenario("oval"), EnvOptions::default()).unwrap();
    let mut obs = env.reset(5).unwrap().remove(0);
    let (mut err_now, mut err_prev, mut measured_ticks) = (0.0, 0.0, 0);
    let mut prev_prediction = predicted_centre(&env, &obs, 12.0);
    let mut columns = Vec::new();
    for t in 1..=30u64 {
        // Steer left: the road drifts to the right of the image, ~2 px per tick.
        let next = env.step(Action::new(0.05, 8.0)).unwrap();
        let f = frame(&next);
        assert_eq!((f.tick, next.state.tick), (t, t));
        assert_ne!(
            f.rgb,
            frame(&obs).rgb,
            "tick {t} shows the same image as tick {}",
            t - 1
        );
        let (u, v) = predicted_centre(&env, &next, 12.0);
        if let Some(measured) = road_centre_column(f, v.round() as u32) {
            err_now += (measured - u).abs();
            err_prev += (measured - prev_prediction.0).abs();
            measured_ticks += 1;
            columns.push(measured);
        }
        prev_prediction = (u, v);
        obs = next;
    }
    assert!(measured_ticks >= 25, "road found on {measured_ticks} ticks");
    let (now, prev) = (
        err_now / measured_ticks as f64,
        err_prev / measured_ticks as f64,
    );
    assert!(
        now < 2.0,
        "road centre is {now:.2} px from where this tick's pose puts it"
    );
    assert!(
        now < prev,
        "frames match the previous tick ({prev:.2} px) better than their own ({now:.2} px)"
    );
    assert!(
        columns.last().unwrap() - columns.first().unwrap() > 20.0,
        "the road moved right: {columns:?}"
    );

    // An intervention puts the car back on the centreline: the very next frame shows it.
    let before = road_centre_column(
        frame(&obs),
        predicted_centre(&env, &obs, 12.0).1.round() as u32,
    )
    .unwrap();
    let after = env.recentre(0).unwrap().remove(0);
    let (u, v) = predicted_centre(&env, &after, 12.0);
    let centred = road_centre_column(frame(&after), v.round() as u32).unwrap();
    assert!(
        after.state.lateral_offset_m.abs() < 0.05 && after.state.heading_error_rad.abs() < 1e-6
    );
    assert!(
        (centred - u).abs() < 2.0,
        "after recentring the road is at {centred}, expected {u}"
    );
    assert!(
        (before - centred).abs() > 15.0,
        "recentring moved the road only from {before} to {centred}"
    );
}

#[test]
fn same_seed_gives_identical_frames_and_states() {
    let run = |seed: u64| {
        let s = scenario("props");
        let cruise = s.vehicle.speed_m_s;
        let mut env = Env::new(s, EnvOptions::default()).unwrap();
        let expert = Expert::new(ExpertConfig::default(), 0);
        let mut obs = env.reset(seed).unwrap().remove(0);
        let mut trace = vec![(obs.state.clone(), frame(&obs).clone())];
        for _ in 0..40 {
            obs = env
                .step(expert.label(env.track(), &obs.state, cruise))
                .unwrap();
            trace.push((obs.state.clone(), frame(&obs).clone()));
        }
        // A later episode in the same world gives another drive.
        let other = env.reset(seed + 1).unwrap().remove(0);
        (trace, other)
    };
    let (a, a_other) = run(11);
    let (b, _) = run(11);
    assert_eq!(a.len(), b.len());
    for (t, ((sa, fa), (sb, fb))) in a.iter().zip(&b).enumerate() {
        assert_eq!(sa, sb, "state differs at tick {t}");
        assert!(fa.rgb == fb.rgb, "frame differs at tick {t}");
    }
    assert_ne!(frame(&a_other).rgb, a[0].1.rgb);
}

#[test]
fn cars_in_one_world_are_independent_episodes() {
    let s = scenario("props");
    let mut single = Env::new(s.clone(), EnvOptions::default()).unwrap();
    let mut multi = Env::new(
        s,
        EnvOptions {
            agents: 3,
            render: true,
            ..EnvOptions::default()
        },
    )
    .unwrap();
    let one = single.reset(2).unwrap();
    let three = multi.reset(2).unwrap();
    assert_eq!(three.len(), 3);
    // Car 0 starts at the same place in both worlds; the other cars are invisible to it.
    assert_eq!(one[0].state, three[0].state);
    assert!(frame(&one[0]).rgb == frame(&three[0]).rgb);
    let actions = [
        Action::new(0.02, 9.0),
        Action::new(-0.02, 7.0),
        Action::new(0.0, 5.0),
    ];
    let mut last = Vec::new();
    for t in 1..=10 {
        last = multi.step_all(&actions).unwrap();
        single.step(actions[0]).unwrap();
        for (i, o) in last.iter().enumerate() {
            assert_eq!((frame(o).tick, frame(o).agent, o.state.tick), (t, i, t));
        }
    }
    assert_ne!(frame(&last[0]).rgb, frame(&last[1]).rgb);
    assert_ne!(frame(&last[1]).rgb, frame(&last[2]).rgb);
    assert!(
        multi.step(Action::default()).is_err(),
        "step needs one action per car"
    );
    assert!(multi.step_all(&actions[..2]).is_err());
}

/// The cameras of a world render together into tiles of one atlas (one main texture, one copy
/// back); each tile is byte for byte the frame a world with that one camera renders from the
/// same pose, label frames included.
#[test]
fn batched_cameras_render_the_frames_a_single_camera_does() {
    let s = scenario("props");
    let options = |agents| EnvOptions {
        agents,
        render: true,
        labels: true,
        map: None,
    };
    // Five cars: a 3×2 atlas with one tile unused.
    let mut multi = Env::new(s.clone(), options(5)).unwrap();
    let mut single = Env::new(s, options(1)).unwrap();
    multi.reset(7).unwrap();
    single.reset(7).unwrap();
    let actions: Vec<Action> = (0..5)
        .map(|i| Action::new(0.03 * (i as f64 - 2.0), 6.0 + i as f64))
        .collect();
    let mut batch = Vec::new();
    for _ in 0..6 {
        batch = multi.step_all(&actions).unwrap();
    }
    let mut distinct = std::collections::HashSet::new();
    for (i, o) in batch.iter().enumerate() {
        let alone = single.place(0, o.state.vehicle).unwrap().remove(0);
        assert_eq!(alone.state.vehicle, o.state.vehicle);
        assert!(
            frame(&alone).rgb == frame(o).rgb,
            "car {i}: the atlas tile differs from the single camera's frame"
        );
        let (a, b) = (alone.labels.unwrap(), o.labels.as_ref().unwrap());
        assert!(a.ids == b.ids, "car {i}: label frames differ");
        distinct.insert(frame(o).rgb.clone());
    }
    assert_eq!(distinct.len(), 5, "every car sees its own view");
    // A car that does not exist, or a state that is not one, is refused.
    let mut bad = batch[0].state.vehicle;
    assert!(single.place(1, bad).is_err());
    bad.heading = f64::NAN;
    assert!(single.place(0, bad).is_err());
}

/// More cars than one atlas of the device's largest texture holds: a clear error naming the
/// fix, not a panic in the renderer.
#[test]
fn too_many_cameras_for_one_atlas_is_a_clear_error() {
    let mut s = scenario("oval");
    s.camera.width_px = 2048;
    s.camera.height_px = 256;
    let err = Env::new(
        s,
        EnvOptions {
            agents: 400,
            ..EnvOptions::default()
        },
    )
    .err()
    .expect("a 40960-pixel-wide atlas is refused");
    let text = err.to_string();
    assert!(
        text.contains("fewer cars") && text.contains("atlas"),
        "{text}"
    );
}

#[test]
fn props_appear_where_the_camera_maths_puts_them() {
    let s = scenario("props");
    let cruise = s.vehicle.speed_m_s;
    let cones: Vec<(f64, f64)> = s
        .props
        .iter()
        .filter(|p| p.kind == PropKind::Cone)
        .flat_map(|p| {
            let Placement::Track { s_m, offset_m } = p.at else {
                unreachable!()
            };
            let r = p.repeat.clone().unwrap();
            (0..r.count).map(move |k| (s_m + k as f64 * r.spacing_m, offset_m))
        })
        .collect();
    let mut env = Env::new(s, EnvOptions::default()).unwrap();
    let expert = Expert::new(ExpertConfig::default(), 0);
    let mut obs = env.reset(1).unwrap().remove(0);
    let mut checked = 0;
    for _ in 0..1500 {
        let rig = env.scenario().camera.clone();
        let pose = rig.pose(&obs.state.vehicle);
        for &(cs, off) in &cones {
            let p = env.track().offset_point(cs, off);
            let d = p.distance(pose.ground);
            let Some((u, v)) = rig.project(&pose, p, 0.2) else {
                continue;
            };
            if (5.0..12.0).contains(&d) && u > 2.0 && u < 198.0 && v > 2.0 && v < 64.0 {
                let px = frame(&obs).pixel(u as u32, v as u32);
                // Traffic-cone orange, lit from any side: red dominates, little blue.
                assert!(
                    px[0] > 100 && px[0] as f64 > 1.8 * px[1] as f64 && px[2] < 40,
                    "cone at {d:.1} m, pixel ({u:.0}, {v:.0}) is {px:?}"
                );
                checked += 1;
            }
        }
        if checked >= 5 {
            return;
        }
        obs = env
            .step(expert.label(env.track(), &obs.state, cruise))
            .unwrap();
    }
    panic!("saw only {checked} cones in range");
}

#[test]
fn label_frames_give_class_masks_and_the_box_the_camera_maths_projects() {
    use steerlab::sim::Simulation;
    use steerlab::sim::labels::LabelClass;
    use steerlab::sim::scenario::Prop;
    // A cone 7 m ahead of where the car starts for seed 4, on the oval with no other props.
    let mut s = scenario("oval");
    s.props.clear();
    let mut sim = Simulation::new(s.clone(), 1).unwrap();
    let start = sim.reset(4)[0].vehicle;
    let at = start.position + steerlab::sim::Vec2::from_heading(start.heading) * 7.0;
    s.props.push(Prop {
        kind: PropKind::Cone,
        at: Placement::Absolute { x: at.x, y: at.y },
        yaw_deg: 0.0,
        repeat: None,
    });
    let mut env = Env::new(
        s,
        EnvOptions {
            labels: true,
            ..EnvOptions::default()
        },
    )
    .unwrap();
    let obs = env.reset(4).unwrap().remove(0);
    let labels = obs.labels.as_ref().expect("labels are on");
    assert_eq!((labels.width, labels.height), (200, 66));
    let boxes = labels.boxes(3);
    assert_eq!(boxes.len(), 1, "{boxes:?}");
    let b = boxes[0];
    assert_eq!(b.class, LabelClass::Prop(PropKind::Cone));
    // The cone's bounding cylinder (radius 0.22 m, 0.7 m tall) projected by the camera maths.
    let rig = &env.scenario().camera;
    let pose = rig.pose(&obs.state.vehicle);
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (dx, dy, z) in [
        (-1.0, -1.0, 0.0),
        (1.0, -1.0, 0.0),
        (-1.0, 1.0, 0.0),
        (1.0, 1.0, 0.0),
    ]
    .into_iter()
    .flat_map(|(a, b, _)| [(a, b, 0.0), (a, b, 0.7)])
    {
        let p = steerlab::sim::Vec2::new(at.x + 0.22 * dx, at.y + 0.22 * dy);
        let (u, v) = rig.project(&pose, p, z).expect("in front of the camera");
        (x0, y0, x1, y1) = (x0.min(u), y0.min(v), x1.max(u), y1.max(v));
    }
    let projected = steerlab::nn::models::detect::boxes::BBox::new(x0, y0, x1, y1);
    let rendered = steerlab::nn::models::detect::boxes::BBox::new(
        b.x0 as f64,
        b.y0 as f64,
        b.x1 as f64,
        b.y1 as f64,
    );
    let iou = projected.iou(&rendered);
    assert!(
        iou > 0.5,
        "projected {projected:?}, rendered {rendered:?}, IoU {iou}"
    );
    assert!(((x0 + x1) / 2.0 - (b.x0 + b.x1) as f64 / 2.0).abs() < 1.5);
    // Sky at the top, road under the car, the cone's pixels inside its box.
    let mask = labels.class_mask();
    let class = |x: u32, y: u32| mask[(y * labels.width + x) as usize] as usize;
    assert_eq!(class(100, 0), LabelClass::Sky.index());
    assert_eq!(class(100, 65), LabelClass::Road.index());
    let cone = (b.y0..b.y1)
        .flat_map(|y| (b.x0..b.x1).map(move |x| (x, y)))
        .filter(|&(x, y)| class(x, y) == LabelClass::Prop(PropKind::Cone).index())
        .count() as u32;
    assert_eq!(cone, b.pixels);
}

#[test]
fn the_segmenter_learns_the_rendered_class_masks() {
    use steerlab::nn::models::segment::{self, MaskedImages, Segmenter, SegmenterConfig};
    use steerlab::sim::labels::LabelClass;
    let s = scenario("props");
    let mut env = Env::new(
        s,
        EnvOptions {
            labels: true,
            ..EnvOptions::default()
        },
    )
    .unwrap();
    let mut obs = env.reset(2).unwrap().remove(0);
    let mut data = MaskedImages::default();
    for tick in 0..48 {
        if tick % 4 == 0 {
            let f = frame(&obs);
            let mask = obs.labels.as_ref().unwrap().class_mask();
            data.push(f.width, f.height, f.rgb.clone(), mask).unwrap();
        }
        obs = env.step(obs.info.expert_action).unwrap();
    }
    let classes = LabelClass::all().iter().map(|c| c.name()).collect();
    let model = Segmenter::new(SegmenterConfig::pilotnet(classes), 3).unwrap();
    let before = segment::evaluate(&model, &data).unwrap();
    let options = segment::SegmenterTraining {
        epochs: 25,
        batch_size: 4,
        learning_rate: 3e-3,
        seed: 1,
    };
    let run = steerlab::nn::train::Run::quiet();
    let (_, after) = segment::train(&model, &data, &data, &options, run).unwrap();
    assert!(
        after.pixel_accuracy > 0.9 && after.mean_iou > before.mean_iou + 0.2,
        "before {before:?}, after {after:?}"
    );
    // Sky and road are learnt well.
    for class in [LabelClass::Sky, LabelClass::Road] {
        let iou = after.iou[class.index()].unwrap();
        assert!(iou > 0.8, "{class:?}: IoU {iou}");
    }
}
