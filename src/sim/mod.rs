//! The simulation core: plain Rust with an explicit tick, no engine types.
//!
//! Coordinates: the sim works in the ground plane with `x` east and `y` north (metres);
//! headings are radians counter-clockwise from `+x`, and positive curvature turns left.
//! The Bevy world is Y-up with the ground on XZ; a sim point `(x, y)` is the Bevy point
//! `(x, 0, -y)` (see [`Vec2::to_world`]).
//!
//! A scenario ([`scenario`]) is built once into its world ([`built::BuiltWorld`]: the track or
//! town network and route, props, buildings), which the [`simulation`] steps cars in.

pub mod built;
pub mod camera;
pub mod collision;
pub mod episode;
pub mod exits;
pub mod expert;
pub mod frame;
pub mod labels;
pub mod map_input;
pub mod math;
pub mod network;
pub mod odometry;
pub mod pursuit;
pub mod randomise;
pub mod ron_file;
pub mod route_path;
pub mod scenario;
pub mod shipped;
pub mod simulation;
pub mod track;
pub mod traffic;
pub mod vehicle;

pub use collision::{Crash, CrashCheck};
pub use episode::EpisodeStats;
pub use expert::{DartNoise, Expert, ExpertConfig};
pub use frame::Frame;
pub use math::Vec2;
pub use scenario::Scenario;
pub use simulation::{AgentState, Simulation};
pub use track::{Track, TrackProjection};
pub use vehicle::{Action, Vehicle, VehicleState};
