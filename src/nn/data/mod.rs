//! What training reads, with no hand labels: recorded episodes as labelled samples and batches
//! ([`dataset`], [`sample`], [`tensors`]), the targets of a model not told the route
//! ([`route_blind`]), photometric augmentation ([`augment`]), the detector's boxed frames
//! ([`detections`]) and MNIST's IDX files ([`idx`]).

pub mod augment;
pub mod dataset;
pub mod detections;
pub(crate) mod episode_files;
pub mod idx;
pub mod route_blind;
pub mod sample;
pub mod tensors;
