//! The desktop window: the driving world from a chase camera with the exact frame the network
//! sees beside it, the policy's steering distribution drawn live, keyboard driving, switching
//! drivers, recording, and the replay viewer. Three threads: the window (Bevy's, the main
//! thread), a source of snapshots (the live [`session`] owning the headless `Env`, or a
//! [`replay`] of an episode), and policy [`inference`]; bounded crossbeam queues between them.
//! The input [`script`] format is plain text, parsed without Bevy.

#[cfg(feature = "render")]
pub mod hud;
#[cfg(feature = "render")]
pub mod inference;
#[cfg(feature = "render")]
pub mod replay;
pub mod script;
#[cfg(feature = "render")]
pub mod session;
#[cfg(feature = "render")]
pub mod window;
