//! The main job's figures as data: `figures.json` beside its report, with the machine they were
//! measured on, and the Markdown the guide shows of them (through [`crate::drive::figures`]).

use crate::drive::eval::{gps_table, metrics_table};
use crate::drive::metrics::Metrics;
use crate::drive::traffic_suite::TrafficSuiteResult;
use crate::error::{Error, Result};
use crate::nn::machine::Machine;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// The file the main job writes its figures to.
pub const FIGURES_JSON: &str = "figures.json";

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

    /// The parts of [`Figures::markdown`] a guide's block can name (`main-job.json#traffic`).
    pub const PARTS: [&str; 3] = ["tracks", "navigation", "traffic"];

    /// The Markdown the guide shows: the machine, then a table per stage (`part`: only that
    /// stage's, one of [`Figures::PARTS`]).
    pub fn markdown(&self, part: Option<&str>) -> Result<String> {
        if let Some(p) = part.filter(|p| !Self::PARTS.contains(p)) {
            return Err(Error::InvalidArgument(format!(
                "the main job's figures have no part {p:?}; name one of {}",
                Self::PARTS.join(", ")
            )));
        }
        let wanted = |p: &str| part.is_none_or(|part| part == p);
        let mut r = String::new();
        let _ = writeln!(
            r,
            "{}, {:.1} min in all (the main job).\n",
            self.machine.measured_on(),
            self.minutes
        );
        if wanted("tracks") {
            let _ = writeln!(
                r,
                "Held-out tracks, with a safety driver (a PilotNet policy reading the camera; \
                 the expert's speed):\n\n{}",
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
                    "Robustness suite `{suite}`, final model: {score:.1} % autonomy over every \
                     cell.\n"
                );
            }
        }
        if wanted("navigation") && !self.gps.is_empty() {
            let _ = writeln!(
                r,
                "Navigation in the held-out towns by GPS error (a `navnet` reading the camera and \
                 the routed map cut at the fix; speed: {}):\n\n{}",
                self.town_speed.as_deref().unwrap_or("the expert's"),
                gps_table(&self.gps)
            );
        }
        if let (true, Some(t)) = (wanted("traffic"), &self.traffic) {
            let _ = writeln!(
                r,
                "The traffic suite (`{}`; speed: {}):\n\n{}",
                t.suite,
                t.speed,
                t.table()
            );
        }
        Ok(r)
    }
}
