//! Episode files: one MCAP file per episode, with a schema for every topic, readable by
//! Foxglove and the `mcap` CLI. The writer runs on its own thread; the reader streams and
//! survives truncation and corruption.

pub mod reader;
pub mod schema;
pub mod writer;

pub use reader::{CheckReport, EpisodeIndex, EpisodeReader, ReadOutcome, Step, StepIter, check};
pub use writer::{EpisodeMeta, EpisodeWriter, Recorder, StepRecord};
