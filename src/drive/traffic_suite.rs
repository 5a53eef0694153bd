//! The traffic benchmark (NoCrash-style, Codevilla et al. 2019): held-out towns × traffic
//! levels (cars per km of road lane, sudden brakes at the dense level), routes of a fixed
//! length each with a time limit. A route succeeds when the car drives all of it in time
//! without a collision, without leaving its route and without stalling; every drive is free
//! (no safety driver). The suite is a RON file (`scenarios/suites/traffic.ron`), so its
//! results compare across versions.

use crate::drive::Policy;
use crate::drive::closed_loop::{DriveOptions, Pilot, drive};
use crate::drive::metrics::{Metrics, Supervision, combine};
use crate::drive::policy::SpeedSource;
use crate::error::{Error, Result};
use crate::report::plot;
use crate::sim::Crash;
use crate::sim::Scenario;
use crate::sim::built::BuiltWorld;
use crate::sim::ron_file::{parse_ron, read_ron_file, valid};
use crate::sim::traffic::soak::{cars_at_density, town_lane_km};
use crate::world::{Env, EnvOptions};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A traffic suite: towns, levels, and the routes driven in each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficSuite {
    pub name: String,
    /// Town scenario files: a shipped one by its path under `scenarios/`
    /// (`heldout_towns/town_north.ron`), or a file relative to the suite file.
    pub towns: Vec<String>,
    pub levels: Vec<TrafficLevel>,
    /// Routes per town and level; each has its own start on the town's route and its own
    /// traffic.
    pub routes: u32,
    /// Length of every route, km.
    pub route_km: f64,
    /// The time limit: the route's length at this average speed, m/s.
    pub min_average_speed_m_s: f64,
}

/// One traffic level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficLevel {
    pub name: String,
    /// Traffic cars per km of road lane (rounded to whole cars per town).
    pub cars_per_lane_km: f64,
    /// Sudden brakes per traffic car and simulated minute.
    #[serde(default)]
    pub sudden_brakes_per_min: f64,
}

const BUILT_IN: [(&str, &str); 1] = [(
    "traffic",
    include_str!("../../scenarios/suites/traffic.ron"),
)];

pub const TRAFFIC_SUITE_JSON: &str = "traffic_suite.json";
pub const TRAFFIC_SUITE_MD: &str = "traffic_suite.md";
pub const TRAFFIC_SUITE_PNG: &str = "traffic_suite.png";
/// Where each route's recording goes, under the suite's folder.
pub const ROUTES_DIR: &str = "routes";

impl TrafficSuite {
    /// Whether `name_or_file` names a traffic suite (built in, or a file that starts with
    /// `TrafficSuite(`) rather than a robustness suite.
    pub fn is_traffic_suite(name_or_file: &str) -> bool {
        if BUILT_IN.iter().any(|(name, _)| *name == name_or_file) {
            return true;
        }
        std::fs::read_to_string(name_or_file).is_ok_and(|text| {
            text.lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with("//"))
                .is_some_and(|l| l.starts_with("TrafficSuite"))
        })
    }

    /// A built-in suite by name, or a suite file; with each town's scenario.
    pub fn named(name_or_file: &str) -> Result<(Self, Vec<Scenario>)> {
        let (suite, base) = match BUILT_IN.iter().find(|(name, _)| *name == name_or_file) {
            Some((name, text)) => (
                Self::from_ron(text, &format!("built-in suite {name}"))?,
                None,
            ),
            None => {
                let path = Path::new(name_or_file);
                let suite = read_ron_file(path, Self::from_ron)?;
                (suite, path.parent().map(Path::to_path_buf))
            }
        };
        let towns = suite.town_scenarios(name_or_file, base.as_deref())?;
        Ok((suite, towns))
    }

    /// Parses a suite and checks its fields.
    pub fn from_ron(text: &str, file: &str) -> Result<Self> {
        let suite: Self = parse_ron(text, file)?;
        let mut problems = Vec::new();
        if suite.towns.is_empty() {
            problems.push("towns: a suite needs at least one town".into());
        }
        if suite.levels.is_empty() {
            problems.push("levels: a suite needs at least one level".into());
        }
        if !(1..=1000).contains(&suite.routes) {
            problems.push(format!("routes: {} must be in 1..=1000", suite.routes));
        }
        if !(suite.route_km.is_finite() && suite.route_km > 0.0 && suite.route_km <= 50.0) {
            problems.push(format!("route_km: {} must be in (0, 50]", suite.route_km));
        }
        let v = suite.min_average_speed_m_s;
        if !(v.is_finite() && v > 0.0 && v <= 40.0) {
            problems.push(format!("min_average_speed_m_s: {v} must be in (0, 40]"));
        }
        for (i, level) in suite.levels.iter().enumerate() {
            let d = level.cars_per_lane_km;
            if !(d.is_finite() && (0.0..=100.0).contains(&d)) {
                problems.push(format!(
                    "levels[{i}] ({}).cars_per_lane_km: {d} must be in [0, 100]",
                    level.name
                ));
            }
            let b = level.sudden_brakes_per_min;
            if !(b.is_finite() && (0.0..=60.0).contains(&b)) {
                problems.push(format!(
                    "levels[{i}] ({}).sudden_brakes_per_min: {b} must be in [0, 60]",
                    level.name
                ));
            }
        }
        valid(suite, file, problems)
    }

    /// Each town's scenario: shipped ones by name, others read relative to `base`.
    fn town_scenarios(&self, file: &str, base: Option<&Path>) -> Result<Vec<Scenario>> {
        let shipped = crate::sim::shipped::TOWNS
            .iter()
            .chain(&crate::sim::shipped::HELDOUT_TOWNS);
        let mut towns = Vec::new();
        for (i, town) in self.towns.iter().enumerate() {
            let scenario = match shipped.clone().find(|(name, _)| *name == town) {
                Some((name, text)) => Scenario::parse(text, name)?,
                None => {
                    let path: PathBuf = base.map_or_else(|| town.into(), |b| b.join(town));
                    if !path.is_file() {
                        return Err(Error::InvalidArgument(format!(
                            "{file}: towns[{i}]: {town} is neither a shipped town nor a file \
                             ({} not found)",
                            path.display()
                        )));
                    }
                    Scenario::load(&path)?
                }
            };
            if !scenario.track.is_network() {
                return Err(Error::InvalidArgument(format!(
                    "{file}: towns[{i}]: {town} is a loop, not a town (a road network)"
                )));
            }
            towns.push(scenario);
        }
        Ok(towns)
    }
}

/// Why a route did not succeed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Failures {
    pub car_collisions: u32,
    pub prop_collisions: u32,
    pub off_road: u32,
    pub left_route: u32,
    pub stalls: u32,
    pub timed_out: u32,
}

/// One town at one level.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrafficCell {
    pub town: String,
    pub level: String,
    /// Traffic cars in the town at this level.
    pub cars: u32,
    pub routes: u32,
    pub successes: u32,
    pub failures: Failures,
    /// Where the first stalled route of the cell stood.
    pub stall: Option<String>,
    /// Each route that failed: its recording and why.
    pub failed: Vec<(PathBuf, String)>,
    pub metrics: Metrics,
}

impl TrafficCell {
    pub fn success_pct(&self) -> f64 {
        100.0 * self.successes as f64 / self.routes.max(1) as f64
    }

    /// Collisions with traffic cars per km driven.
    pub fn car_collisions_per_km(&self) -> f64 {
        self.failures.car_collisions as f64 / self.metrics.distance_km.max(1e-9)
    }
}

/// A suite's results: a cell per town and level, and the success of each level over towns.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrafficSuiteResult {
    pub suite: String,
    /// What drove, and where its speed came from.
    pub driver: String,
    pub speed: String,
    pub cells: Vec<TrafficCell>,
}

/// Drives every route of `suite` in `towns` with `policy` (the expert when `None`), each in
/// its own world side by side; writes `traffic_suite.{json,md,png}` into `out`.
pub fn run_traffic_suite(
    policy: Option<&Policy>,
    suite: &TrafficSuite,
    towns: &[Scenario],
    out: &Path,
    seed: u64,
    progress: &mut dyn FnMut(&str, u64, f64),
) -> Result<TrafficSuiteResult> {
    crate::files::create_dir_all(&out.join(ROUTES_DIR))?;
    // Every route: (town, level, scenario, cars, drive options).
    let mut jobs = Vec::new();
    for town in towns {
        // One world per town, shared by its routes (traffic is not part of it).
        let world = BuiltWorld::validated(town)?;
        let km = town_lane_km(town, &world)?;
        for level in &suite.levels {
            let mut scenario = town.clone();
            let cars = cars_at_density(km, level.cars_per_lane_km)?;
            scenario.traffic.cars = cars;
            scenario.traffic.sudden_brakes_per_min = level.sudden_brakes_per_min;
            let distance_m = suite.route_km * 1000.0;
            let max_ticks =
                (distance_m / suite.min_average_speed_m_s / scenario.dt_s).ceil() as u64;
            scenario.episode_steps = max_ticks.min(u32::MAX as u64) as u32;
            for route in 0..suite.routes {
                let drive_seed = crate::sim::math::fnv1a(&[
                    b"traffic suite",
                    &seed.to_le_bytes(),
                    town.name.as_bytes(),
                    level.name.as_bytes(),
                    &route.to_le_bytes(),
                ]);
                let mut scenario = scenario.clone();
                scenario.traffic.seed = drive_seed;
                let file = format!("{}_{}_{route}.mcap", town.name, level.name);
                let options = DriveOptions {
                    distance_m,
                    max_ticks,
                    seed: drive_seed,
                    supervision: Supervision::Free,
                    record: Some(out.join(ROUTES_DIR).join(file)),
                    episode: route,
                    localise: None,
                };
                jobs.push((
                    town.name.clone(),
                    level.name.clone(),
                    (scenario, world.clone()),
                    cars,
                    options,
                ));
            }
        }
    }
    let drives = crate::drive::workers::run(
        jobs.len(),
        &|j, progress| {
            let (_, _, (scenario, world), _, options) = &jobs[j];
            let env_options = EnvOptions {
                render: policy.is_some(),
                map: policy.and_then(Policy::map_options),
                ..EnvOptions::default()
            };
            let mut env = Env::in_world(scenario.clone(), world.clone(), env_options)
                .map_err(|e| e.context(format!("scenario {}", scenario.name)))?;
            let mut fresh;
            let mut pilot = match policy {
                Some(p) => {
                    fresh = p.fresh()?;
                    Pilot::Policy(&mut fresh)
                }
                None => Pilot::Expert(crate::sim::DartNoise::NONE),
            };
            drive(&mut env, &mut pilot, options, progress)
        },
        &mut |j, t, m| {
            progress(
                &format!("{} {} #{}", jobs[j].0, jobs[j].1, jobs[j].4.episode),
                t,
                m,
            )
        },
    )?;
    let mut cells = Vec::new();
    for town in towns {
        for level in &suite.levels {
            let mut cell = TrafficCell {
                town: town.name.clone(),
                level: level.name.clone(),
                cars: 0,
                routes: 0,
                successes: 0,
                failures: Failures::default(),
                stall: None,
                failed: Vec::new(),
                metrics: Metrics::default(),
            };
            let mut parts = Vec::new();
            for ((t, l, _, cars, _), d) in jobs.iter().zip(&drives) {
                if *t != town.name || *l != level.name {
                    continue;
                }
                let m = &d.metrics;
                cell.cars = *cars;
                cell.routes += 1;
                let f = &mut cell.failures;
                match m.first_crash.map(|c| c.cause) {
                    Some(Crash::Car) => f.car_collisions += 1,
                    Some(Crash::Prop(_)) => f.prop_collisions += 1,
                    Some(Crash::OffRoad) => f.off_road += 1,
                    None => {}
                }
                f.left_route += m.left_route;
                f.stalls += m.stalls;
                f.timed_out += m.timed_out;
                if cell.stall.is_none() {
                    cell.stall = m.stall.clone();
                }
                let done = m.route_completion_pct().is_some_and(|p| p >= 100.0);
                let clean = m.crashes == 0 && m.left_route == 0 && m.stalls == 0;
                let success = done && clean && m.timed_out == 0;
                cell.successes += success as u32;
                if !success {
                    let why = match (&m.first_crash, &m.stall) {
                        (Some(c), _) => format!("{} after {:.0} m", c.cause, c.distance_m),
                        (None, Some(stall)) => stall.clone(),
                        _ if m.left_route > 0 => format!(
                            "left the route after {:.0} m",
                            m.route_completed_km * 1000.0
                        ),
                        _ => format!("out of time after {:.0} m", m.distance_km * 1000.0),
                    };
                    let recording = d.recording.clone().unwrap_or_default();
                    cell.failed.push((recording, why));
                }
                parts.push(m.clone());
            }
            cell.metrics = combine(&parts);
            cells.push(cell);
        }
    }
    let result = TrafficSuiteResult {
        suite: suite.name.clone(),
        driver: match policy {
            Some(p) => format!("policy {} ({})", p.fingerprint, p.model.config.preset),
            None => "the expert".into(),
        },
        speed: policy
            .map_or(SpeedSource::Expert, |p| p.speed)
            .describe()
            .into(),
        cells,
    };
    write(&result, suite, out)?;
    Ok(result)
}

impl TrafficSuiteResult {
    /// A Markdown table: a row per town and level, then each level over all towns.
    pub fn table(&self) -> String {
        let mut t = String::from(
            "| town | level | cars | success | routes | car collisions / km | collisions: car / prop / off road | left route | stalled | out of time |\n\
             |---|---|---|---|---|---|---|---|---|---|\n",
        );
        let row = |t: &mut String, c: &TrafficCell, town: &str| {
            let f = &c.failures;
            t.push_str(&format!(
                "| {town} | {} | {} | {:.0} % | {}/{} | {:.2} | {} / {} / {} | {} | {} | {} |\n",
                c.level,
                c.cars,
                c.success_pct(),
                c.successes,
                c.routes,
                c.car_collisions_per_km(),
                f.car_collisions,
                f.prop_collisions,
                f.off_road,
                f.left_route,
                f.stalls,
                f.timed_out
            ));
        };
        for c in &self.cells {
            row(&mut t, c, &c.town);
        }
        for level in self.levels() {
            let cells: Vec<&TrafficCell> = self.cells.iter().filter(|c| c.level == level).collect();
            let sum = |f: &dyn Fn(&Failures) -> u32| cells.iter().map(|c| f(&c.failures)).sum();
            let all = TrafficCell {
                town: "all".into(),
                level: level.clone(),
                cars: cells.iter().map(|c| c.cars).sum(),
                routes: cells.iter().map(|c| c.routes).sum(),
                successes: cells.iter().map(|c| c.successes).sum(),
                failures: Failures {
                    car_collisions: sum(&|f| f.car_collisions),
                    prop_collisions: sum(&|f| f.prop_collisions),
                    off_road: sum(&|f| f.off_road),
                    left_route: sum(&|f| f.left_route),
                    stalls: sum(&|f| f.stalls),
                    timed_out: sum(&|f| f.timed_out),
                },
                stall: None,
                failed: Vec::new(),
                metrics: combine(&cells.iter().map(|c| c.metrics.clone()).collect::<Vec<_>>()),
            };
            row(&mut t, &all, "**all**");
        }
        t
    }

    /// The levels, in the suite's order.
    fn levels(&self) -> Vec<String> {
        let mut levels: Vec<String> = Vec::new();
        for c in &self.cells {
            if !levels.contains(&c.level) {
                levels.push(c.level.clone());
            }
        }
        levels
    }
}

fn write(result: &TrafficSuiteResult, suite: &TrafficSuite, out: &Path) -> Result<()> {
    let json = out.join(TRAFFIC_SUITE_JSON);
    crate::files::write_json(&json, result)?;
    let mut failed = String::new();
    for c in &result.cells {
        for (recording, why) in &c.failed {
            failed.push_str(&format!(
                "- {} {}: {why} (`{}`)\n",
                c.town,
                c.level,
                recording.display()
            ));
        }
    }
    let md = format!(
        "# Traffic suite `{}`\n\nDriver: {}. Speed: {}.\n\nRoutes of {} km, free (no safety \
         driver); success: all of the route within its time limit (an average of {} m/s) with \
         no collision, no departure from the route and no stall (standing for a minute). \
         Published NoCrash figures (CARLA, dense traffic, new town and weather): CILRS 24 %, \
         LBC 39 %, Roach 78 %.\n\n{}{}",
        result.suite,
        result.driver,
        result.speed,
        suite.route_km,
        suite.min_average_speed_m_s,
        result.table(),
        if failed.is_empty() {
            String::new()
        } else {
            format!("\nFailed routes (`steerlab replay FILE` replays one):\n\n{failed}")
        }
    );
    crate::files::write_atomic(&out.join(TRAFFIC_SUITE_MD), md.as_bytes())?;
    let levels = result.levels();
    let mut towns: Vec<String> = Vec::new();
    for c in &result.cells {
        if !towns.contains(&c.town) {
            towns.push(c.town.clone());
        }
    }
    let grid: Vec<Vec<Option<f64>>> = (towns.iter())
        .map(|t| {
            (levels.iter())
                .map(|l| {
                    (result.cells.iter())
                        .find(|c| &c.town == t && &c.level == l)
                        .map(TrafficCell::success_pct)
                })
                .collect()
        })
        .collect();
    plot::heat_map(
        &out.join(TRAFFIC_SUITE_PNG),
        &format!("{}: route success (%)", result.suite),
        &towns,
        &levels,
        &grid,
        (0.0, 100.0),
    )
}
