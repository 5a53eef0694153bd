//! `steerlab bench train`: inference latency and training throughput of the steering networks,
//! where the time goes layer by layer, and the same figures from the PyTorch twin
//! (bench/pytorch/steering_bench.py) when a Python with PyTorch is given.

use crate::nn::ModelConfig;
use crate::nn::bench::{layer_profile, measure, measure_stock, pytorch};
use crate::nn::models::steering::config::PRESETS;
use crate::nn::ops;
use anyhow::{Result, bail};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct TrainBenchArgs {
    /// Presets to measure.
    #[arg(long, value_delimiter = ',', default_value = "pilotnet,lecture")]
    pub presets: Vec<String>,
    /// Seconds spent on each measurement.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// A Python interpreter with PyTorch: also run the PyTorch twin and compare.
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Also measure the same networks with candle's stock convolution and pooling.
    #[arg(long)]
    pub stock: bool,
    /// Threads for PyTorch (steerlab uses the rayon pool: RAYON_NUM_THREADS, default all cores).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

pub fn run(args: &TrainBenchArgs) -> Result<ExitCode> {
    for p in &args.presets {
        if ModelConfig::preset(p).is_none() {
            bail!("unknown preset {p:?}; choose from {}", PRESETS.join(", "));
        }
    }
    println!(
        "load average before: {}; rayon threads: {}; OpenBLAS kernels: {}",
        load_average(),
        rayon::current_num_threads(),
        ops::blas_kernels()
    );
    let mut rows = Vec::new();
    for preset in &args.presets {
        let mut say = |line: &str| println!("{line}");
        rows.push(measure(preset, args.seconds, &mut say)?);
        layer_profile(preset, args.seconds, &mut say)?;
        if args.stock {
            rows.push(measure_stock(preset, args.seconds, &mut say)?);
        }
    }
    if let Some(python) = &args.python {
        rows.extend(pytorch(python, &args.presets, args.threads, args.seconds)?);
    }
    println!("load average after: {}", load_average());
    println!(
        "\n| {:<46} | {:<8} | {:>14} | {:>18} | {:>18} |",
        "framework", "preset", "batch 1 (ms)", "forward 64 (1/s)", "train 64 (1/s)"
    );
    println!(
        "|{:-<48}|{:-<10}|{:->16}|{:->20}|{:->20}|",
        "", "", "", "", ""
    );
    for r in &rows {
        println!(
            "| {:<46} | {:<8} | {:>14.2} | {:>18.0} | {:>18.1} |",
            r.framework,
            r.preset,
            r.forward_batch1_ms,
            r.forward_batch64_samples_per_s,
            r.train_batch64_samples_per_s
        );
    }
    for r in rows.iter().filter(|r| r.note.is_some()) {
        println!(
            "{} {}: {}",
            r.framework,
            r.preset,
            r.note.as_deref().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}
