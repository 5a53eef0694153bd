//! `steerlab bench traffic`: towns soaked in dense traffic over many seeds; whether any car
//! stands for longer than the limit (a locked junction) and whether cars collide.

use crate::sim::Scenario;
use crate::sim::traffic::soak::{Soak, cars_at_density, soak, town_lane_km};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

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
    println!(
        "| town | lane km | cars | longest standstill | cars stuck | slowest car m/min | ego crashes | traffic overlaps | sim s per wall s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut all: Vec<Soak> = Vec::new();
    let mut stuck = 0;
    for town in &towns {
        let mut town = town.clone();
        town.traffic.cars = cars_at_density(town_lane_km(&town)?, args.density)?;
        let started = Instant::now();
        let soaks = (0..args.seeds)
            .map(|seed| soak(&town, seed, args.minutes * 60.0, args.limit_s))
            .collect::<crate::error::Result<Vec<_>>>()
            .with_context(|| format!("soaking {}", town.name))?;
        let wall = started.elapsed().as_secs_f64();
        let worst = soaks
            .iter()
            .filter_map(|s| s.longest.as_ref().map(|l| (s.seed, l)))
            .max_by(|a, b| a.1.seconds.total_cmp(&b.1.seconds));
        let over: usize = soaks.iter().map(|s| s.cars_over_limit).sum();
        stuck += over;
        println!(
            "| {} | {:.2} | {} | {} | {} | {:.0} | {} | {} | {:.0} |",
            town.name,
            soaks.first().map_or(0.0, |s| s.lane_km),
            soaks.first().map_or(0, |s| s.cars),
            worst.map_or("none".into(), |(seed, l)| format!("{l} (seed {seed})")),
            over,
            soaks
                .iter()
                .map(|s| s.slowest_m_per_min)
                .fold(f64::INFINITY, f64::min),
            soaks.iter().map(|s| s.ego_crashes).sum::<u32>(),
            soaks.iter().map(|s| s.traffic_overlaps).sum::<u64>(),
            soaks.iter().map(|s| s.seconds).sum::<f64>() / wall.max(1e-9),
        );
        all.extend(soaks);
    }
    if let Some(out) = &args.out {
        let json = serde_json::to_vec_pretty(&all)?;
        crate::files::write_atomic(out, &json)?;
        println!("wrote {}", out.display());
    }
    Ok(if stuck == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
