//! The simulator's benchmarks (`steerlab bench sim`, `bench record` and `bench traffic`),
//! measured here and printed by the command: ticks and camera frames per second of a world with
//! N cars through Bevy and through wgpu alone, the step without rendering and with traffic, the
//! drivable-map patches, the cost of recording and reading an episode, and towns soaked in
//! dense traffic.

use crate::error::Result;
use crate::nn::machine::Machine;
use crate::report::table::markdown_table;
use crate::sim::built::BuiltWorld;
use crate::sim::network::Network;
use crate::sim::network::raster::DrivableMap;
use crate::sim::network::route::Route;
use crate::sim::traffic::soak::{Soak, cars_at_density, soak, town_lane_km};
use crate::sim::{Expert, ExpertConfig, Scenario, Simulation};
use crate::world::raw::{Layout, RawWorld};
use crate::world::{Env, EnvOptions, FrameTiming};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Drives `env` for `ticks` with the expert's labels, keeping each tick's render timing;
/// returns the seconds taken.
pub fn drive_ticks(env: &mut Env, ticks: u32, timings: &mut Vec<FrameTiming>) -> Result<f64> {
    let seed = env.scenario().seed;
    let mut obs = env.reset(seed)?;
    let started = Instant::now();
    for _ in 0..ticks {
        // The expert's label arrives with every observation.
        let actions: Vec<_> = obs.iter().map(|o| o.info.expert_action).collect();
        obs = env.step_all(&actions)?;
        if let Some(t) = env.last_frame_timing() {
            timings.push(t);
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Microseconds per headless tick of a town with `cars` traffic cars and one ego car driven by
/// the expert (an error when the town has no room for them).
pub fn traffic_step_us(
    scenario: &Scenario,
    world: &Arc<BuiltWorld>,
    cars: u32,
    ticks: u32,
) -> Result<f64> {
    let mut s = scenario.clone();
    s.traffic.cars = cars;
    let mut sim = Simulation::in_world(s.clone(), world.clone(), 1)?;
    let mut expert = Expert::new(ExpertConfig::default(), 1);
    let started = Instant::now();
    for _ in 0..ticks {
        let state = sim.states()[0].clone();
        let a = expert.act(&sim.track, &state, s.vehicle.speed_m_s).applied;
        sim.step(&[a])?;
    }
    Ok(1e6 * started.elapsed().as_secs_f64() / ticks.max(1) as f64)
}

/// The drivable-area raster of a network: its build and its ego-centred patches.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct MapPatchTimes {
    /// Cells of 0.25 m, and the time to build them.
    pub width: usize,
    pub height: usize,
    pub build_ms: f64,
    /// Patches of 64×64 over ±40 m cut, and the time per patch.
    pub patches: usize,
    pub patch_us: f64,
    /// Share of patch centres on paved ground, percent.
    pub paved_pct: f64,
}

/// Times the drivable-area raster of `network` and 64×64 patches over ±40 m taken at places
/// along `route`.
pub fn map_patch_times(network: &Network, route: &Route) -> MapPatchTimes {
    let started = Instant::now();
    let map = DrivableMap::new(network, 0.25);
    let build_ms = 1e3 * started.elapsed().as_secs_f64();
    let poses: Vec<_> = route
        .lanes
        .iter()
        .map(|&l| {
            let path = &network.lanes[l].path;
            path.at(path.length_m() / 2.0)
        })
        .collect();
    let mut patch = vec![0.0f32; 64 * 64];
    let patches = 20_000;
    let started = Instant::now();
    let mut paved = 0.0;
    for k in 0..patches {
        let (p, heading) = poses[k % poses.len()];
        map.patch(p, heading + k as f64 * 1e-3, 40.0, 64, &mut patch);
        paved += patch[2080];
    }
    let (width, height) = map.size();
    MapPatchTimes {
        width,
        height,
        build_ms,
        patches,
        patch_us: 1e6 * started.elapsed().as_secs_f64() / patches as f64,
        paved_pct: 100.0 * paved as f64 / patches as f64,
    }
}

/// Camera frames per second of the world drawn through wgpu alone, the expert driving.
pub fn wgpu_frames_per_s(
    scenario: &Scenario,
    world: &Arc<BuiltWorld>,
    agents: usize,
    layout: Layout,
    ticks: u32,
) -> Result<f64> {
    let mut sim = Simulation::in_world(scenario.clone(), world.clone(), agents)?;
    let expert = Expert::new(ExpertConfig::default(), scenario.seed);
    let mut world = RawWorld::new(&sim, layout)?;
    let cruise = scenario.vehicle.speed_m_s;
    let mut started = Instant::now();
    for tick in 0..ticks + 20 {
        if tick == 20 {
            started = Instant::now();
        }
        let actions: Vec<_> = sim
            .states()
            .iter()
            .map(|s| expert.label(&sim.track, s, cruise))
            .collect();
        sim.step(&actions)?;
        world.render(&sim)?;
    }
    Ok((agents as u64 * ticks as u64) as f64 / started.elapsed().as_secs_f64())
}

/// What recording costs: the bare drive, the recorded one, the file, and reading it back.
#[derive(Clone, Copy, Debug)]
pub struct RecordTimes {
    pub bare_fps: f64,
    pub record_fps: f64,
    pub frames: u64,
    pub bytes: u64,
    /// Ticks read with their PNG frames decoded, and the seconds taken.
    pub decoded: usize,
    pub read_decode_s: f64,
    /// Ticks read with the frames left encoded, and the seconds taken.
    pub raw: usize,
    pub read_raw_s: f64,
}

/// Drives the oval for `ticks` with the bare `Env`, then records the same drive into
/// `out/bench_record.mcap`, then reads it.
pub fn record_times(ticks: u32, out: &Path) -> Result<RecordTimes> {
    let mut scenario = crate::sim::scenario::builtin()?.remove(0);
    scenario.episode_steps = ticks;
    crate::files::create_dir_all(out)?;
    let mut env = Env::new(scenario.clone(), EnvOptions::default())?;
    drive_ticks(&mut env, 20, &mut Vec::new())?;
    let bare_s = drive_ticks(&mut env, ticks, &mut Vec::new())?;
    let path = out.join("bench_record.mcap");
    let started = Instant::now();
    let frames = crate::drive::collect::record_episode(
        &mut env,
        &path,
        scenario.seed,
        0,
        crate::sim::DartNoise::NONE,
        &mut || {},
    )?
    .frames;
    let record_s = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&path)
        .map_err(|error| crate::error::Error::Io {
            context: format!("reading {}", path.display()),
            error,
        })?
        .len();
    let episode = crate::record::EpisodeReader::open(&path)?;
    let started = Instant::now();
    let decoded = episode.steps(true)?.filter(|s| s.frame.is_some()).count();
    let read_decode_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let raw = episode.steps(false)?.count();
    let read_raw_s = started.elapsed().as_secs_f64();
    Ok(RecordTimes {
        bare_fps: ticks as f64 / bare_s,
        record_fps: frames as f64 / record_s,
        frames,
        bytes,
        decoded,
        read_decode_s,
        raw,
        read_raw_s,
    })
}

/// One car count's rendered drive through Bevy, and the same cars through wgpu alone.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RenderedRow {
    pub cars: usize,
    pub ticks_per_s: f64,
    pub frames_per_s: f64,
    pub tick_ms: f64,
    /// One Bevy update, the render graph in it, and the wait for the GPU and the copy, ms.
    pub update_ms: f64,
    pub graph_ms: f64,
    pub wait_ms: f64,
    /// Camera frames per second through wgpu alone: a pass per camera, and one atlas pass.
    pub wgpu_per_pass_fps: f64,
    pub wgpu_atlas_fps: f64,
}

/// `bench sim`'s figures, with the machine they were measured on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SimBench {
    pub machine: Machine,
    pub scenario: String,
    pub width: u32,
    pub height: u32,
    /// Measured ticks per rendered row (after 20 untimed ones).
    pub ticks: u32,
    pub rendered: Vec<RenderedRow>,
    /// Cars, and headless ticks per second.
    pub headless: Vec<(usize, f64)>,
    /// In a town: traffic cars, and µs per headless tick (`None`: the town had no room).
    pub traffic: Vec<(u32, Option<f64>)>,
    pub map: Option<MapPatchTimes>,
}

/// Measures `scenario` (its camera as given) with `agents` cars per row for `ticks` ticks;
/// `labels` renders every label camera too. `progress` hears of each stage.
pub fn sim_bench(
    scenario: &Scenario,
    agents: &[usize],
    ticks: u32,
    labels: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<SimBench> {
    let machine = Machine::here();
    let mut scenario = scenario.clone();
    scenario.episode_steps = u32::MAX;
    // One build of the world for every row.
    let world = BuiltWorld::validated(&scenario)?;
    let mut rendered = Vec::new();
    for &cars in agents {
        progress(&format!("{cars} cars, rendered"));
        let options = EnvOptions {
            agents: cars,
            render: true,
            labels,
            map: None,
        };
        let mut env = Env::in_world(scenario.clone(), world.clone(), options)
            .map_err(|e| e.context(format!("building a world with {cars} cars")))?;
        drive_ticks(&mut env, 20, &mut Vec::new())?;
        let mut timings = Vec::new();
        let elapsed = drive_ticks(&mut env, ticks, &mut timings)?;
        let mean = |f: fn(&FrameTiming) -> f64| {
            1e3 * timings.iter().map(f).sum::<f64>() / timings.len().max(1) as f64
        };
        drop(env);
        progress(&format!("{cars} cars, wgpu alone"));
        rendered.push(RenderedRow {
            cars,
            ticks_per_s: ticks as f64 / elapsed,
            frames_per_s: (cars as u64 * ticks as u64) as f64 / elapsed,
            tick_ms: 1e3 * elapsed / ticks as f64,
            update_ms: mean(|t| t.update_s),
            graph_ms: mean(|t| t.graph_s),
            wait_ms: mean(|t| t.gpu_wait_s),
            wgpu_per_pass_fps: wgpu_frames_per_s(
                &scenario,
                &world,
                cars,
                Layout::PassPerCamera,
                ticks,
            )?,
            wgpu_atlas_fps: wgpu_frames_per_s(&scenario, &world, cars, Layout::Atlas, ticks)?,
        });
    }
    let mut headless = Vec::new();
    for &cars in agents {
        progress(&format!("{cars} cars, headless"));
        let options = EnvOptions {
            agents: cars,
            render: false,
            ..EnvOptions::default()
        };
        let mut env = Env::in_world(scenario.clone(), world.clone(), options)?;
        let n = ticks.max(2000);
        headless.push((cars, n as f64 / drive_ticks(&mut env, n, &mut Vec::new())?));
    }
    let (mut traffic, mut map) = (Vec::new(), None);
    if let Some((network, route)) = &world.town {
        progress("traffic and map patches");
        for cars in [0u32, 12, 50, 200] {
            let us = traffic_step_us(&scenario, &world, cars, ticks.max(1000));
            traffic.push((cars, us.ok()));
        }
        map = Some(map_patch_times(network, &route.route));
    }
    Ok(SimBench {
        machine: machine.ended(),
        scenario: scenario.name.clone(),
        width: scenario.camera.width_px,
        height: scenario.camera.height_px,
        ticks,
        rendered,
        headless,
        traffic,
        map,
    })
}

impl SimBench {
    /// The tables `bench sim` prints and the guide shows.
    pub fn markdown(&self) -> String {
        let mut r = format!(
            "{}: scenario {} at {}×{}, {} measured ticks per row.\n\n",
            self.machine.measured_on(),
            self.scenario,
            self.width,
            self.height,
            self.ticks
        );
        let rows = self.rendered.iter().map(|row| {
            vec![
                row.cars.to_string(),
                format!("{:.1}", row.ticks_per_s),
                format!("{:.1}", row.frames_per_s),
                format!("{:.2}", row.tick_ms),
                format!("{:.2}", row.update_ms),
                format!("{:.2}", row.graph_ms),
                format!("{:.2}", row.wait_ms),
                format!("{:.2}", row.update_ms - row.graph_ms - row.wait_ms),
            ]
        });
        r.push_str(&markdown_table(
            &[
                "cars",
                "ticks/s",
                "camera frames/s",
                "ms per tick",
                "update ms",
                "render graph ms",
                "GPU wait + copy ms",
                "other ms",
            ],
            rows,
        ));
        r.push_str(
            "\nThe same meshes and shading through wgpu alone (no Bevy), the same cars driving; \
             steerlab's camera frames/s as a share of each:\n\n| cars | wgpu, pass per camera: \
             frames/s | wgpu, one atlas pass: frames/s | steerlab share of pass per camera | of \
             atlas |\n|---|---|---|---|---|\n",
        );
        for row in &self.rendered {
            r.push_str(&format!(
                "| {} | {:.1} | {:.1} | {:.2} | {:.2} |\n",
                row.cars,
                row.wgpu_per_pass_fps,
                row.wgpu_atlas_fps,
                row.frames_per_s / row.wgpu_per_pass_fps,
                row.frames_per_s / row.wgpu_atlas_fps
            ));
        }
        r.push_str("\n| cars | ticks/s without rendering | µs per tick | µs per car-step |\n|---|---|---|---|\n");
        for &(cars, tps) in &self.headless {
            r.push_str(&format!(
                "| {cars} | {tps:.0} | {:.1} | {:.2} |\n",
                1e6 / tps,
                1e6 / (tps * cars.max(1) as f64)
            ));
        }
        if !self.traffic.is_empty() {
            r.push_str(
                "\n| traffic cars | µs per tick without rendering (ego + traffic) |\n|---|---|\n",
            );
            for &(cars, us) in &self.traffic {
                match us {
                    Some(us) => r.push_str(&format!("| {cars} | {us:.1} |\n")),
                    None => r.push_str(&format!("| {cars} | no room in the town |\n")),
                }
            }
        }
        if let Some(m) = &self.map {
            r.push_str(&format!(
                "\nDrivable map: {}×{} cells of 0.25 m built in {:.1} ms; a 64×64 patch over ±40 m \
                 in {:.1} µs ({:.0} % of {} centres paved).\n",
                m.width, m.height, m.build_ms, m.patch_us, m.paved_pct, m.patches
            ));
        }
        r.push_str(
            "\nUpdate: one Bevy `App::update` (main schedule, extraction, render schedule, \
             readback); render graph: recording and submitting the passes; GPU wait: lavapipe \
             rasterising plus the copy; other: main-world schedule, extraction and preparation; \
             ms per tick adds the simulation and the expert.\n",
        );
        r
    }
}

/// One town of `bench traffic`: its soaks summed over the seeds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrafficSoakRow {
    pub town: String,
    pub lane_km: f64,
    pub cars: usize,
    /// The longest standstill of any car over the seeds, and its seed.
    pub longest: Option<(u64, String)>,
    /// Cars that stood longer than the limit, over every seed.
    pub cars_stuck: usize,
    /// Distance per simulated minute of the slowest car of any seed, metres.
    pub slowest_m_per_min: f64,
    pub ego_crashes: u32,
    pub traffic_overlaps: u64,
    /// Simulated seconds per wall-clock second.
    pub sim_per_wall: f64,
}

/// `bench traffic`'s figures, with the machine they were measured on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrafficBench {
    pub machine: Machine,
    /// Traffic cars per km of lane, seeds per town, simulated minutes per seed and the
    /// standstill that counts as stuck, seconds.
    pub cars_per_lane_km: f64,
    pub seeds: u64,
    pub minutes: f64,
    pub limit_s: f64,
    pub towns: Vec<TrafficSoakRow>,
}

/// Soaks each of `towns` at `cars_per_lane_km` for `seeds` seeds of `minutes` simulated
/// minutes (the ego car driven by the expert); `soaked(town, soaks)` hears of each town's.
pub fn traffic_bench(
    towns: &[Scenario],
    cars_per_lane_km: f64,
    seeds: u64,
    minutes: f64,
    limit_s: f64,
    soaked: &mut dyn FnMut(&TrafficSoakRow, &[Soak]),
) -> Result<TrafficBench> {
    let machine = Machine::here();
    let mut rows = Vec::new();
    for town in towns {
        let mut town = town.clone();
        let world = BuiltWorld::validated(&town)?;
        town.traffic.cars = cars_at_density(town_lane_km(&town, &world)?, cars_per_lane_km)?;
        let started = Instant::now();
        let soaks = (0..seeds)
            .map(|seed| soak(&town, &world, seed, minutes * 60.0, limit_s))
            .collect::<Result<Vec<_>>>()
            .map_err(|e| e.context(format!("soaking {}", town.name)))?;
        let wall = started.elapsed().as_secs_f64();
        let longest = soaks
            .iter()
            .filter_map(|s| s.longest.as_ref().map(|l| (s.seed, l)))
            .max_by(|a, b| a.1.seconds.total_cmp(&b.1.seconds));
        let row = TrafficSoakRow {
            town: town.name.clone(),
            lane_km: soaks.first().map_or(0.0, |s| s.lane_km),
            cars: soaks.first().map_or(0, |s| s.cars),
            longest: longest.map(|(seed, l)| (seed, l.to_string())),
            cars_stuck: soaks.iter().map(|s| s.cars_over_limit).sum(),
            slowest_m_per_min: (soaks.iter().map(|s| s.slowest_m_per_min))
                .fold(f64::INFINITY, f64::min),
            ego_crashes: soaks.iter().map(|s| s.ego_crashes).sum(),
            traffic_overlaps: soaks.iter().map(|s| s.traffic_overlaps).sum(),
            sim_per_wall: soaks.iter().map(|s| s.seconds).sum::<f64>() / wall.max(1e-9),
        };
        soaked(&row, &soaks);
        rows.push(row);
    }
    Ok(TrafficBench {
        machine: machine.ended(),
        cars_per_lane_km,
        seeds,
        minutes,
        limit_s,
        towns: rows,
    })
}

impl TrafficBench {
    /// Cars that stood longer than the limit, in every town.
    pub fn cars_stuck(&self) -> usize {
        self.towns.iter().map(|t| t.cars_stuck).sum()
    }

    /// The table `bench traffic` prints and the guide shows.
    pub fn markdown(&self) -> String {
        let mut r = format!(
            "{}: {} seeds × {} simulated minutes per town at {} cars per lane-km, the ego car \
             driven by the expert; stuck: standing longer than {} s.\n\n",
            self.machine.measured_on(),
            self.seeds,
            self.minutes,
            self.cars_per_lane_km,
            self.limit_s
        );
        let rows = self.towns.iter().map(|t| {
            vec![
                t.town.clone(),
                format!("{:.2}", t.lane_km),
                t.cars.to_string(),
                (t.longest.as_ref())
                    .map_or("none".into(), |(seed, l)| format!("{l} (seed {seed})")),
                t.cars_stuck.to_string(),
                format!("{:.0}", t.slowest_m_per_min),
                t.ego_crashes.to_string(),
                t.traffic_overlaps.to_string(),
                format!("{:.0}", t.sim_per_wall),
            ]
        });
        r.push_str(&markdown_table(
            &[
                "town",
                "lane km",
                "cars",
                "longest standstill",
                "cars stuck",
                "slowest car m/min",
                "ego crashes",
                "traffic overlaps",
                "sim s per wall s",
            ],
            rows,
        ));
        r
    }
}

/// One row of `python/bench_step.py`: camera frames per second with `cars` cars stepped from
/// Python (`bench sim`'s row of the same cars is the Rust side).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PythonStepRow {
    pub cars: usize,
    pub python_fps: f64,
}

/// `python/bench_step.py --json`'s figures: Python's rows and the `bench sim` run beside them
/// (with the machine).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PythonStepBench {
    pub python_step: Vec<PythonStepRow>,
    pub sim: SimBench,
}

impl PythonStepBench {
    /// The table the guide shows.
    pub fn markdown(&self) -> String {
        let mut r = format!(
            "{}: scenario {} at {}×{}, {} measured ticks per row, the expert's actions.\n\n",
            self.sim.machine.measured_on(),
            self.sim.scenario,
            self.sim.width,
            self.sim.height,
            self.sim.ticks
        );
        let rows = self.python_step.iter().map(|row| {
            let rust = (self.sim.rendered.iter())
                .find(|r| r.cars == row.cars)
                .map_or(f64::NAN, |r| r.frames_per_s);
            vec![
                row.cars.to_string(),
                format!("{:.0}", row.python_fps),
                format!("{rust:.0}"),
                format!("{:.2}", row.python_fps / rust),
            ]
        });
        r.push_str(&markdown_table(
            &[
                "cars in one world",
                "Python frames/s",
                "Rust `bench sim` frames/s",
                "Python / Rust",
            ],
            rows,
        ));
        r
    }
}
