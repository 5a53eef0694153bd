//! Learning: the Candle CNN that maps a camera frame to a steering distribution (a Gaussian
//! mixture over curvature, Amini et al. 2019), its training from recorded episodes, and the
//! checkpoints it is saved in. Never imports Bevy.

pub mod augment;
pub mod backbone;
pub mod boxes;
pub mod calibration;
pub mod checkpoint;
pub mod classify;
pub mod config;
pub mod dataset;
pub mod detect;
pub mod device;
pub mod distribution;
mod episode_files;
pub mod idx;
pub mod layer_spec;
pub mod linear;
pub mod mixture;
pub mod ops;
pub mod optim;
pub mod route_blind;
pub mod sample;
pub mod segment;
pub mod slide;
pub mod speed;
pub mod steering;
pub mod tensors;
pub mod train;
pub mod trainer;

pub use calibration::Calibration;
pub use checkpoint::ModelDir;
pub use config::ModelConfig;
pub use device::{device, keep_freed_memory, serial_candle_ops};
pub use distribution::{Component, SpeedDistribution, SteeringDistribution};
pub use steering::Model;
