//! What the window's plugins share: the order of their systems within a frame, and the report
//! they fill in for [`run`](super::run).

use crate::app::session::Snapshot;
use bevy::prelude::*;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// What the window measured.
#[derive(Clone, Debug, Default)]
pub struct WindowReport {
    /// Frames drawn after the first second (pipelines compile in it), and their span.
    pub frames: u64,
    pub seconds: f64,
    /// Snapshots shown, and the mean inference latency they carried, ms.
    pub snapshots: u64,
    pub mean_latency_ms: Option<f64>,
    pub(super) latencies: u64,
    pub last: Option<Snapshot>,
    pub screenshot: Option<PathBuf>,
}

impl WindowReport {
    pub fn frames_per_s(&self) -> f64 {
        self.frames as f64 / self.seconds.max(1e-9)
    }
}

/// The report, shared with [`run`]: Bevy's event loop consumes the app, so what the systems
/// measure has to outlive it.
#[derive(Resource, Clone, Default)]
pub(super) struct Report(pub(super) Arc<Mutex<WindowReport>>);

impl Report {
    pub(super) fn update(&self, change: impl FnOnce(&mut WindowReport)) {
        // Only a system that panicked while holding it poisons the lock, and that ends the app.
        if let Ok(mut report) = self.0.lock() {
            change(&mut report);
        }
    }
}

/// The order of the window's work within a frame (in `Update`). Scripted input comes before all
/// of it, in `PreUpdate`, where real input is read.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum WindowSystems {
    /// Keys and the mouse: commands to the source, the chase rig turned and zoomed.
    Input,
    /// The newest snapshot taken from the source.
    Receive,
    /// The 3D world brought to the snapshot: rebuilt for another world, the car moved.
    Stage,
    /// The chase camera following the car where the rig puts it.
    Camera,
    /// The HUD redrawn for a snapshot that changed.
    Hud,
    /// Closing by itself after `--seconds`, once the screenshot is saved.
    Close,
}
