//! The main job's figures as data: `figures.json` beside its report, with the machine they were
//! measured on, and the Markdown the guide shows of them. The guide's tables of the main job
//! are rendered from a copy of that file (`docs/figures/`) by `steerlab figures`, and a test
//! renders them again and compares, so the guide cannot say what no run measured.

use crate::drive::eval::{gps_table, metrics_table};
use crate::drive::metrics::Metrics;
use crate::drive::traffic_suite::TrafficSuiteResult;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// The file the main job writes its figures to.
pub const FIGURES_JSON: &str = "figures.json";

/// Where figures were measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// The processor's model name (`/proc/cpuinfo`).
    pub cpu: String,
    /// Threads the process could run on.
    pub cores: usize,
    /// The OpenBLAS kernels in use.
    pub blas: String,
    /// The 1-minute load average when the run started and when it ended.
    pub load_start: f64,
    pub load_end: f64,
}

impl Machine {
    /// This machine, now (its load at the start; [`Machine::ended`] adds the end's).
    pub fn here() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, name)| name.trim().to_string())
            })
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            blas: crate::nn::ops::blas_kernels().to_string(),
            load_start: load_average(),
            load_end: f64::NAN,
        }
    }

    /// With the load when the run ended.
    pub fn ended(mut self) -> Self {
        self.load_end = load_average();
        self
    }
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// What the main job measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Figures {
    pub machine: Machine,
    /// The whole job, minutes.
    pub minutes: f64,
    /// Behaviour cloning and the final model on the held-out tracks, with a safety driver.
    pub track: Vec<(String, Metrics)>,
    /// The same without one.
    pub track_free: Vec<(String, Metrics)>,
    /// The robustness suite's name and the final model's score (autonomy over every cell).
    pub suite: Option<(String, f64)>,
    /// The navigation stage's final model by GPS error (and on its own localisation).
    pub gps: Vec<(String, Metrics)>,
    /// Where the navigation stage's speed came from.
    pub town_speed: Option<String>,
    /// The navigation stage's final model in the traffic suite.
    pub traffic: Option<TrafficSuiteResult>,
}

impl Figures {
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::files::write_json(path, self)
    }

    pub fn read(path: &Path) -> Result<Self> {
        crate::files::read_json(path, "not the main job's figures (`figures.json`)")?.ok_or_else(
            || Error::Output {
                path: path.to_path_buf(),
                message: "no such file: a main job writes it beside its report".into(),
            },
        )
    }

    /// The Markdown the guide shows: the machine, then a table per stage.
    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let mut r = String::new();
        let _ = writeln!(
            r,
            "Measured on {} ({} threads, OpenBLAS {}), load {:.1} at the start and {:.1} at the \
             end, {:.1} min in all.\n",
            m.cpu, m.cores, m.blas, m.load_start, m.load_end, self.minutes
        );
        let _ = writeln!(
            r,
            "Held-out tracks, with a safety driver (a PilotNet policy reading the camera; the \
             expert's speed):\n\n{}",
            metrics_table(&self.track)
        );
        let _ = writeln!(
            r,
            "Without a safety driver:\n\n{}",
            metrics_table(&self.track_free)
        );
        if let Some((suite, score)) = &self.suite {
            let _ = writeln!(
                r,
                "Robustness suite `{suite}`, final model: {score:.1} % autonomy over every cell.\n"
            );
        }
        if !self.gps.is_empty() {
            let _ = writeln!(
                r,
                "Navigation in the held-out towns by GPS error (a `navnet` reading the camera and \
                 the routed map cut at the fix; speed: {}):\n\n{}",
                self.town_speed.as_deref().unwrap_or("the expert's"),
                gps_table(&self.gps)
            );
        }
        if let Some(t) = &self.traffic {
            let _ = writeln!(
                r,
                "The traffic suite (`{}`; speed: {}):\n\n{}",
                t.suite,
                t.speed,
                t.table()
            );
        }
        r
    }
}

/// The marks around a block of the guide rendered from a figures file, named relative to the
/// chapter: `<!-- figures: ../figures/main-job.json -->` … `<!-- end figures -->`.
pub const BLOCK_START: &str = "<!-- figures: ";
pub const BLOCK_END: &str = "<!-- end figures -->";

/// `chapter` (the text of the guide file at `chapter_path`) with every figures block rendered
/// again from its file; errors name the chapter and the block.
pub fn render_blocks(chapter_path: &Path, chapter: &str) -> Result<String> {
    let invalid = |m: String| Error::InvalidArgument(format!("{}: {m}", chapter_path.display()));
    let mut out = String::new();
    let mut rest = chapter;
    while let Some(start) = rest.find(BLOCK_START) {
        let (before, from) = rest.split_at(start);
        out.push_str(before);
        let Some(close) = from.find("-->") else {
            return Err(invalid("a figures mark without its `-->`".into()));
        };
        let file = from[BLOCK_START.len()..close].trim();
        let Some(end) = from.find(BLOCK_END) else {
            return Err(invalid(format!("the block of {file} has no `{BLOCK_END}`")));
        };
        let path = chapter_path.parent().unwrap_or(Path::new(".")).join(file);
        let figures = Figures::read(&path)?;
        out.push_str(&from[..close + 3]);
        out.push_str("\n\n");
        out.push_str(figures.markdown().trim_end());
        out.push_str("\n\n");
        out.push_str(BLOCK_END);
        rest = &from[end + BLOCK_END.len()..];
    }
    out.push_str(rest);
    Ok(out)
}
