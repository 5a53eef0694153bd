//! `steerlab bench sim`: camera frames per second with 1, 4 and 16 cars in one world, where
//! each rendered tick spends its time, and the simulation step without rendering.

use crate::sim::ExpertConfig;
use crate::sim::Scenario;
use crate::sim::expert::Expert;
use crate::sim::simulation::Simulation;
use crate::world::raw::{Layout, RawWorld};
use crate::world::{Env, EnvOptions, FrameTiming};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct SimBenchArgs {
    /// Scenario to drive (default: the built-in oval).
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Measured ticks per configuration (after 20 untimed ones).
    #[arg(long, default_value_t = 300)]
    pub ticks: u32,
    /// Car counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    pub agents: Vec<usize>,
    /// Camera size.
    #[arg(long, default_value_t = 200)]
    pub width: u32,
    #[arg(long, default_value_t = 66)]
    pub height: u32,
    /// Also render every camera's label frame (class and instance ids).
    #[arg(long)]
    pub labels: bool,
}

fn drive(env: &mut Env, ticks: u32, timings: &mut Vec<FrameTiming>) -> Result<f64> {
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

pub fn sim(args: &SimBenchArgs) -> Result<ExitCode> {
    let mut scenario = match &args.scenario {
        Some(path) => Scenario::load(path)?,
        None => crate::sim::scenario::builtin()?.remove(0),
    };
    scenario.camera.width_px = args.width;
    scenario.camera.height_px = args.height;
    scenario.episode_steps = u32::MAX;
    println!(
        "scenario {} at {}x{}, {} measured ticks per row",
        scenario.name, args.width, args.height, args.ticks
    );
    println!(
        "| cars | ticks/s | camera frames/s | ms per tick | update ms | render graph ms | GPU wait + copy ms | other ms |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut bevy_fps = Vec::new();
    for &agents in &args.agents {
        let mut env = Env::new(
            scenario.clone(),
            EnvOptions {
                agents,
                render: true,
                labels: args.labels,
                map: None,
            },
        )
        .with_context(|| format!("building a world with {agents} cars"))?;
        drive(&mut env, 20, &mut Vec::new())?;
        let mut timings = Vec::new();
        let elapsed = drive(&mut env, args.ticks, &mut timings)?;
        let mean = |f: fn(&FrameTiming) -> f64| {
            1e3 * timings.iter().map(f).sum::<f64>() / timings.len().max(1) as f64
        };
        let (update, graph, wait) = (
            mean(|t| t.update_s),
            mean(|t| t.graph_s),
            mean(|t| t.gpu_wait_s),
        );
        let tick_ms = 1e3 * elapsed / args.ticks as f64;
        bevy_fps.push((agents as u64 * args.ticks as u64) as f64 / elapsed);
        println!(
            "| {agents} | {:.1} | {:.1} | {tick_ms:.2} | {update:.2} | {graph:.2} | {wait:.2} | {:.2} |",
            args.ticks as f64 / elapsed,
            (agents as u64 * args.ticks as u64) as f64 / elapsed,
            update - graph - wait,
        );
    }
    println!();
    println!(
        "The same meshes and shading through wgpu alone (no Bevy), the same cars driving; \
         steerlab's camera frames/s as a share of each:"
    );
    println!(
        "| cars | wgpu, pass per camera: frames/s | wgpu, one atlas pass: frames/s | steerlab share of pass per camera | of atlas |"
    );
    println!("|---|---|---|---|---|");
    for (&agents, bevy) in args.agents.iter().zip(&bevy_fps) {
        let per_pass = raw(&scenario, agents, Layout::PassPerCamera, args.ticks)?;
        let atlas = raw(&scenario, agents, Layout::Atlas, args.ticks)?;
        println!(
            "| {agents} | {per_pass:.1} | {atlas:.1} | {:.2} | {:.2} |",
            bevy / per_pass,
            bevy / atlas
        );
    }
    println!();
    println!("| cars | ticks/s without rendering | µs per tick | µs per car-step |");
    println!("|---|---|---|---|");
    for &agents in &args.agents {
        let mut env = Env::new(
            scenario.clone(),
            EnvOptions {
                agents,
                render: false,
                ..EnvOptions::default()
            },
        )?;
        let ticks = args.ticks.max(2000);
        let elapsed = drive(&mut env, ticks, &mut Vec::new())?;
        println!(
            "| {agents} | {:.0} | {:.1} | {:.2} |",
            ticks as f64 / elapsed,
            1e6 * elapsed / ticks as f64,
            1e6 * elapsed / (ticks as f64 * agents as f64)
        );
    }
    if let Some((network, route)) = scenario.build_network()? {
        traffic_steps(&scenario, args.ticks.max(1000))?;
        map_patches(&network, &route);
    }
    println!();
    println!(
        "update = one Bevy App::update (main schedule, extraction, render schedule, readback);"
    );
    println!(
        "render graph = recording and submitting the passes; GPU wait = lavapipe rasterising plus the copy;"
    );
    println!(
        "other = main-world schedule, extraction and preparation; ms per tick adds the simulation and the expert."
    );
    Ok(ExitCode::SUCCESS)
}

/// The headless step of a town (one ego car driven by the expert) with 0, 12, 50 and 200
/// traffic cars.
fn traffic_steps(scenario: &Scenario, ticks: u32) -> Result<()> {
    println!();
    println!("| traffic cars | µs per tick without rendering (ego + traffic) |");
    println!("|---|---|");
    for cars in [0u32, 12, 50, 200] {
        let mut s = scenario.clone();
        s.traffic.cars = cars;
        let mut sim = match Simulation::new(s.clone(), 1) {
            Ok(sim) => sim,
            Err(e) => {
                println!("| {cars} | not placed: {e} |");
                continue;
            }
        };
        let mut expert = Expert::new(ExpertConfig::default(), 0.0, 1);
        let started = Instant::now();
        for _ in 0..ticks {
            let state = sim.states()[0].clone();
            let a = expert.act(&sim.track, &state, s.vehicle.speed_m_s).applied;
            sim.step(&[a])?;
        }
        println!(
            "| {cars} | {:.1} |",
            1e6 * started.elapsed().as_secs_f64() / ticks as f64
        );
    }
    Ok(())
}

/// The drivable-area raster of a network: time to build it, and per ego-centred 64×64
/// patch over ±40 m taken at places along the route.
fn map_patches(network: &crate::sim::network::Network, route: &crate::sim::network::route::Route) {
    use crate::sim::network::raster::DrivableMap;
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
    let us = 1e6 * started.elapsed().as_secs_f64() / patches as f64;
    let (w, h) = map.size();
    println!();
    println!(
        "drivable map: {w}×{h} cells of 0.25 m built in {build_ms:.1} ms; a 64×64 patch over ±40 m in {us:.1} µs ({:.0} % of {patches} centres paved)",
        100.0 * paved / patches as f32
    );
}

/// Camera frames per second of the world drawn through wgpu alone, the expert driving.
fn raw(scenario: &Scenario, agents: usize, layout: Layout, ticks: u32) -> Result<f64> {
    let mut sim = Simulation::new(scenario.clone(), agents)?;
    let expert = Expert::new(ExpertConfig::default(), 0.0, scenario.seed);
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

#[derive(clap::Args, Debug)]
pub struct RecordBenchArgs {
    /// Ticks recorded (and driven without recording for comparison).
    #[arg(long, default_value_t = 10_000)]
    pub ticks: u32,
    /// Folder for the episode file.
    #[arg(long, default_value = "runs/bench")]
    pub out: PathBuf,
}

/// Drives the oval for `ticks` with the bare `Env`, then records the same drive, then reads it.
pub fn record(args: &RecordBenchArgs) -> Result<ExitCode> {
    let mut scenario = crate::sim::scenario::builtin()?.remove(0);
    scenario.episode_steps = args.ticks;
    std::fs::create_dir_all(&args.out)?;
    let mut env = Env::new(scenario.clone(), EnvOptions::default())?;
    drive(&mut env, 20, &mut Vec::new())?;
    let bare_s = drive(&mut env, args.ticks, &mut Vec::new())?;
    let bare_fps = args.ticks as f64 / bare_s;

    let path = args.out.join("bench_record.mcap");
    let started = Instant::now();
    let frames = crate::drive::collect::record_episode(
        &mut env,
        &path,
        scenario.seed,
        0,
        (0.0, 0.0, 0.0),
        &mut || {},
    )?
    .frames;
    let record_s = started.elapsed().as_secs_f64();
    let record_fps = frames as f64 / record_s;
    let bytes = std::fs::metadata(&path)?.len();

    let episode = crate::record::EpisodeReader::open(&path)?;
    let started = Instant::now();
    let decoded = episode.steps(true)?.filter(|s| s.frame.is_some()).count();
    let read_decode_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let raw = episode.steps(false)?.count();
    let read_raw_s = started.elapsed().as_secs_f64();
    let per_10k = |s: f64, n: usize| s * 10_000.0 / n.max(1) as f64;
    println!("| measure | value |");
    println!("|---|---|");
    println!("| bare Env, expert driving | {bare_fps:.1} frames/s |");
    println!("| recording (PNG + MCAP on the writer thread) | {record_fps:.1} frames/s |");
    println!(
        "| recording cost | {:.1} % |",
        100.0 * (1.0 - record_fps / bare_fps)
    );
    println!(
        "| file | {} frames, {:.1} MB, {:.0} bytes per frame |",
        frames,
        bytes as f64 / 1e6,
        bytes as f64 / frames as f64
    );
    println!(
        "| read {decoded} ticks, PNG frames decoded | {read_decode_s:.2} s ({:.2} s per 10,000 frames) |",
        per_10k(read_decode_s, decoded)
    );
    println!(
        "| read {raw} ticks, frames left encoded | {read_raw_s:.2} s ({:.2} s per 10,000 frames) |",
        per_10k(read_raw_s, raw)
    );
    Ok(ExitCode::SUCCESS)
}
