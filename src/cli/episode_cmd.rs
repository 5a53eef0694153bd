//! `steerlab episode check`.

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

/// Reads each file through and says what it holds and what was cut.
pub fn check(files: &[PathBuf]) -> Result<ExitCode> {
    let mut bad = 0;
    for file in files {
        match crate::record::check(file) {
            Ok(r) => {
                let o = &r.outcome;
                let state = if o.complete && o.cut.is_none() {
                    "complete"
                } else {
                    "damaged"
                };
                println!(
                    "{state:8} {}: scenario {}, seed {}, {} ticks, {} frames recovered{}{}{}",
                    file.display(),
                    r.scenario,
                    r.seed,
                    o.steps,
                    o.frames,
                    if o.incomplete_ticks > 0 {
                        format!(", {} incomplete tick(s) dropped", o.incomplete_ticks)
                    } else {
                        String::new()
                    },
                    if r.contiguous {
                        String::new()
                    } else {
                        ", ticks not contiguous".into()
                    },
                    o.cut
                        .as_ref()
                        .map(|c| format!("; cut: {c}"))
                        .unwrap_or_default()
                );
                if state != "complete" {
                    bad += 1;
                }
            }
            Err(e) => {
                bad += 1;
                println!("unusable {e}");
            }
        }
    }
    Ok(if bad > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
