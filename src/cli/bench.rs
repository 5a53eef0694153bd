//! `steerlab bench sim` and `bench record`: the figures of [`crate::drive::bench`] as tables.

use crate::drive::bench::{record_times, sim_bench};
use crate::sim::Scenario;
use anyhow::Result;
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
    /// Also write the figures, with the machine, as JSON (a figures file the guide renders).
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub fn sim(args: &SimBenchArgs) -> Result<ExitCode> {
    let mut scenario = match &args.scenario {
        Some(path) => Scenario::load(path)?,
        None => crate::sim::scenario::builtin()?.remove(0),
    };
    scenario.camera.width_px = args.width;
    scenario.camera.height_px = args.height;
    let figures = sim_bench(
        &scenario,
        &args.agents,
        args.ticks,
        args.labels,
        &mut |stage| eprintln!("bench sim: {stage}"),
    )?;
    println!("{}", figures.markdown());
    if let Some(path) = &args.json {
        crate::files::write_json(path, &figures)?;
        println!("wrote {}", path.display());
    }
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
    let t = record_times(args.ticks, &args.out)?;
    let per_10k = |s: f64, n: usize| s * 10_000.0 / n.max(1) as f64;
    println!("| measure | value |");
    println!("|---|---|");
    println!("| bare Env, expert driving | {:.1} frames/s |", t.bare_fps);
    println!(
        "| recording (PNG + MCAP on the writer thread) | {:.1} frames/s |",
        t.record_fps
    );
    println!(
        "| recording cost | {:.1} % |",
        100.0 * (1.0 - t.record_fps / t.bare_fps)
    );
    println!(
        "| file | {} frames, {:.1} MB, {:.0} bytes per frame |",
        t.frames,
        t.bytes as f64 / 1e6,
        t.bytes as f64 / t.frames as f64
    );
    println!(
        "| read {} ticks, PNG frames decoded | {:.2} s ({:.2} s per 10,000 frames) |",
        t.decoded,
        t.read_decode_s,
        per_10k(t.read_decode_s, t.decoded)
    );
    println!(
        "| read {} ticks, frames left encoded | {:.2} s ({:.2} s per 10,000 frames) |",
        t.raw,
        t.read_raw_s,
        per_10k(t.read_raw_s, t.raw)
    );
    Ok(ExitCode::SUCCESS)
}
