//! One labelled frame of a recorded drive, as training reads it.

use crate::nn::models::steering::config::{
    POSE_CLIP_UNITS, POSE_HEADING_UNIT_RAD, POSE_OFFSET_UNIT_M,
};
use crate::sim::map_input::Command;
use crate::sim::network::Turn;
use std::sync::Arc;

/// One labelled frame.
#[derive(Clone, Debug)]
pub struct Sample {
    pub png: Arc<[u8]>,
    /// The expert's curvature at this frame (1/m): a policy's target.
    pub curvature_per_m: f32,
    /// The expert's target speed at this frame (m/s, [`crate::sim::Expert::labels`]): a
    /// speed head's target.
    pub speed_m_s: f32,
    /// The car's offset from its lane's centre (metres, positive left): a lane-pose model's
    /// target.
    pub lane_offset_m: f32,
    /// The car's heading against its lane or turn path (radians, positive: turned left of it):
    /// with `lane_offset_m`, a lane-pose head's target.
    pub heading_error_rad: f32,
    /// The car's speed at this frame as recorded (m/s, the simulation's): a label-side fact,
    /// which tells the frames where the expert brakes.
    pub car_speed_m_s: f32,
    /// The car's wheel speed at this frame as its odometry measured it (m/s; `None` in files
    /// recorded before `/odometry` was): what a speed head may read.
    pub wheel_speed_m_s: Option<f32>,
    /// Index into [`crate::nn::data::dataset::Dataset::episodes`].
    pub episode: usize,
    pub tick: u64,
    /// The map patch the car read at this frame (when recorded): RGB PNG.
    pub map_png: Option<Arc<[u8]>>,
    /// The navigation command at this frame (in a town; `Follow` elsewhere).
    pub command: Command,
    /// Near a junction (from [`crate::sim::exits::DECISION_ZONE_M`] before its turn path to
    /// [`crate::sim::exits::COMMIT_M`] into it), the expert's curvature toward every exit of
    /// the car's lane, the route's among them, each with its manoeuvre; empty elsewhere. Here
    /// the exits' labels part while the camera still shows the approach.
    pub exits: Vec<(Turn, f32)>,
}

/// Exits whose labels differ by at least this much have parted, 1/m: a third of a 10 m
/// corner's curvature.
pub const EXITS_PARTED_PER_M: f32 = 0.03;

impl Sample {
    /// A lane-pose head's target: the offset and heading in the head's units, clipped at
    /// [`POSE_CLIP_UNITS`] (a car lost off its route is told "far", not how far).
    pub fn pose_units(&self) -> [f32; 2] {
        let clip = |v: f64| v.clamp(-POSE_CLIP_UNITS, POSE_CLIP_UNITS) as f32;
        [
            clip(self.lane_offset_m as f64 / POSE_OFFSET_UNIT_M),
            clip(self.heading_error_rad as f64 / POSE_HEADING_UNIT_RAD),
        ]
    }

    /// Whether the exits' labels at this frame have parted (differ by at least
    /// [`EXITS_PARTED_PER_M`]): the frames where which exit the route takes changes the answer.
    pub fn exits_parted(&self) -> bool {
        let (lo, hi) = self
            .exits
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &(_, k)| {
                (lo.min(k), hi.max(k))
            });
        hi - lo >= EXITS_PARTED_PER_M
    }
}
