//! `steerlab bench traffic`: towns soaked in dense traffic over many seeds; whether any car
//! stands for longer than the limit (a locked junction) and whether cars collide.

use crate::drive::bench::traffic_bench;
use crate::sim::Scenario;
use crate::sim::traffic::soak::Soak;
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct TrafficBenchArgs {
    /// Towns to soak (default: every shipped town, training and held-out).
    #[arg(long = "scenario")]
    pub scenarios: Vec<PathBuf>,
    /// Traffic cars per km of road lane.
    #[arg(long, default_value_t = 20.0)]
    pub density: f64,
    /// Episode seeds per town (0, 1, …).
    #[arg(long, default_value_t = 100)]
    pub seeds: u64,
    /// Simulated minutes per seed.
    #[arg(long, default_value_t = 10.0)]
    pub minutes: f64,
    /// A car standing longer than this is stuck, seconds.
    #[arg(long, default_value_t = 60.0)]
    pub limit_s: f64,
    /// Write every soak's figures here as JSON.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the table's figures, with this machine, as JSON (what the guide shows).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

pub fn run(args: &TrafficBenchArgs) -> Result<ExitCode> {
    let towns: Vec<Scenario> = if args.scenarios.is_empty() {
        (crate::sim::shipped::TOWNS.iter())
            .chain(&crate::sim::shipped::HELDOUT_TOWNS)
            .map(|(file, text)| Scenario::parse(text, file))
            .collect::<crate::error::Result<_>>()?
    } else {
        (args.scenarios.iter())
            .map(|p| Scenario::load(p))
            .collect::<crate::error::Result<_>>()?
    };
    println!(
        "{} seeds × {} simulated minutes per town at {} cars per lane-km; stuck: standing > {} s",
        args.seeds, args.minutes, args.density, args.limit_s
    );
    let mut all: Vec<Soak> = Vec::new();
    let figures = traffic_bench(
        &towns,
        args.density,
        args.seeds,
        args.minutes,
        args.limit_s,
        &mut |row, soaks| {
            println!(
                "{}: {} cars, {} stuck, longest standstill {}",
                row.town,
                row.cars,
                row.cars_stuck,
                row.longest.as_ref().map_or("none", |(_, l)| l.as_str())
            );
            all.extend_from_slice(soaks);
        },
    )?;
    println!("\n{}", figures.markdown());
    if let Some(out) = &args.out {
        crate::files::write_json(out, &all)?;
        println!("wrote {}", out.display());
    }
    if let Some(path) = &args.json {
        crate::files::write_json(path, &figures)?;
        println!("wrote {}", path.display());
    }
    Ok(if figures.cars_stuck() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
