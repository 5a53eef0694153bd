//! The integration tests: one binary, so Bevy is linked once.

mod classify;
mod cli;
mod detect;
mod distribution;
mod drive;
mod geometry;
mod nn;
mod record;
mod render;
mod scenario;
mod window;

use std::path::PathBuf;

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
