//! Closed-loop driving: the learned policy steers from pixels, evaluation scores it as the
//! field does, and DAgger improves it; the expert's episodes are collected here too, and
//! recorded episodes re-simulated. Uses `world` (the rendered `Env`), `nn` (the model and its
//! training) and `record` (episodes): the layer where learning meets the simulator.
//!
//! Layout: the drive loop and its observers ([`closed_loop`]), the policy driver ([`policy`]),
//! per-tick scores ([`metrics`]) and junction passages ([`junctions`]); collection
//! ([`collect`], [`workers`], across processes [`processes`]), DAgger ([`dagger`]) and recalibration ([`recalibrate`]);
//! evaluation with its tables and figures ([`eval`]), the robustness and traffic suites
//! ([`suite`], [`traffic_suite`]), localisation ([`localise`]); recorded episodes re-simulated
//! and exported ([`resimulate`], [`replay`]); the main job ([`main_job`]); the simulator's
//! benchmarks ([`bench`](mod@bench)); figures files, each with the machine it was measured on
//! ([`figures`], [`crate::nn::machine`]).

pub mod bench;
pub mod closed_loop;
pub mod collect;
pub mod dagger;
pub mod eval;
pub mod figures;
pub mod junctions;
pub mod localise;
pub mod main_job;
pub mod metrics;
pub mod policy;
pub mod processes;
pub mod recalibrate;
pub mod replay;
pub mod resimulate;
pub mod suite;
pub mod traffic_suite;
pub mod workers;

pub use closed_loop::{Drive, DriveOptions, PathPoint, Pilot, drive};
pub use metrics::{DriveSums, InterventionRule, Metrics, Supervision, TickOutcome, Verdict};
pub use policy::{Choice, Policy};
