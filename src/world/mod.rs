//! The Bevy layer: meshes of the driving world, camera capture, the renderer (a Bevy app of
//! plugins), and the headless [`Env`] that drives the simulation, its sensors and the renderer.

pub mod capture;
pub mod env;
pub mod material;
pub mod meshes;
pub mod network_meshes;
mod plugins;
pub mod raw;
pub mod renderer;
pub mod scene;
pub mod tiles;

pub use env::{Env, EnvOptions, Observation, StepInfo};
pub use renderer::FrameTiming;
