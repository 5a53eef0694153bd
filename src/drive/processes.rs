//! A collection shared out to worker processes (`record --jobs N`): each worker is this
//! program run again with its share of the episodes, recording in a world of its own; it
//! reports each finished episode and, at its end, its totals on standard output, one line each
//! ([`report_episode`], [`report_summary`]); [`record_in_processes`] starts the workers,
//! follows their lines and merges their totals. [`CollectionBench`]: the figures of one
//! collection made in one process, by Ray actors and by worker processes.

use crate::drive::collect::RecordSummary;
use crate::error::{Error, Result};
use crate::nn::machine::Machine;
use crate::report::table::markdown_table;
use serde::{Deserialize, Serialize};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const EPISODE: &str = "episode ";
const SUMMARY: &str = "summary ";

/// A worker's line for an episode it finished with `frames` frames.
pub fn report_episode(frames: u64) {
    println!("{EPISODE}{frames}");
}

/// A worker's last line: its totals.
pub fn report_summary(summary: &RecordSummary) -> Result<()> {
    let json = serde_json::to_string(summary)
        .map_err(|e| Error::InvalidArgument(format!("the worker's totals: {e}")))?;
    println!("{SUMMARY}{json}");
    Ok(())
}

/// Runs `jobs` workers, `worker(w)` being the command of worker `w` (of `0..jobs`), and merges
/// their totals, the files in the order of `planned` (the order one process writes them in);
/// `frames(n)` is called as workers finish episodes of `n` frames. A failed worker fails the
/// run after the others finish; every episode file already written stays, and the error says
/// where (`out`).
pub fn record_in_processes(
    jobs: u32,
    worker: &dyn Fn(u32) -> Command,
    planned: &[PathBuf],
    out: &Path,
    frames: &(dyn Fn(u64) + Sync),
) -> Result<RecordSummary> {
    let started = Instant::now();
    let mut children = Vec::new();
    for w in 0..jobs {
        let mut cmd = worker(w);
        let program = cmd.get_program().to_string_lossy().into_owned();
        let child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|error| Error::Io {
                context: format!("starting worker {w} ({program})"),
                error,
            })?;
        children.push(child);
    }
    let (summary, failures) = std::thread::scope(|scope| {
        let readers: Vec<_> = children
            .iter_mut()
            .map(|child| {
                let stdout = child.stdout.take();
                scope.spawn(move || {
                    let mut last = String::new();
                    let Some(stdout) = stdout else { return last };
                    for line in std::io::BufReader::new(stdout).lines() {
                        let line = line.unwrap_or_default();
                        if let Some(n) = line.strip_prefix(EPISODE) {
                            frames(n.trim().parse().unwrap_or(0));
                        }
                        last = line;
                    }
                    last
                })
            })
            .collect();
        let mut summary = RecordSummary::default();
        let mut failures = Vec::new();
        for (w, (child, reader)) in children.iter_mut().zip(readers).enumerate() {
            let last = reader.join().unwrap_or_default();
            let part = last.strip_prefix(SUMMARY).unwrap_or_default();
            match (child.wait(), serde_json::from_str::<RecordSummary>(part)) {
                (Ok(status), Ok(part)) if status.success() => summary.add(part),
                (Ok(status), _) => failures.push(format!("worker {w} ({status})")),
                (Err(e), _) => failures.push(format!("worker {w} (waiting for it: {e})")),
            }
        }
        (summary, failures)
    });
    if !failures.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{} of {jobs} workers failed: {} (their errors are above; the {} episodes the \
             others wrote are in {})",
            failures.len(),
            failures.join(", "),
            summary.episodes,
            out.display()
        )));
    }
    let mut summary = summary;
    summary
        .files
        .sort_by_key(|f| planned.iter().position(|p| p == f));
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// One way of collecting the same episodes and what it took (`examples/ray_collect.py
/// --compare --json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CollectionRow {
    pub collection: String,
    pub seconds: f64,
    pub frames: u64,
}

/// The same expert episodes collected in one process, by Ray actors and by `record --jobs`,
/// with the machine they ran on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CollectionBench {
    pub machine: Machine,
    pub scenarios: Vec<String>,
    pub episodes: u32,
    /// Ticks per episode (each scenario's own length when `None`).
    pub steps: Option<u32>,
    pub collections: Vec<CollectionRow>,
}

impl CollectionBench {
    /// The table the guide shows: each collection's time, frames per second and its speed
    /// against the first (one process).
    pub fn markdown(&self) -> String {
        let steps = self
            .steps
            .map_or("their own length".into(), |s| format!("{s} ticks"));
        let mut r = format!(
            "{}: {} × {} episodes of {steps}, one car per world.\n\n",
            self.machine.measured_on(),
            self.scenarios.join(", "),
            self.episodes
        );
        let rate = |c: &CollectionRow| c.frames as f64 / c.seconds.max(1e-9);
        let one = self.collections.first().map_or(f64::NAN, rate);
        let rows = self.collections.iter().map(|c| {
            vec![
                c.collection.clone(),
                format!("{:.2}", c.seconds),
                format!("{:.0}", rate(c)),
                format!("{:.2}", rate(c) / one),
            ]
        });
        r.push_str(&markdown_table(
            &["collection", "seconds", "frames/s", "against one process"],
            rows,
        ));
        r
    }
}
