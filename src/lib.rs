//! steerlab: an end-to-end, vision-to-control autonomous-navigation simulator.
//!
//! The modules are layers, lowest first; each uses only layers below it (the README's Layout
//! table lists them with their folders and what each may use, and `tests/it/layers.rs` checks
//! every import against it, and that no two files import each other). At the bottom,
//! [`error`] (the crate's error type), [`files`] (atomic writes, PNG coding) and [`report`]
//! (plots and HTML reports); then [`sim`], the pure-Rust simulation core (scenarios, track
//! geometry, vehicle, expert); [`record`], episode files; [`nn`], the networks (steering,
//! classifier, segmenter, detector) and the one loop that trains them; [`world`], the Bevy
//! renderer and the headless [`world::Env`] that every other part drives the world through
//! (it uses only `sim` of the layers above the bottom); [`drive`], the closed loop where
//! learning meets the world (policy driver, expert episode collection, re-simulation,
//! evaluation, DAgger); [`app`], the desktop window (live driving with the policy's
//! distribution drawn, recording, replay); and [`cli`], which parses arguments, calls the
//! library and prints. Bevy stays out of every layer below `world` and of `drive`; candle out
//! of `sim`, `record` and `world`.
//!
//! The `render` feature (on by default) holds Bevy and everything built on it: [`world`],
//! [`drive`], [`app`] but its input-script format, and [`cli`]. Without it the crate is the
//! simulation core, episode files and the networks (what the fuzz targets in `fuzz/` read).

pub mod app;
#[cfg(feature = "render")]
pub mod cli;
#[cfg(feature = "render")]
pub mod drive;
pub mod error;
pub mod files;
pub mod nn;
pub mod record;
pub mod report;
pub mod sim;
#[cfg(feature = "render")]
pub mod world;

pub use error::{Error, Result};
