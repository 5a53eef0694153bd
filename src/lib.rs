//! steerlab: an end-to-end, vision-to-control autonomous-navigation simulator.
//!
//! Layers (the README's Layout section lists them with their folders): [`sim`] is the pure-Rust simulation core
//! (scenarios, track geometry, vehicle, expert); [`world`] is the Bevy renderer and the
//! headless [`world::Env`] that every other part drives the world through; [`record`] holds
//! episode files, [`nn`] the steering network and its training, and [`drive`] the closed loop
//! where the two meet (policy driver, evaluation, DAgger); [`app`] is the desktop window
//! (live driving with the policy's distribution drawn, recording, replay).

pub mod app;
pub mod cli;
pub mod drive;
pub mod error;
pub mod files;
pub mod nn;
pub mod record;
pub mod report;
pub mod sim;
pub mod world;

pub use error::{Error, Result};
