//! Two-stage object detection on the shared backbone, in the shape of Faster R-CNN (Ren et al.
//! 2015). A region proposal network slides a 3×3 convolution over the backbone's feature map and
//! scores, at every cell, a fixed set of anchor boxes (an objectness logit and four box deltas
//! each); the best proposals after non-maximum suppression are cut from the same feature map by
//! RoI Align, and a dense head classifies each region (the object classes plus background) and
//! refines its box per class; non-maximum suppression per class gives the detections. One
//! backbone pass per image, where the sliding-window baseline ([`crate::nn::models::slide`]) runs the
//! classifier once per window.
//!
//! Trained end to end as in the paper's "approximate joint training": the proposals the head
//! learns from are constants, and the feature map gets gradients from both the proposal network
//! and the head.

//!
//! Here: the model ([`model`]), its anchors and box coding ([`anchors`]), its loss ([`loss`])
//! and boxes (IoU, NMS, COCO AP: [`boxes`]); its data is [`crate::nn::data::detections`], its
//! training [`crate::nn::train::detect`], its scores [`crate::nn::metrics::detection`].

pub mod anchors;
pub mod boxes;
pub mod loss;
pub mod model;

pub use anchors::{FeatureGrid, HEAD_WEIGHTS, RPN_WEIGHTS, decode, encode};
pub use loss::{DetectorLosses, bce_with_logits, smooth_l1};
pub use model::{DetectOptions, Detector, DetectorConfig};
