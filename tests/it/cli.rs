//! The binary as a user runs it.

use std::process::Command;

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
        .args(["demo", "--steps", "2", "--out"])
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
