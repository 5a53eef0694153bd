//! Two-stage object detection on the shared backbone, in the shape of Faster R-CNN (Ren et al.
//! 2015). A region proposal network slides a 3×3 convolution over the backbone's feature map and
//! scores, at every cell, a fixed set of anchor boxes (an objectness logit and four box deltas
//! each); the best proposals after non-maximum suppression are cut from the same feature map by
//! RoI Align, and a dense head classifies each region (the object classes plus background) and
//! refines its box per class; non-maximum suppression per class gives the detections. One
//! backbone pass per image, where the sliding-window baseline ([`crate::nn::slide`]) runs the
//! classifier once per window.
//!
//! Trained end to end as in the paper's "approximate joint training": the proposals the head
//! learns from are constants, and the feature map gets gradients from both the proposal network
//! and the head.

mod anchors;
mod data;
mod eval;
mod loss;
mod model;
mod train;

pub use anchors::{FeatureGrid, HEAD_WEIGHTS, RPN_WEIGHTS, decode, encode};
pub use data::{BoxedImages, ImageTruth, Transform};
pub use eval::{DetectionScores, evaluate, score};
pub use loss::{DetectorLosses, bce_with_logits, smooth_l1};
pub use model::{DetectOptions, Detector, DetectorConfig};
pub use train::{DetectorTraining, train};
