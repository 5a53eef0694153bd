//! The integration tests: one binary, so Bevy is linked once.

mod classify;
mod cli;
mod cli_types;
mod detect;
mod distribution;
mod docs;
mod drive;
mod faults;
mod fuzz;
mod geometry;
mod layers;
mod localisation;
mod navigation;
mod network;
mod nn;
mod randomise;
mod record;
mod render;
mod scenario;
mod speed;
mod traffic;
mod window;

use std::path::{Path, PathBuf};

/// The shipped scenario files.
pub fn scenario_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .collect();
    files.sort();
    files
}

/// A camera frame of one grey everywhere.
pub fn grey_frame(width: u32, height: u32) -> steerlab::sim::Frame {
    steerlab::sim::Frame {
        tick: 0,
        agent: 0,
        width,
        height,
        rgb: vec![90; (width * height * 3) as usize],
    }
}

/// A fresh folder for one test, `<tmp>/steerlab-it-<pid>/<name>`. The first call also removes
/// what test runs that have ended left in the temporary folder (`steerlab-…-<pid>` of a process
/// that is gone), so runs do not pile up there.
pub fn tempdir(name: &str) -> PathBuf {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let tmp = std::env::temp_dir();
    SWEPT.call_once(|| sweep(&tmp));
    let dir = tmp
        .join(format!("steerlab-it-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sweep(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix("steerlab-")
            .and_then(|rest| rest.rsplit('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
