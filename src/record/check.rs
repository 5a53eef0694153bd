//! `steerlab episode check`: read a whole episode through and say what it holds.

use crate::error::Result;
use crate::record::reader::{EpisodeReader, ReadOutcome};
use std::path::Path;

/// What `steerlab episode check` reports.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckReport {
    pub outcome: ReadOutcome,
    pub scenario: String,
    pub seed: u64,
    /// Ticks are consecutive from 0.
    pub contiguous: bool,
}

/// Reads a whole episode, decoding and verifying every frame.
pub fn check(path: &Path) -> Result<CheckReport> {
    let episode = EpisodeReader::open(path)?;
    let mut steps = episode.steps(true)?;
    let mut expected = 0;
    let mut contiguous = true;
    for step in steps.by_ref() {
        contiguous &= step.tick == expected;
        expected = step.tick + 1;
    }
    Ok(CheckReport {
        outcome: steps.outcome().clone(),
        scenario: episode.scenario.name.clone(),
        seed: episode.meta.seed,
        contiguous,
    })
}
