//! Episode files: one MCAP file per episode, with a schema for every topic, readable by
//! Foxglove and the `mcap` CLI. The writer runs on its own thread; the reader streams and
//! survives truncation and corruption; [`store`] keeps them in object stores (S3, GCS).

mod bounds;
mod check;
mod follow;
mod index;
pub mod reader;
pub mod schema;
pub mod store;
pub mod writer;

pub use check::{CheckReport, check};
pub use follow::being_written;
pub use index::EpisodeIndex;
pub use reader::{EpisodeReader, ReadOutcome, Step, StepIter};
pub use writer::{EpisodeMeta, EpisodeWriter, Recorder, StepRecord};
