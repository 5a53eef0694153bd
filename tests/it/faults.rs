//! Faults while writing, as a user meets them: a disk that fills up during `record`, `train`
//! and `export coco` (a small tmpfs the test mounts), `train` killed at random moments, two
//! `record`s into one folder, and a reader following an episode being written. What was
//! already complete stays readable, nothing half-written replaces a good file, and the user is
//! told what happened.

use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use steerlab::nn::ModelDir;
use steerlab::record::EpisodeReader;

fn steerlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_steerlab"))
}

fn oval() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/oval.ron")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Records `steps` ticks of the oval into `out` (one episode each), with `extra` arguments.
fn record(out: &Path, episodes: u32, steps: u32, extra: &[&str]) -> Output {
    steerlab()
        .args(["record", "--episodes", &episodes.to_string()])
        .args(["--steps", &steps.to_string()])
        .args(extra)
        .arg("--scenario")
        .arg(oval())
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// A tmpfs of a few megabytes mounted by the test (unmounted when dropped): a disk that fills.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(name: &str, bytes: u64) -> SmallDisk {
        let dir = crate::tempdir(name);
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(&dir)
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "mounting a small tmpfs on {} (the full-disk tests need root, as CI runs): {}",
            dir.display(),
            text(&out)
        );
        SmallDisk { dir }
    }

    fn free(&self) -> u64 {
        let path = std::ffi::CString::new(self.dir.as_os_str().as_encoded_bytes()).unwrap();
        let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut stats) }, 0);
        stats.f_bavail as u64 * stats.f_frsize as u64
    }

    /// Fills the disk until `leave` bytes are free; returns the filler to remove later.
    fn fill(&self, leave: u64) -> PathBuf {
        let filler = self.dir.join("filler");
        let size = self.free().saturating_sub(leave);
        std::fs::write(&filler, vec![1u8; size as usize]).unwrap();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

fn tensors(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let model = steerlab::nn::Model::load(dir).unwrap();
    let mut all: Vec<(String, Vec<f32>)> = model
        .tensors()
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1().unwrap()))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

fn train(data: &Path, out: &Path, epochs: usize, resume: bool) -> Command {
    let mut cmd = steerlab();
    cmd.args(["train", "--epochs", &epochs.to_string(), "--batch", "16"])
        .args(["--workers", "1", "--patience", "100", "--data"])
        .arg(data)
        .arg("--out")
        .arg(out);
    if resume {
        cmd.arg("--resume");
    }
    cmd
}

/// A small recorded set for the training tests, recorded once.
fn training_data() -> &'static Path {
    static DATA: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DATA.get_or_init(|| {
        let dir = crate::tempdir("faults-data");
        let out = record(&dir, 2, 60, &["--noise", "0.05"]);
        assert!(out.status.success(), "{}", text(&out));
        dir
    })
}

#[test]
fn a_full_disk_during_record_keeps_the_finished_episodes_and_a_readable_partial_one() {
    // About 1.2 MB an episode, in chunks of 512 KB: the first fits, the second does not.
    let disk = SmallDisk::mount("enospc-record", 2 << 20);
    let out = record(&disk.dir, 3, 1200, &[]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("No space left on device"), "{said}");
    assert!(!said.contains("panicked"), "{said}");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&disk.dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "mcap"))
        .collect();
    files.sort();
    let last = files
        .pop()
        .expect("the episode being written when the disk filled");
    assert!(said.contains(&*last.to_string_lossy()), "{said}");
    assert!(
        !files.is_empty(),
        "a finished episode before the disk filled: {said}"
    );
    for file in &files {
        let report = steerlab::record::check(file).unwrap();
        assert!(
            report.outcome.complete && report.outcome.steps == 1201,
            "{report:?}"
        );
    }
    // The cut episode reads as after a kill: its intact chunks, every tick whole.
    let report = steerlab::record::check(&last).unwrap();
    assert!(
        !report.outcome.complete && report.contiguous && report.outcome.steps > 0,
        "{report:?}"
    );
}

#[test]
fn a_full_disk_during_training_keeps_the_last_good_checkpoint_and_resumes_exactly() {
    let data = training_data();
    let whole = crate::tempdir("enospc-train-whole");
    let out = train(data, &whole, 8, false).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));

    let disk = SmallDisk::mount("enospc-train", 24 << 20);
    let model = disk.dir.join("model");
    // The disk fills once the first epoch is saved: room for the best model, not for a second
    // training state beside the first.
    let mut run = train(data, &model, 8, false)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = model.join("metrics.csv");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !std::fs::read_to_string(&metrics).is_ok_and(|m| m.lines().any(|l| l.starts_with("1,"))) {
        assert!(Instant::now() < deadline && run.try_wait().unwrap().is_none());
        std::thread::sleep(Duration::from_millis(5));
    }
    let first = tensors(&model);
    let filler = disk.fill(1_500_000);
    let out = run.wait_with_output().unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("No space left on device"), "{said}");
    assert!(!said.contains("panicked"), "{said}");
    // The model folder still holds a whole model (the first epoch's, or a better one saved
    // whole before the state could not be), and nothing half-written.
    let kept = tensors(&model);
    assert_eq!(kept.len(), first.len());
    let leftovers: Vec<_> = std::fs::read_dir(&model)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(
        !model.join("train_state.tmp").exists(),
        "a half-written training state was left"
    );
    // With room again, --resume finishes the run as if nothing had happened.
    std::fs::remove_file(filler).unwrap();
    let out = train(data, &model, 8, true).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(tensors(&model) == tensors(&whole), "resumed weights differ");
}

#[test]
fn a_full_disk_during_export_coco_leaves_the_earlier_export_whole() {
    let episodes = crate::tempdir("enospc-export-data");
    let out = record(&episodes, 1, 20, &["--labels"]);
    assert!(out.status.success(), "{}", text(&out));
    let disk = SmallDisk::mount("enospc-export", 4 << 20);
    let coco = disk.dir.join("coco");
    let export = || {
        steerlab()
            .args(["export", "coco"])
            .arg(&episodes)
            .arg("--out")
            .arg(&coco)
            .output()
            .unwrap()
    };
    let out = export();
    assert!(out.status.success(), "{}", text(&out));
    let annotations = std::fs::read(coco.join("annotations.json")).unwrap();
    disk.fill(1024);
    let out = export();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("No space left on device"), "{said}");
    assert_eq!(
        std::fs::read(coco.join("annotations.json")).unwrap(),
        annotations
    );
    for dir in [&coco, &coco.join("images"), &coco.join("masks")] {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                !name.ends_with(".part"),
                "half-written {name} left in {}",
                dir.display()
            );
        }
    }
}

/// Whether a model folder holds what `train --resume` continues from.
fn holds_state(model: &std::path::Path) -> bool {
    model.join(steerlab::nn::train::STATE_DIR).exists()
        || model
            .join(steerlab::nn::models::checkpoint::CONFIG_FILE)
            .exists()
}

#[test]
fn train_killed_twenty_times_resumes_to_the_weights_of_an_uninterrupted_run() {
    let data = training_data();
    let whole = crate::tempdir("kill-train-whole");
    let started = Instant::now();
    let out = train(data, &whole, 4, false).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let full_s = started.elapsed().as_secs_f64();

    let model = crate::tempdir("kill-train");
    let mut rng = StdRng::seed_from_u64(20);
    for _ in 0..20 {
        // As a user would: --resume once the folder holds a training state, or a model (`train`
        // says to pass --resume then: a run killed between removing the old state and renaming
        // the new one into place leaves the state under its temporary name, which --resume
        // finishes renaming).
        let resume = holds_state(&model);
        let mut child = train(data, &model, 4, resume)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs_f64(rng.random_range(0.05..full_s)));
        child.kill().unwrap(); // SIGKILL, or nothing if the run had finished
        child.wait().unwrap();
    }
    let resume = holds_state(&model);
    let out = train(data, &model, 4, resume).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(tensors(&model) == tensors(&whole), "resumed weights differ");
}

#[test]
fn two_recorders_in_one_folder_the_second_refused_while_a_follower_reads_whole_ticks() {
    let dir = crate::tempdir("two-recorders");
    let recorder = |steps: u32| {
        steerlab()
            .args(["record", "--steps", &steps.to_string(), "--scenario"])
            .arg(oval())
            .arg("--out")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // 3,000 ticks (about 3 MB, in chunks of 512 KB): the follower gets whole chunks early.
    let mut first = recorder(3000);
    let file = dir.join("oval_000.mcap");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(steerlab::record::being_written(&file) && EpisodeReader::open(&file).is_ok()) {
        assert!(
            Instant::now() < deadline,
            "the first recorder never started writing"
        );
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first recorder ended early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A second run of the same episodes, started now, stops when it comes to the file.
    let second = recorder(3000);
    // A follower reads the file as it grows: only whole ticks, in order, to the last.
    let episode = EpisodeReader::open(&file).unwrap();
    let mut steps = episode.follow(true).unwrap();
    let (mut ticks, mut while_written) = (0u64, 0u64);
    for step in steps.by_ref() {
        assert_eq!(step.tick, ticks, "ticks in order, none missing");
        let frame = step.frame.expect("every tick whole, its frame decoded");
        assert_eq!(frame.content_hash(), step.frame_info.unwrap().content_hash);
        if steerlab::record::being_written(&file) {
            while_written += 1;
        }
        ticks += 1;
    }
    assert!(first.wait().unwrap().success());
    let second = second.wait_with_output().unwrap();
    let said = text(&second);
    assert!(!second.status.success(), "{said}");
    assert!(
        said.contains("another process is recording this episode"),
        "{said}"
    );
    assert!(said.contains("--shard"), "{said}");
    assert!(
        while_written > 0,
        "the follower read nothing before the writer finished"
    );
    assert_eq!(ticks, 3001);
    assert!(steps.outcome().complete && steps.outcome().cut.is_none());
    assert_eq!(steerlab::record::check(&file).unwrap().outcome.steps, 3001);
}

#[test]
fn dagger_killed_at_random_moments_resumes_to_the_models_and_figures_of_an_uninterrupted_run() {
    let dagger = |out: &Path, resume: bool| {
        let mut cmd = steerlab();
        cmd.args([
            "dagger",
            "--ticks",
            "120",
            "--iterations",
            "1",
            "--epochs",
            "2",
        ])
        .args(["--retrain-epochs", "1", "--eval-km", "0.05", "--eval-last"])
        .args(["--validation-ticks", "40", "--calibration-ticks", "40"])
        .arg("--scenario")
        .arg(oval())
        .arg("--out")
        .arg(out);
        if resume {
            cmd.arg("--resume");
        }
        cmd
    };
    let whole = crate::tempdir("kill-dagger-whole");
    let started = Instant::now();
    let out = dagger(&whole, false).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let full_s = started.elapsed().as_secs_f64();

    let run = crate::tempdir("kill-dagger");
    // Without a run to continue, --resume says so.
    let out = dagger(&run, true).output().unwrap();
    assert!(text(&out).contains("nothing to resume"), "{}", text(&out));
    let mut rng = StdRng::seed_from_u64(8);
    for _ in 0..6 {
        let resume = run.join("dagger_run.json").exists();
        let mut child = dagger(&run, resume)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs_f64(rng.random_range(0.2..full_s)));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let out = dagger(&run, true).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    for i in 0..2 {
        let model = |root: &Path| root.join("models").join(format!("iter{i}"));
        assert!(
            tensors(&model(&run)) == tensors(&model(&whole)),
            "iteration {i}'s weights differ"
        );
        let config =
            |root: &Path| std::fs::read_to_string(model(root).join("config.json")).unwrap();
        assert_eq!(
            config(&run),
            config(&whole),
            "iteration {i}'s recalibrated config"
        );
    }
    // Every figure but the times.
    let figures = |root: &Path| {
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("dagger.json")).unwrap())
                .unwrap();
        for it in v.as_array_mut().unwrap() {
            for key in ["collect_s", "train_s", "eval_s", "model"] {
                it.as_object_mut().unwrap().remove(key);
            }
        }
        v
    };
    assert_eq!(figures(&run), figures(&whole));
}
