//! Localisation from the steering posterior, as in Amini et al. 2019: a particle filter over
//! the car's pose (x, y, heading) started around a noisy GPS fix. Every tick each particle
//! moves by the car's odometry (distance and heading change since the last tick, with noise);
//! every few ticks it is weighted by the network's density of the curvature the car actually
//! drove, computed from the camera frame and the map patch cut at that particle's pose (the
//! camera features once, all candidates' patches in batches): a pose whose map explains what
//! the car did, given what it saw, gains weight. A fix one GPS correlation time after the last
//! one used (so roughly independent of it) weights the particles too. A second filter with
//! odometry and GPS alone runs beside it on the same draws, so what the network adds is
//! measured rather than assumed. A run's CSV, error plot and particle pictures: [`files`].

pub mod files;
mod filter;
mod offline;
mod online;

pub use crate::sim::map_input::Pose;
pub use filter::{LocaliseOptions, Localiser, ParticleFilter, TickEstimates};
pub use offline::{
    ErrorStats, ErrorSummary, Localisation, NetworkLikelihood, drive_seed, localise, summarise,
};
pub use online::{
    ONLINE_LANE_POSE_WEIGHT, OnlineLocaliser, OwnLocalisation, lane_offset_log_likelihood,
};
