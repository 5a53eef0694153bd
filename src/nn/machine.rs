//! The machine figures were measured on: its processor, threads, BLAS kernels and load, written
//! beside every figures file.

use serde::{Deserialize, Serialize};

/// Where figures were measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// The processor's model name (`/proc/cpuinfo`).
    pub cpu: String,
    /// Threads the process could run on.
    pub cores: usize,
    /// The OpenBLAS kernels in use.
    pub blas: String,
    /// The 1-minute load average when the run started and when it ended.
    pub load_start: f64,
    pub load_end: f64,
}

impl Machine {
    /// This machine, now (its load at the start; [`Machine::ended`] adds the end's).
    pub fn here() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, name)| name.trim().to_string())
            })
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            blas: crate::nn::ops::blas_kernels().to_string(),
            load_start: load_average(),
            load_end: f64::NAN,
        }
    }

    /// "Measured on CPU (N threads, OpenBLAS KERNELS), load A at the start and B at the end":
    /// the sentence every figures table opens with.
    pub fn measured_on(&self) -> String {
        format!(
            "Measured on {} ({} threads, OpenBLAS {}), load {:.1} at the start and {:.1} at the end",
            self.cpu, self.cores, self.blas, self.load_start, self.load_end
        )
    }

    /// With the load when the run ended.
    pub fn ended(mut self) -> Self {
        self.load_end = load_average();
        self
    }
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}
