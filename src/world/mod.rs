//! The Bevy layer: meshes of the driving world, camera capture, and the headless [`Env`].

pub mod capture;
pub mod env;
pub mod material;
pub mod meshes;
pub mod network_meshes;
mod plugins;
pub mod raw;
pub mod scene;
pub mod tiles;

pub use env::{Env, EnvOptions, FrameTiming, Observation, StepInfo};
