//! `steerlab scenario check`.

use crate::sim::built::BuiltWorld;
use crate::sim::randomise::Randomisation;
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

/// Validates each file (a folder: its `.ron` files); prints `ok` and a summary, or every
/// problem found.
pub fn check(paths: &[PathBuf]) -> Result<ExitCode> {
    let files = super::inputs::ron_files(paths)?;
    let mut failed = 0;
    for file in &files {
        if is_randomisation(file) {
            match Randomisation::load(file) {
                Ok(_) => println!("ok      {}: randomisation ranges", file.display()),
                Err(e) => {
                    failed += 1;
                    println!("invalid {e}");
                }
            }
            continue;
        }
        match BuiltWorld::load(file) {
            Ok((scenario, world)) => {
                println!("ok      {}: {}", file.display(), world.summary(&scenario))
            }
            Err(e) => {
                failed += 1;
                println!("invalid {e}");
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} scenario files are invalid", files.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether a file holds randomisation ranges (`Randomisation(…)`) rather than a scenario.
fn is_randomisation(file: &std::path::Path) -> bool {
    std::fs::read_to_string(file).is_ok_and(|text| {
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("//"))
            .is_some_and(|l| l.starts_with("Randomisation"))
    })
}
