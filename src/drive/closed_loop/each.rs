//! Collection, validation and calibration drives: each scenario (or draws of it) driven by one
//! pilot and recorded, the drives run side by side on the worker threads.

use crate::drive::closed_loop::pilot::Pilot;
use crate::drive::closed_loop::{Drive, DriveOptions, drive};
use crate::drive::metrics::Supervision;
use crate::drive::workers::Driver;
use crate::error::Result;
use crate::sim::Scenario;
use crate::sim::built::BuiltWorld;
use crate::sim::map_input::MapOptions;
use crate::sim::randomise::Randomisation;
use crate::world::{Env, EnvOptions};
use std::path::Path;

/// Drives each scenario once for `ticks` (its episode cut to that length) with the same pilot,
/// recording `<dir>/<scenario name>.mcap`; `seed(name)` seeds each drive. Data collection,
/// validation and calibration drives all go this way. With `randomise = Some((ranges, n))`
/// each scenario is instead driven `n` times for `ticks / n`, each drive in a scenario drawn
/// from `ranges` with the drive's seed, recorded as `<name>_<k>.mcap`. With `map`, every tick
/// also cuts (and records) the car's map patch; a randomised drive then draws its localisation
/// error from `ranges` too, unless `map` gives a GPS error.
#[allow(clippy::too_many_arguments)]
pub fn drive_each(
    scenarios: &[Scenario],
    ticks: u64,
    dir: &Path,
    driver: Driver,
    supervision: Supervision,
    seed: &(dyn Fn(&str) -> u64 + Sync),
    randomise: Option<(&Randomisation, u32)>,
    map: Option<MapOptions>,
    progress: &mut dyn FnMut(&str, u64, f64),
) -> Result<Vec<Drive>> {
    crate::files::create_dir_all(dir)?;
    let draws = randomise.map_or(1, |(_, n)| n.max(1));
    let ticks = (ticks / draws as u64).max(1);
    // Every drive's world, seed and file, drawn here in order; then driven side by side.
    let mut jobs = Vec::with_capacity(scenarios.len() * draws as usize);
    for (k, base) in scenarios.iter().enumerate() {
        let name = base.name.clone();
        for draw in 0..draws {
            let (mut scenario, world, drive_seed, file) = match randomise {
                None => (
                    base.clone(),
                    BuiltWorld::validated(base)?,
                    seed(&name),
                    format!("{name}.mcap"),
                ),
                Some((ranges, _)) => {
                    let drive_seed = seed(&format!("{name}/{draw}"));
                    let drawn = ranges.draw(base, drive_seed)?;
                    let file = format!("{name}_{draw}.mcap");
                    (drawn.scenario, drawn.world, drive_seed, file)
                }
            };
            scenario.episode_steps = ticks.min(u32::MAX as u64) as u32;
            // A randomised drive draws its localisation error too, unless one was given.
            let map = match (map, randomise) {
                (Some(m), Some((ranges, _))) if m.gps.is_none() => {
                    let (gps, dropouts) = ranges.draw_localisation(drive_seed);
                    Some(MapOptions {
                        gps: Some(gps),
                        dropouts,
                        ..m
                    })
                }
                (m, _) => m,
            };
            let run = DriveOptions {
                distance_m: f64::INFINITY,
                max_ticks: ticks,
                seed: drive_seed,
                supervision,
                record: Some(dir.join(file)),
                episode: k as u32 * draws + draw,
                localise: None,
            };
            jobs.push((scenario, world, map, run));
        }
    }
    crate::drive::workers::run(
        jobs.len(),
        &|j, progress| {
            let (scenario, world, map, run) = &jobs[j];
            let name = scenario.name.clone();
            let options = EnvOptions {
                map: *map,
                ..EnvOptions::default()
            };
            let mut env = Env::in_world(scenario.clone(), world.clone(), options)
                .map_err(|e| e.context(format!("scenario {name}")))?;
            // Each drive gets a fresh copy of the policy, so that it depends on nothing before.
            let mut policy;
            let mut pilot = match driver {
                Driver::Expert(noise) => Pilot::Expert(noise),
                Driver::Policy(p) => {
                    policy = p.fresh()?;
                    Pilot::Policy(&mut policy)
                }
                Driver::Mixture { policy: p, beta } => {
                    policy = p.fresh()?;
                    Pilot::Mixture {
                        policy: &mut policy,
                        beta,
                    }
                }
            };
            drive(&mut env, &mut pilot, run, progress)
        },
        &mut |j, t, m| progress(&scenarios[j / draws as usize].name, t, m),
    )
}
