//! The desktop window: the driving world from a chase camera with the exact frame the network
//! sees beside it, the policy's steering distribution drawn live, keyboard driving, switching
//! drivers, recording, and the replay viewer. Three threads: the window (Bevy's, the main
//! thread), a source of snapshots (the live [`session`] owning the headless `Env`, or a
//! [`replay`] of an episode), and policy [`inference`]; bounded crossbeam queues between them.

pub mod hud;
pub mod inference;
pub mod replay;
pub mod session;
pub mod window;
