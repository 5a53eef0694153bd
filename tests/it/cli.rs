//! The binary as a user runs it.

use std::process::Command;
use steerlab::nn::ModelDir;

fn steerlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_steerlab"))
}

#[test]
fn scenario_check_summarises_good_files_and_lists_problems_of_bad_ones() {
    let out = steerlab()
        .arg("scenario")
        .arg("check")
        .args(crate::scenario_files())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok")).count(),
        crate::scenario_files().len(),
        "{stdout}"
    );

    let dir = std::env::temp_dir().join(format!("steerlab-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.ron");
    std::fs::write(&bad, "Scenario(name: \"x\", seed: 1, track: Procedural(seed: 1, length_m: 5.0, curviness: 3.0), road: (width_m: 0.0))").unwrap();
    let out = steerlab()
        .arg("scenario")
        .arg("check")
        .arg(&bad)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for needle in [
        "bad.ron",
        "track.length_m",
        "track.curviness",
        "road.width_m",
    ] {
        assert!(stdout.contains(needle), "missing {needle}: {stdout}");
    }
    let out = steerlab()
        .arg("scenario")
        .arg("check")
        .arg(dir.join("missing.ron"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("missing.ron"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn missing_vulkan_driver_is_a_clear_error() {
    // Point the Vulkan loader at a driver list that does not exist: no adapter can be found.
    let out = steerlab()
        .args(["demo", "--ticks", "2", "--out"])
        .arg(std::env::temp_dir().join("steerlab-novk"))
        .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
        .env("VK_DRIVER_FILES", "/nonexistent/icd.json")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("mesa-vulkan-drivers"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn killed_recorder_leaves_a_readable_file_that_replays() {
    let dir = std::env::temp_dir().join(format!("steerlab-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let scenario = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/oval.ron");
    let mut child = steerlab()
        .args(["record", "--steps", "5000", "--out"])
        .arg(&dir)
        .arg("--scenario")
        .arg(&scenario)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let file = dir.join("oval_000.mcap");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) < 1_500_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the recorder wrote too little"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the recorder ended early"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let out = steerlab()
        .args(["episode", "check"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with("damaged") && stdout.contains("frames recovered"),
        "{stdout}"
    );
    let report = steerlab::record::check(&file).unwrap();
    assert!(
        report.outcome.frames >= 50 && report.contiguous,
        "{report:?}"
    );

    let gif = dir.join("drive.gif");
    let frames = dir.join("frames");
    let out = steerlab()
        .arg("replay")
        .arg(&file)
        .arg("--export")
        .arg(&gif)
        .arg("--frames")
        .arg(&frames)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning"));
    assert!(std::fs::metadata(&gif).unwrap().len() > 10_000);
    assert_eq!(
        std::fs::read_dir(&frames).unwrap().count() as u64,
        report.outcome.frames
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn labelled_recordings_export_to_coco() {
    let dir = std::env::temp_dir().join(format!("steerlab-coco-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let scenario = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/props.ron");
    let out = steerlab()
        .args(["record", "--labels", "--steps", "20", "--out"])
        .arg(dir.join("rec"))
        .arg("--scenario")
        .arg(&scenario)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The episode holds each frame's objects and class mask.
    let file = dir.join("rec/props_000.mcap");
    let episode = steerlab::record::EpisodeReader::open(&file).unwrap();
    let steps: Vec<_> = episode.steps(false).unwrap().collect();
    assert_eq!(steps.len(), 21);
    let first = &steps[0];
    let objects = first.objects.as_ref().expect("objects recorded");
    let (w, h, mask) =
        steerlab::sim::frame::gray_from_png(first.class_mask_png.as_ref().unwrap()).unwrap();
    assert_eq!((w, h), (objects.width, objects.height));
    assert_eq!(objects.classes[0], "sky");
    for o in &objects.objects {
        let class = objects.classes.iter().position(|c| *c == o.class).unwrap() as u8;
        let inside = (o.y0..o.y1)
            .flat_map(|y| (o.x0..o.x1).map(move |x| (x, y)))
            .filter(|&(x, y)| mask[(y * w + x) as usize] == class)
            .count() as u32;
        assert!(
            inside >= o.pixels,
            "{o:?}: {inside} pixels of its class in its box"
        );
    }
    // Object crops for the classifier: one per object of at least 10 pixels in every frame.
    let crops =
        steerlab::nn::models::classify::object_crops(std::slice::from_ref(&file), 16, 10, 1, 0)
            .unwrap();
    let expected: usize = steps
        .iter()
        .map(|s| {
            s.objects
                .as_ref()
                .unwrap()
                .objects
                .iter()
                .filter(|o| o.pixels >= 10)
                .count()
        })
        .sum();
    assert_eq!(crops.len(), expected);
    assert_eq!(crops.pixels.len(), expected * 3 * 16 * 16);
    assert!(expected > 0);
    let out = steerlab()
        .args(["export", "coco"])
        .arg(dir.join("rec"))
        .arg("--out")
        .arg(dir.join("coco"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let coco: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("coco/annotations.json")).unwrap())
            .unwrap();
    assert_eq!(coco["images"].as_array().unwrap().len(), 21);
    assert!(!coco["annotations"].as_array().unwrap().is_empty());
    assert!(dir.join("coco/images/props_000_00000.png").is_file());
    assert!(dir.join("coco/masks/props_000_00000.png").is_file());
    // Detection: the recorded boxes as training data (small objects kept as ignored regions),
    // a detector trained from a steering model's backbone, and detect on the episode.
    let boxed = steerlab::nn::data::detections::BoxedImages::from_episodes(
        std::slice::from_ref(&file),
        1,
        10,
    )
    .unwrap();
    assert_eq!((boxed.len(), boxed.ground_truth().len()), (21, expected));
    let all: usize = steps
        .iter()
        .map(|s| s.objects.as_ref().unwrap().objects.len())
        .sum();
    let ignored: usize = boxed.truths.iter().map(|t| t.ignored.len()).sum();
    assert_eq!(expected + ignored, all);
    let steering = dir.join("steering");
    steerlab::nn::Model::new(steerlab::nn::ModelConfig::pilotnet(), 0)
        .unwrap()
        .save(&steering)
        .unwrap();
    let out = steerlab()
        .args(["train-detector", "--epochs", "1", "--every", "1", "--data"])
        .arg(dir.join("rec"))
        .arg("--out")
        .arg(dir.join("detector"))
        .arg("--backbone-from")
        .arg(&steering)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("17 training frames"), "{stdout}");
    assert!(dir.join("detector/report.md").is_file());
    let out = steerlab()
        .args(["detect", "--every", "5", "--model"])
        .arg(dir.join("detector"))
        .arg(&file)
        .arg("--out")
        .arg(dir.join("boxes.gif"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("5 frames") && stdout.contains("mAP@0.5"),
        "{stdout}"
    );
    assert!(std::fs::metadata(dir.join("boxes.gif")).unwrap().len() > 1000);
    // `--json` keeps one run per detector, episode and sampling in one figures file.
    let figures = dir.join("detect.json");
    for every in ["5", "5", "10"] {
        let out = steerlab()
            .args(["detect", "--every", every, "--model"])
            .arg(dir.join("detector"))
            .arg(&file)
            .arg("--json")
            .arg(&figures)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let read = steerlab::drive::figures::AnyFigures::read(&figures).unwrap();
    let table = read.markdown(None).unwrap();
    assert!(
        table.contains("1 frame in 5") && table.contains("1 frame in 10"),
        "{table}"
    );
    assert_eq!(table.matches("two-stage detector").count(), 2, "{table}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `record --jobs 2` shares the episodes between two worker processes and writes the same
/// files, byte for byte (same seeds, same frames), as one process.
#[test]
fn record_in_two_workers_writes_the_same_episodes() {
    let dir = crate::tempdir("record-jobs");
    let scenarios = ["scenarios/props.ron", "scenarios/oval.ron"]
        .map(|s| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(s));
    let run = |jobs: &str| {
        let out = dir.join(format!("jobs{jobs}"));
        let mut cmd = steerlab();
        cmd.args(["record", "--episodes", "2", "--steps", "12", "--seed", "3"])
            .args(["--noise", "0.02", "--jobs", jobs, "--out"])
            .arg(&out);
        for s in &scenarios {
            cmd.arg("--scenario").arg(s);
        }
        let result = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&result.stdout).into_owned();
        assert!(
            result.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&result.stderr)
        );
        assert!(
            stdout.contains("recorded 4 episodes, 52 frames"),
            "{stdout}"
        );
        let mut files: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                (
                    f.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(f).unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let one = run("1");
    let two = run("2");
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&one),
        [
            "oval_000.mcap",
            "oval_001.mcap",
            "props_000.mcap",
            "props_001.mcap"
        ]
    );
    assert_eq!(names(&one), names(&two));
    for ((name, a), (_, b)) in one.iter().zip(&two) {
        assert!(a == b, "{name} differs between --jobs 1 and --jobs 2");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn distances_and_durations_out_of_range_are_refused_before_anything_runs() {
    for km in ["0", "NaN", "-1", "1e9", "inf"] {
        let out = steerlab()
            .args(["eval", &format!("--km={km}")])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "--km {km}");
        assert!(stderr.contains("--km"), "--km {km}: {stderr}");
    }
    let out = steerlab()
        .args(["sim", "--seconds", "NaN"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--seconds"));
}
