//! Robustness suites: held-out tracks (generator seeds no training run uses) changed along
//! named axes (darkness, fog, paint, road width, curvature, camera mount, speed, clutter) at
//! rising severities. A policy drives every cell with a safety driver and again without one;
//! the results are a table per axis and severity, a heat map, JSON, and an overall score. The
//! suite is a RON file kept in the repository (`scenarios/suites/`), so its results compare
//! across versions.

use crate::drive::eval::{EvalOptions, Evaluation, evaluate_supervised_and_free};
use crate::drive::metrics::{Metrics, Supervision, combine};
use crate::drive::{InterventionRule, Policy};
use crate::error::Result;
use crate::report::plot;
use crate::sim::Scenario;
use crate::sim::ron_file::{parse_ron, read_ron_file, valid};
use crate::sim::scenario::{CentreLine, Fog, Placement, Prop, PropKind, Repeat};
use crate::sim::track::TrackSpec;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A suite: its tracks, the distance driven on each cell, and its axes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    pub name: String,
    /// Distance driven on each track of each cell, km (with and without a safety driver).
    pub km: f64,
    /// Procedural tracks every cell is driven on.
    pub tracks: Vec<SuiteTrack>,
    pub axes: Vec<Axis>,
}

/// A generated track: `Procedural(seed, length_m, curviness)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteTrack {
    pub seed: u64,
    pub length_m: f64,
    pub curviness: f64,
}

/// One axis: what changes, from mild to severe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    pub name: String,
    pub severities: Vec<Change>,
}

/// How a cell's scenario differs from the default scenario on a suite track; unset fields
/// keep the default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Change {
    pub sun_elevation_deg: Option<f64>,
    pub sun_intensity: Option<f64>,
    pub ambient_intensity: Option<f64>,
    /// The default sky colour times this.
    pub sky_brightness_scale: Option<f64>,
    /// Fog opaque at this distance, metres (starting at a quarter of it).
    pub fog_end_m: Option<f64>,
    pub centre_line: Option<CentreLine>,
    pub edge_lines: Option<bool>,
    pub road_width_m: Option<f64>,
    /// Replaces the track's curviness.
    pub curviness: Option<f64>,
    pub camera_height_offset_m: Option<f64>,
    pub camera_pitch_offset_deg: Option<f64>,
    pub speed_scale: Option<f64>,
    /// Rows of props along both edges (trees, barriers, cones, parked cars, pedestrians), a
    /// metre beyond the edge lines.
    pub prop_rows: Option<u32>,
}

/// The suite files built into the binary, by name.
const BUILT_IN: [(&str, &str); 1] = [(
    "robustness",
    include_str!("../../scenarios/suites/robustness.ron"),
)];

impl Suite {
    /// A built-in suite by name, or a suite file.
    pub fn named(name_or_file: &str) -> Result<Self> {
        match BUILT_IN.iter().find(|(name, _)| *name == name_or_file) {
            Some((name, text)) => Self::from_ron(text, &format!("built-in suite {name}")),
            None => read_ron_file(Path::new(name_or_file), Self::from_ron),
        }
    }

    /// Parses a suite and checks that every cell's scenario is valid.
    pub fn from_ron(text: &str, file: &str) -> Result<Self> {
        let suite: Self = parse_ron(text, file)?;
        let mut problems = Vec::new();
        if !(suite.km.is_finite() && suite.km > 0.0) {
            problems.push(format!("km: {} must be positive", suite.km));
        }
        if suite.tracks.is_empty() || suite.axes.is_empty() {
            problems.push("a suite needs at least one track and one axis".into());
        }
        for cell in suite.cells()? {
            let scenario = &cell.scenario;
            problems.extend(
                scenario
                    .validate()
                    .into_iter()
                    .map(|p| format!("{}: {p}", scenario.name)),
            );
        }
        valid(suite, file, problems)
    }

    /// Every cell: each axis, severity and track, with its scenario (named
    /// `<axis>-<severity>-t<track>`).
    pub fn cells(&self) -> Result<Vec<Cell>> {
        let mut cells = Vec::new();
        for axis in &self.axes {
            for (severity, change) in axis.severities.iter().enumerate() {
                for (index, track) in self.tracks.iter().enumerate() {
                    let name = format!("{}-{}-t{}", axis.name, severity + 1, index + 1);
                    cells.push(Cell {
                        axis: axis.name.clone(),
                        severity: severity + 1,
                        scenario: change.apply(track_scenario(&name, track)?),
                    });
                }
            }
        }
        Ok(cells)
    }
}

/// One drive of the suite.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub axis: String,
    /// From 1 (mild).
    pub severity: usize,
    pub scenario: Scenario,
}

/// The default scenario (every field at its default) on a suite track.
fn track_scenario(name: &str, track: &SuiteTrack) -> Result<Scenario> {
    let text = format!(
        "Scenario(name: {name:?}, description: \"robustness suite cell {name}\", seed: {}, \
         track: Procedural(seed: {}, length_m: {:?}, curviness: {:?}))",
        track.seed, track.seed, track.length_m, track.curviness
    );
    Scenario::parse(&text, name)
}

impl Change {
    fn apply(&self, mut s: Scenario) -> Scenario {
        let l = &mut s.lighting;
        if let Some(v) = self.sun_elevation_deg {
            l.sun_elevation_deg = v;
        }
        if let Some(v) = self.sun_intensity {
            l.sun_intensity = v;
        }
        if let Some(v) = self.ambient_intensity {
            l.ambient_intensity = v;
        }
        if let Some(v) = self.sky_brightness_scale {
            l.sky_colour = l.sky_colour.map(|c| (c * v).clamp(0.0, 1.0));
        }
        if let Some(end_m) = self.fog_end_m {
            l.fog = Some(Fog {
                colour: [0.72, 0.74, 0.76],
                start_m: end_m / 4.0,
                end_m,
            });
        }
        if let Some(v) = self.centre_line {
            s.road.lane_markings.centre = v;
        }
        if let Some(v) = self.edge_lines {
            s.road.lane_markings.edges = v;
        }
        if let Some(v) = self.road_width_m {
            s.road.width_m = v;
        }
        if let (Some(v), TrackSpec::Procedural { curviness, .. }) = (self.curviness, &mut s.track) {
            *curviness = v;
        }
        if let Some(v) = self.camera_height_offset_m {
            s.camera.mount_height_m += v;
        }
        if let Some(v) = self.camera_pitch_offset_deg {
            s.camera.pitch_deg += v;
        }
        if let Some(v) = self.speed_scale {
            s.vehicle.speed_m_s *= v;
        }
        let rows = self.prop_rows.unwrap_or(0);
        let kinds = [
            PropKind::Tree,
            PropKind::Barrier,
            PropKind::Cone,
            PropKind::ParkedCar,
            PropKind::Pedestrian,
        ];
        for row in 0..rows {
            for side in [1.0, -1.0] {
                let kind = kinds[row as usize % kinds.len()];
                s.props.push(Prop {
                    kind,
                    at: Placement::Track {
                        s_m: 7.0 * row as f64 + if side > 0.0 { 0.0 } else { 19.0 },
                        offset_m: side * (s.road.width_m / 2.0 + 1.0 + 1.2 * row as f64),
                    },
                    yaw_deg: 0.0,
                    repeat: Some(Repeat {
                        count: 400,
                        spacing_m: 23.0 + 3.0 * row as f64,
                    }),
                });
            }
        }
        s
    }
}

/// The figures of one axis and severity, over the suite's tracks.
#[derive(Clone, Debug, Serialize)]
pub struct CellResult {
    pub axis: String,
    pub severity: usize,
    /// With a safety driver.
    pub supervised: Metrics,
    /// Without one: distance to the first crash (none: the whole distance).
    pub free: Metrics,
}

/// A policy's results on a suite.
#[derive(Clone, Debug, Serialize)]
pub struct SuiteResult {
    pub suite: String,
    pub cells: Vec<CellResult>,
    /// Every cell with a safety driver, combined: its autonomy is the suite's score.
    pub overall: Metrics,
}

pub const SUITE_JSON: &str = "suite.json";
pub const SUITE_MD: &str = "suite.md";
pub const SUITE_PNG: &str = "suite.png";

/// Drives `policy` on every cell of `suite` with a safety driver and without one; writes
/// `suite.json`, `suite.md` and `suite.png` (and each drive's evaluation files under
/// `supervised/` and `free/`) into `out`.
pub fn run_suite(
    policy: &Policy,
    suite: &Suite,
    out: &Path,
    seed: u64,
    progress: &mut dyn FnMut(&str, u64, f64),
) -> Result<SuiteResult> {
    let cells = suite.cells()?;
    let scenarios: Vec<Scenario> = cells.iter().map(|c| c.scenario.clone()).collect();
    let options = EvalOptions {
        scenarios,
        km: suite.km,
        out: out.join("supervised"),
        seed,
        supervision: Supervision::SafetyDriver(InterventionRule::default()),
        gps: None,
        localise: None,
    };
    let (supervised, free) =
        evaluate_supervised_and_free(Some(policy), &options, &out.join("free"), progress)?;
    let mut results = Vec::new();
    for axis in &suite.axes {
        for severity in 1..=axis.severities.len() {
            let of = |evaluation: &Evaluation| {
                let parts: Vec<Metrics> = cells
                    .iter()
                    .zip(&evaluation.drives)
                    .filter(|(c, _)| c.axis == axis.name && c.severity == severity)
                    .map(|(_, d)| d.metrics.clone())
                    .collect();
                combine(&parts)
            };
            results.push(CellResult {
                axis: axis.name.clone(),
                severity,
                supervised: of(&supervised),
                free: of(&free),
            });
        }
    }
    let result = SuiteResult {
        suite: suite.name.clone(),
        cells: results,
        overall: supervised.overall.clone(),
    };
    write(&result, out)?;
    Ok(result)
}

impl SuiteResult {
    /// The figure of each axis (rows) at each severity (columns); None where an axis has
    /// fewer severities.
    pub fn grid(
        &self,
        figure: impl Fn(&CellResult) -> f64,
    ) -> (Vec<String>, Vec<Vec<Option<f64>>>) {
        let mut axes: Vec<String> = Vec::new();
        for c in &self.cells {
            if !axes.contains(&c.axis) {
                axes.push(c.axis.clone());
            }
        }
        let columns = self.cells.iter().map(|c| c.severity).max().unwrap_or(0);
        let grid = axes
            .iter()
            .map(|a| {
                (1..=columns)
                    .map(|s| {
                        self.cells
                            .iter()
                            .find(|c| &c.axis == a && c.severity == s)
                            .map(&figure)
                    })
                    .collect()
            })
            .collect();
        (axes, grid)
    }

    /// A Markdown table: a row per axis and severity.
    pub fn table(&self) -> String {
        let pct = |v: Option<f64>| v.map_or("–".into(), |v| format!("{:.0} %", v * 100.0));
        let mut t = String::from(
            "| axis | severity | autonomy | interventions/km | free: first crash | in 68 % / 95 % interval | PIT error |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for c in &self.cells {
            let (s, f) = (&c.supervised, &c.free);
            let crash = match f.first_crash {
                Some(crash) => format!("after {:.0} m", crash.distance_m),
                None => format!("none in {:.2} km", f.distance_km),
            };
            t.push_str(&format!(
                "| {} | {} | {:.1} % | {:.2} | {crash} | {} / {} | {} |\n",
                c.axis,
                c.severity,
                s.autonomy_pct,
                s.interventions_per_km,
                pct(s.coverage_1_sigma),
                pct(s.coverage_2_sigma),
                s.calibration_error
                    .map_or("–".into(), |v| format!("{v:.3}")),
            ));
        }
        let o = &self.overall;
        t.push_str(&format!(
            "| **all** | | **{:.1} %** | {:.2} | | {} / {} | {} |\n",
            o.autonomy_pct,
            o.interventions_per_km,
            pct(o.coverage_1_sigma),
            pct(o.coverage_2_sigma),
            o.calibration_error
                .map_or("–".into(), |v| format!("{v:.3}")),
        ));
        t
    }
}

fn write(result: &SuiteResult, out: &Path) -> Result<()> {
    let json = out.join(SUITE_JSON);
    crate::files::write_json(&json, result)?;
    let md = format!(
        "# Robustness suite `{}`\n\nScore (autonomy over every cell, safety driver): **{:.1} %**\n\n{}",
        result.suite,
        result.overall.autonomy_pct,
        result.table()
    );
    crate::files::write_atomic(&out.join(SUITE_MD), md.as_bytes())?;
    let (axes, grid) = result.grid(|c| c.supervised.autonomy_pct);
    let columns: Vec<String> = (1..=grid.first().map_or(0, Vec::len))
        .map(|s| format!("severity {s}"))
        .collect();
    plot::heat_map(
        &out.join(SUITE_PNG),
        &format!("{}: autonomy (%) with a safety driver", result.suite),
        &axes,
        &columns,
        &grid,
        (0.0, 100.0),
    )
}
