//! Learning: the Candle CNN that maps a camera frame to a steering distribution (a Gaussian
//! mixture over curvature, Amini et al. 2019), its training from recorded episodes, and the
//! checkpoints it is saved in. Never imports Bevy.

pub mod backbone;
pub mod checkpoint;
pub mod config;
pub mod dataset;
pub mod distribution;
pub mod ops;
pub mod optim;
pub mod plot;
pub mod steering;
pub mod train;

pub use checkpoint::Model;
pub use config::ModelConfig;
pub use distribution::{Component, SteeringDistribution};

/// The device every tensor lives on; the one place to change for a GPU build.
pub fn device() -> candle_core::Device {
    candle_core::Device::Cpu
}
