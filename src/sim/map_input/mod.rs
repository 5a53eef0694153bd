//! The map a navigation network reads beside the camera (Amini et al. 2019): an ego-centred,
//! heading-aligned raster of the roads around the pose the car *believes* it has. Red is the
//! drivable area (the unrouted map), green the route ahead along the middle of its roads (with
//! red: the routed map). The belief is the true pose, or a GPS fix whose error wanders slowly as
//! a real receiver's does (a first-order Gauss–Markov process: white noise averages away, a
//! drifting fix does not), dead-reckoned on noisy odometry through dropouts.
//!
//! What a car knows is kept apart from the simulation state by type: a [`Navigator`] is the
//! car's navigation system. Its GPS receiver and odometry are the only parts that read the true
//! motion (with their errors); the believed pose, the route progress (map-matched from the
//! believed pose, never taken from the simulation), the command and the patch follow from their
//! readings and the map alone.

mod gps;
mod navigator;
mod view;

pub use gps::{Dropouts, GPS_CORRELATION_S, GpsFix, GpsNoise};
pub use navigator::{MapObservation, MapOptions, MapSensor, Navigator};
pub use view::{COMMAND_RANGE_M, COMMANDS, Command, MapMode, MapSpec, MapView, Pose};
