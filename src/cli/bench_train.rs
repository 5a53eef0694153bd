//! `steerlab bench train`: inference latency and training throughput of the steering networks,
//! where the time goes layer by layer, and the same figures from the PyTorch twin
//! (bench/pytorch/steering_bench.py) when a Python with PyTorch is given.

use crate::nn::bench::{TrainBenchOptions, train_bench};
use crate::nn::ops;
use anyhow::Result;
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
    /// Also write the figures, with this machine, as JSON (what the guide's tables show).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

pub fn run(args: &TrainBenchArgs) -> Result<ExitCode> {
    println!(
        "rayon threads: {}; OpenBLAS kernels: {}",
        rayon::current_num_threads(),
        ops::blas_kernels()
    );
    let options = TrainBenchOptions {
        presets: &args.presets,
        seconds: args.seconds,
        stock: args.stock,
        pytorch: args.python.as_deref().map(|p| (p, args.threads)),
    };
    let figures = train_bench(&options, &mut |line| println!("{line}"))?;
    println!("\n{}", figures.markdown());
    if let Some(path) = &args.json {
        crate::files::write_json(path, &figures)?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
