//! `steerlab scenario check`.

use crate::sim::Scenario;
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

/// Validates each file; prints `ok` and a summary, or every problem found.
pub fn check(files: &[PathBuf]) -> Result<ExitCode> {
    let mut failed = 0;
    for file in files {
        match Scenario::load(file).and_then(|s| s.build_track().map(|t| (s, t))) {
            Ok((scenario, track)) => {
                println!("ok      {}: {}", file.display(), scenario.summary(&track))
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
