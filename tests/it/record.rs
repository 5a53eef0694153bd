//! Episode files: every topic round-trips, damaged files give back their intact part and never
//! anything else, and a recorded drive re-simulates to the same frames.

use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::path::{Path, PathBuf};
use steerlab::drive::collect::{RecordOptions, RecordProgress, Shard, record};
use steerlab::drive::resimulate::{Counterfactual, resimulate};
use steerlab::record::schema::{ActionMsg, DistributionMsg, DriverMsg, StateMsg};
use steerlab::record::{EpisodeMeta, EpisodeReader, EpisodeWriter, Step, StepRecord, check};
use steerlab::sim::scenario::builtin;
use steerlab::sim::{Frame, Scenario};

/// A frame of noisy pixels (PNG cannot shrink it much, so chunks fill quickly).
fn noisy_frame(tick: u64, rng: &mut StdRng) -> Frame {
    let (width, height) = (64, 24);
    let rgb = (0..width * height * 3)
        .map(|_| rng.random_range(0..=255u8))
        .collect();
    Frame {
        tick,
        agent: 0,
        width,
        height,
        rgb,
    }
}

fn synthetic_step(tick: u64, rng: &mut StdRng) -> StepRecord {
    let k = rng.random_range(-0.1..0.1);
    StepRecord {
        tick,
        frame: Some(noisy_frame(tick, rng)),
        state: StateMsg {
            tick,
            x_m: rng.random_range(-100.0..100.0),
            y_m: rng.random_range(-100.0..100.0),
            heading_rad: rng.random_range(-3.0..3.0),
            speed_m_s: 9.5,
            steer_rad: 0.01,
            s_m: tick as f64 * 0.5,
            lateral_offset_m: -0.25,
            heading_error_rad: 0.02,
            distance_m: tick as f64 * 0.5,
            off_road: tick.is_multiple_of(7),
        },
        action: Some(ActionMsg {
            tick,
            curvature_per_m: k,
            speed_m_s: 10.0,
            target_speed_m_s: None,
        }),
        expert_action: ActionMsg {
            tick,
            curvature_per_m: k * 0.5,
            speed_m_s: 9.0,
            target_speed_m_s: tick.is_multiple_of(3).then_some(4.5),
        },
        driver: DriverMsg {
            tick,
            driver: if tick.is_multiple_of(2) {
                "policy".into()
            } else {
                "expert".into()
            },
            model: tick.is_multiple_of(2).then(|| "0123456789abcdef".into()),
        },
        distribution: tick.is_multiple_of(2).then(|| DistributionMsg {
            tick,
            weights: vec![0.2, 0.8],
            means: vec![k, -k],
            std_devs: vec![0.01, 0.02],
        }),
        speed_distribution: tick.is_multiple_of(2).then(|| DistributionMsg {
            tick,
            weights: vec![0.6, 0.4],
            means: vec![0.0, 8.0],
            std_devs: vec![0.3, 0.5],
        }),
        labels: None,
        route: tick
            .is_multiple_of(3)
            .then(|| steerlab::record::schema::RouteMsg {
                tick,
                lane: tick as usize % 11,
                route_index: 2,
                junction: "j1_2".into(),
                turn: "Left".into(),
                distance_to_junction_m: 17.5,
                in_junction: false,
                exits: vec![steerlab::sim::route_path::ExitLabel {
                    turn: steerlab::sim::network::Turn::Left,
                    curvature_per_m: 0.05,
                }],
            }),
        traffic: tick
            .is_multiple_of(2)
            .then(|| steerlab::record::schema::TrafficMsg {
                tick,
                cars: vec![steerlab::record::schema::TrafficCarMsg {
                    x_m: 1.5,
                    y_m: -2.0,
                    heading_rad: 0.3,
                    speed_m_s: 7.0,
                }],
            }),
        map: tick
            .is_multiple_of(4)
            .then(|| steerlab::sim::map_input::MapObservation {
                patch: Frame {
                    tick,
                    agent: 0,
                    width: 16,
                    height: 16,
                    rgb: (0..16 * 16 * 3)
                        .map(|_| rng.random_range(0..2) * 255)
                        .collect(),
                },
                position: steerlab::sim::Vec2::new(3.0, -4.0 + tick as f64),
                heading: 0.25,
                progress_m: 2.5 * tick as f64,
                command: steerlab::sim::map_input::Command::Left,
                odometry: Default::default(),
                fix_available: !tick.is_multiple_of(8),
            }),
        odometry: tick
            .is_multiple_of(3)
            .then(|| steerlab::sim::odometry::OdometryReading {
                distance_m: 0.45 + tick as f64 * 1e-3,
                heading_change_rad: -0.002,
                speed_m_s: 9.1,
            }),
    }
}

fn expected(step: &StepRecord) -> Step {
    Step {
        expert_target_speed_m_s: step
            .expert_action
            .target_speed_m_s
            .unwrap_or(step.expert_action.speed_m_s),
        tick: step.tick,
        frame: step.frame.clone(),
        png: step
            .frame
            .as_ref()
            .map(|f| f.to_png().expect("PNG encoding")),
        frame_info: step
            .frame
            .as_ref()
            .map(|f| steerlab::record::schema::FrameInfoMsg {
                tick: step.tick,
                width: f.width,
                height: f.height,
                content_hash: f.content_hash(),
            }),
        action: step.action.map(|a| a.action()),
        expert_action: step.expert_action.action(),
        state: step.state.clone(),
        driver: step.driver.driver.clone(),
        driver_model: step.driver.model.clone(),
        distribution: step.distribution.clone(),
        speed_distribution: step.speed_distribution.clone(),
        objects: None,
        class_mask_png: None,
        route: step.route.clone(),
        traffic: step.traffic.clone(),
        map_png: step.map.as_ref().map(|m| m.patch.to_png().unwrap()),
        map_pose: step
            .map
            .as_ref()
            .map(|m| steerlab::record::schema::MapPoseMsg {
                tick: step.tick,
                x_m: m.position.x,
                y_m: m.position.y,
                heading_rad: m.heading,
                progress_m: Some(m.progress_m),
                command: Some(m.command),
                fix_available: Some(m.fix_available),
            }),
        odometry: step
            .odometry
            .as_ref()
            .map(|o| steerlab::record::schema::OdometryMsg::new(step.tick, o)),
    }
}

/// Writes `n` synthetic ticks to `path`; returns what a reader must give back.
fn write_synthetic(path: &Path, n: u64) -> (Scenario, Vec<Step>) {
    let scenario = builtin().unwrap().remove(0);
    let noise = steerlab::sim::DartNoise {
        std_per_m: 0.01,
        correlation_s: 1.5,
        speed_m_s: 0.5,
        junction_scale: 2.5,
    };
    let meta = EpisodeMeta::new(&scenario, 77, 3, noise).unwrap();
    let mut writer = EpisodeWriter::create(path, &scenario, &meta).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let mut steps = Vec::new();
    for tick in 0..n {
        let s = synthetic_step(tick, &mut rng);
        writer.write_step(&s).unwrap();
        steps.push(expected(&s));
    }
    assert_eq!(writer.finish().unwrap(), n);
    (scenario, steps)
}

#[test]
fn every_topic_round_trips() {
    let dir = crate::tempdir("roundtrip");
    let path = dir.join("e.mcap");
    let (scenario, written) = write_synthetic(&path, 40);
    let episode = EpisodeReader::open(&path).unwrap();
    assert_eq!(episode.scenario, scenario);
    assert_eq!((episode.meta.seed, episode.meta.episode), (77, 3));
    assert_eq!(
        episode.meta.noise,
        steerlab::sim::DartNoise {
            std_per_m: 0.01,
            correlation_s: 1.5,
            speed_m_s: 0.5,
            junction_scale: 2.5,
        }
    );
    let mut steps = episode.steps(true).unwrap();
    let read: Vec<Step> = steps.by_ref().collect();
    assert_eq!(read, written);
    let outcome = steps.outcome();
    assert!(outcome.complete && outcome.cut.is_none(), "{outcome:?}");
    let report = check(&path).unwrap();
    assert_eq!(
        (
            report.outcome.steps,
            report.outcome.frames,
            report.contiguous
        ),
        (40, 40, true)
    );
    // Random access through the file's index.
    let index = episode.index().unwrap();
    assert_eq!(index.ticks, 40);
    for tick in [0, 17, 39] {
        assert_eq!(
            episode.step_at(&index, tick, true).unwrap().as_ref(),
            Some(&written[tick as usize])
        );
    }
    assert_eq!(episode.step_at(&index, 40, true).unwrap(), None);
    std::fs::remove_dir_all(&dir).ok();
}

/// Reads what it can of a damaged copy; everything returned must be what was written.
fn read_damaged(path: &Path, written: &[Step]) -> usize {
    let Ok(episode) = EpisodeReader::open(path) else {
        return 0;
    };
    let Ok(mut steps) = episode.steps(true) else {
        return 0;
    };
    let mut n = 0;
    for step in steps.by_ref() {
        let original = written
            .iter()
            .find(|w| w.tick == step.tick)
            .expect("a tick that was written");
        assert_eq!(
            &step, original,
            "a damaged file returned a wrong tick {}",
            step.tick
        );
        n += 1;
    }
    n
}

#[test]
fn truncated_files_give_back_every_complete_chunk() {
    let dir = crate::tempdir("truncate");
    let path = dir.join("e.mcap");
    let (_, written) = write_synthetic(&path, 400);
    let bytes = std::fs::read(&path).unwrap();
    let cut_path = dir.join("cut.mcap");
    let mut previous = 0;
    let mut offsets: Vec<usize> = (0..80).map(|k| k * bytes.len() / 80).collect();
    offsets.extend([bytes.len() - 1, bytes.len() - 8, bytes.len() - 100]);
    offsets.sort();
    for cut in offsets {
        std::fs::write(&cut_path, &bytes[..cut]).unwrap();
        let n = read_damaged(&cut_path, &written);
        assert!(
            n >= previous,
            "cutting later recovered fewer ticks ({n} < {previous}) at {cut}"
        );
        previous = n;
        if cut > bytes.len() / 2 {
            assert!(
                n >= 150,
                "only {n} ticks recovered from the first {cut} of {} bytes",
                bytes.len()
            );
        }
        if cut < bytes.len() {
            // `episode check` reads what `read_damaged` read and says the file was cut; only
            // a file cut before its metadata cannot be opened at all.
            match check(&cut_path) {
                Ok(r) => {
                    assert!(!r.outcome.complete, "cut at {cut} reads as complete");
                    assert!(r.outcome.cut.is_some(), "cut at {cut}: no cut reported");
                    assert_eq!(r.outcome.steps, n as u64, "cut at {cut}");
                }
                Err(e) => assert_eq!(n, 0, "check failed at {cut} although {n} ticks read: {e}"),
            }
        }
    }
    assert_eq!(
        previous, 400,
        "the summary can be lost without losing a tick"
    );
    // A complete file of many chunks: random access agrees with streaming.
    let episode = EpisodeReader::open(&path).unwrap();
    let index = episode.index().unwrap();
    assert_eq!(index.ticks, 400);
    for tick in [0, 1, 123, 250, 399] {
        assert_eq!(
            episode.step_at(&index, tick, true).unwrap().as_ref(),
            Some(&written[tick as usize])
        );
    }
    assert!(
        EpisodeReader::open(&cut_path).unwrap().index().is_err(),
        "a cut file has no index"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn flipped_bytes_never_poison_what_is_read() {
    let dir = crate::tempdir("flip");
    let path = dir.join("e.mcap");
    let (_, written) = write_synthetic(&path, 120);
    let bytes = std::fs::read(&path).unwrap();
    let mut rng = StdRng::seed_from_u64(99);
    let flipped = dir.join("flipped.mcap");
    for _ in 0..300 {
        let mut damaged = bytes.clone();
        for _ in 0..rng.random_range(1..4) {
            let i = rng.random_range(0..damaged.len());
            damaged[i] ^= 1 << rng.random_range(0..8);
        }
        std::fs::write(&flipped, &damaged).unwrap();
        read_damaged(&flipped, &written);
        let _ = check(&flipped);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn not_an_episode_is_a_clear_error() {
    let dir = crate::tempdir("garbage");
    let path = dir.join("x.mcap");
    std::fs::write(&path, b"definitely not mcap").unwrap();
    let err = EpisodeReader::open(&path).unwrap_err().to_string();
    assert!(err.contains("x.mcap"), "{err}");
    assert!(EpisodeReader::open(&dir.join("missing.mcap")).is_err());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn recorded_drive_reads_back_and_resimulates_bit_for_bit() {
    let dir = crate::tempdir("record");
    let mut scenario =
        Scenario::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/props.ron"))
            .unwrap();
    scenario.episode_steps = 40;
    let options = RecordOptions {
        scenarios: vec![scenario],
        episodes: 2,
        out: dir.clone(),
        noise: steerlab::sim::DartNoise::white(0.02),
        seed: 4,
        labels: false,
        shard: Shard::default(),
        randomise: None,
        map: None,
    };
    let mut ticks = 0;
    let summary = record(&options, &mut |p| {
        ticks += matches!(p, RecordProgress::Tick) as u64;
    })
    .unwrap();
    assert_eq!((summary.episodes, summary.frames), (2, 82));
    // The progress display counts every recorded tick: 41 per episode, as planned.
    assert_eq!((ticks, options.ticks()), (82, 82));
    let mut frames = 0;
    for file in &summary.files {
        let episode = EpisodeReader::open(file).unwrap();
        let mut steps = episode.steps(true).unwrap();
        let read: Vec<Step> = steps.by_ref().collect();
        assert_eq!(read.len(), 41);
        assert!(steps.outcome().complete);
        assert!(
            read.iter()
                .all(|s| s.driver == "expert" && s.frame.is_some())
        );
        assert!(read[..40].iter().all(|s| s.action.is_some()) && read[40].action.is_none());
        // DART noise: the applied action differs from the clean label.
        assert!(
            read.iter()
                .any(|s| s.action.is_some_and(|a| a != s.expert_action))
        );
        frames += read.iter().filter(|s| s.frame.is_some()).count() as u64;
    }
    assert_eq!(frames, summary.frames);
    let (a, b) = (
        EpisodeReader::open(&summary.files[0]).unwrap(),
        EpisodeReader::open(&summary.files[1]).unwrap(),
    );
    assert_ne!(a.meta.seed, b.meta.seed, "episodes get derived seeds");

    let r = resimulate(&a, &Counterfactual::default(), &mut |_, _| Ok(())).unwrap();
    assert_eq!((r.frames, r.compared, r.matching), (41, 41, 41));
    assert_eq!(r.max_position_error_m, 0.0);
    // Another process re-renders the drive to the same bytes.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_steerlab"))
        .arg("replay")
        .arg(&summary.files[1])
        .arg("--resimulate")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("41 of 41 re-rendered frames match"),
        "{stdout}"
    );
    // The same drive seen through another camera.
    let mut sizes = Vec::new();
    let wide = Counterfactual {
        camera_width: Some(100),
        camera_height: Some(40),
        lighting: None,
    };
    let r = resimulate(&a, &wide, &mut |f, _| {
        sizes.push((f.width, f.height));
        Ok(())
    })
    .unwrap();
    assert_eq!((r.frames, r.compared), (41, 0));
    assert!(sizes.iter().all(|&s| s == (100, 40)));
    // The same drive at dusk in fog: the same poses under other light.
    let dusk = builtin()
        .unwrap()
        .into_iter()
        .find(|s| s.name == "dusk_fog")
        .unwrap()
        .lighting;
    let mut brightness = Vec::new();
    let r = resimulate(
        &a,
        &Counterfactual {
            lighting: Some(dusk),
            ..Counterfactual::default()
        },
        &mut |f, step| {
            brightness.push((f.mean_rgb(0, f.width, f.height / 2, f.height), step.tick));
            Ok(())
        },
    )
    .unwrap();
    assert_eq!((r.frames, r.compared, r.max_position_error_m), (41, 0, 0.0));
    let mut day = Vec::new();
    resimulate(&a, &Counterfactual::default(), &mut |f, _| {
        day.push(f.mean_rgb(0, f.width, f.height / 2, f.height));
        Ok(())
    })
    .unwrap();
    let luma = |c: [f64; 3]| c.iter().sum::<f64>();
    assert_eq!(brightness.len(), day.len());
    assert!(
        brightness
            .iter()
            .zip(&day)
            .all(|((d, _), n)| luma(*d) != luma(*n)),
        "lighting changed nothing"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn training_on_an_episode_cut_before_its_first_frame_names_the_cut() {
    let dir = crate::tempdir("cut-early");
    let path = dir.join("e.mcap");
    write_synthetic(&path, 400);
    let bytes = std::fs::read(&path).unwrap();
    let cut_path = dir.join("cut.mcap");
    // The shortest prefix that still opens (metadata intact) holds no complete tick.
    let cut = (64..bytes.len())
        .step_by(16)
        .find(|&n| {
            std::fs::write(&cut_path, &bytes[..n]).unwrap();
            EpisodeReader::open(&cut_path).is_ok()
        })
        .unwrap();
    assert_eq!(read_damaged(&cut_path, &[]), 0, "cut at {cut}");
    let err = steerlab::nn::data::dataset::Dataset::load(std::slice::from_ref(&cut_path))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no intact camera frame")
            && err.contains("cut.mcap")
            && !err.contains("--no-frames"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_chunk_claiming_a_huge_uncompressed_size_is_refused_not_allocated() {
    let dir = crate::tempdir("huge-chunk");
    let path = dir.join("e.mcap");
    write_synthetic(&path, 400);
    let mut bytes = std::fs::read(&path).unwrap();
    // Walk the records after the magic to the last chunk (opcode 6) of the data section (the
    // first holds the metadata, which opening reads); a chunk's header starts with
    // message_start_time, message_end_time, then uncompressed_size (u64, little-endian).
    let (mut pos, mut last) = (8, None);
    while bytes[pos] != 0x0F {
        if bytes[pos] == 0x06 {
            last = Some(pos);
        }
        let len = u64::from_le_bytes(bytes[pos + 1..pos + 9].try_into().unwrap()) as usize;
        pos += 9 + len;
    }
    let chunk = last.unwrap();
    let end_time = u64::from_le_bytes(bytes[chunk + 17..chunk + 25].try_into().unwrap());
    let field = chunk + 9 + 16;
    bytes[field..field + 8].copy_from_slice(&(1u64 << 50).to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let episode = EpisodeReader::open(&path).unwrap();
    let index = episode.index().unwrap();
    let tick = end_time / (episode.scenario.dt_s * 1e9).round() as u64;
    let err = episode.step_at(&index, tick, true).unwrap_err().to_string();
    assert!(err.contains("claims") && err.contains("e.mcap"), "{err}");
    // Streaming it stops at the chunk with an error, too.
    let mut steps = episode.steps(true).unwrap();
    assert!(steps.by_ref().count() < 400);
    assert!(steps.outcome().cut.is_some());
    std::fs::remove_dir_all(&dir).ok();
}
