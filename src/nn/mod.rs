//! Learning: the Candle CNN that maps a camera frame to a steering distribution (a Gaussian
//! mixture over curvature, Amini et al. 2019), its training from recorded episodes, and the
//! checkpoints it is saved in. Never imports Bevy.
//!
//! Layout, by what a file is about:
//! - [`models`]: one home per model, with its config: the steering network and its presets
//!   (`pilotnet`, `lecture`, `navnet`, `cil`, `lanepose`) with its speed head, the classifier,
//!   the segmenter, the detector and the sliding-window baseline; the backbone and layers they
//!   share; checkpoints on disk.
//! - [`data`]: what training reads: recorded episodes as labelled samples and batches, their
//!   augmentation, the detector's boxed frames, MNIST's IDX files.
//! - [`train`]: the one training loop, its optimiser and saved state, and the tasks that plug
//!   into it.
//! - [`metrics`]: scores of a model's outputs: calibration of a distribution, detection AP,
//!   a run's curves.
//! - [`ops`]: the CPU kernels (convolution, pooling, RoI Align, dense products) candle runs.
//! - [`device`](mod@device): where tensors live and the thread settings; [`bench`](mod@bench): the training-speed
//!   benchmarks; [`machine`]: the machine a figures file was measured on (processor, threads,
//!   BLAS kernels, load).

pub mod bench;
pub mod data;
pub mod device;
pub mod machine;
pub mod metrics;
pub mod models;
pub mod ops;
pub mod train;

pub use device::{device, keep_freed_memory, serial_candle_ops};
pub use metrics::calibration::Calibration;
pub use models::checkpoint::ModelDir;
pub use models::distribution::{Component, SpeedDistribution, SteeringDistribution};
pub use models::steering::Model;
pub use models::steering::config::ModelConfig;
