//! `steerlab bench sim` and `bench record`: the figures of [`crate::drive::bench`] as tables.

use crate::drive::bench::{
    RecordTimes, drive_ticks, map_patch_times, record_times, traffic_step_us, wgpu_frames_per_s,
};
use crate::sim::Scenario;
use crate::world::raw::Layout;
use crate::world::{Env, EnvOptions, FrameTiming};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

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
        drive_ticks(&mut env, 20, &mut Vec::new())?;
        let mut timings = Vec::new();
        let elapsed = drive_ticks(&mut env, args.ticks, &mut timings)?;
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
        let per_pass = wgpu_frames_per_s(&scenario, agents, Layout::PassPerCamera, args.ticks)?;
        let atlas = wgpu_frames_per_s(&scenario, agents, Layout::Atlas, args.ticks)?;
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
        let elapsed = drive_ticks(&mut env, ticks, &mut Vec::new())?;
        println!(
            "| {agents} | {:.0} | {:.1} | {:.2} |",
            ticks as f64 / elapsed,
            1e6 * elapsed / ticks as f64,
            1e6 * elapsed / (ticks as f64 * agents as f64)
        );
    }
    if let Some((network, route)) = scenario.build_network()? {
        let ticks = args.ticks.max(1000);
        println!();
        println!("| traffic cars | µs per tick without rendering (ego + traffic) |");
        println!("|---|---|");
        for cars in [0u32, 12, 50, 200] {
            match traffic_step_us(&scenario, cars, ticks) {
                Ok(us) => println!("| {cars} | {us:.1} |"),
                Err(e) => println!("| {cars} | not placed: {e} |"),
            }
        }
        let m = map_patch_times(&network, &route);
        println!();
        println!(
            "drivable map: {}×{} cells of 0.25 m built in {:.1} ms; a 64×64 patch over ±40 m in {:.1} µs ({:.0} % of {} centres paved)",
            m.width, m.height, m.build_ms, m.patch_us, m.paved_pct, m.patches
        );
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

#[derive(clap::Args, Debug)]
pub struct RecordBenchArgs {
    /// Ticks recorded (and driven without recording for comparison).
    #[arg(long, default_value_t = 10_000)]
    pub ticks: u32,
    /// Folder for the episode file.
    #[arg(long, default_value = "runs/bench")]
    pub out: PathBuf,
}

/// Drives the oval with the bare `Env`, then records the same drive, then reads it.
pub fn record(args: &RecordBenchArgs) -> Result<ExitCode> {
    let RecordTimes {
        bare_fps,
        record_fps,
        frames,
        bytes,
        decoded,
        read_decode_s,
        raw,
        read_raw_s,
    } = record_times(args.ticks, &args.out)?;
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
