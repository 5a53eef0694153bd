//! The window's clock: script times, `--seconds` and the frame count start at the first frame,
//! when the window exists (creating it and the first pipelines can take a second on a CPU
//! renderer), and the frame rate the HUD shows and the report gives is measured here. Public so
//! that tests can run [scripts](super::script) without a window.

use super::schedule::Report;
use bevy::prelude::*;
use std::collections::VecDeque;
use std::time::Instant;

/// Frames drawn over which the HUD's frame rate is measured.
const RECENT_FRAMES: usize = 60;

/// Seconds after opening the report starts counting frames (pipelines compile in them).
const WARM_UP_S: f64 = 1.0;

#[derive(Resource, Debug)]
pub struct Clock {
    opened: Instant,
    /// When the report started counting frames.
    measured_from: Option<Instant>,
    recent: VecDeque<Instant>,
}

impl Default for Clock {
    fn default() -> Self {
        Self {
            opened: Instant::now(),
            measured_from: None,
            recent: VecDeque::new(),
        }
    }
}

impl Clock {
    /// Seconds since the first frame.
    pub fn since_opened_s(&self) -> f64 {
        self.opened.elapsed().as_secs_f64()
    }

    /// Frames per second over the last frames drawn (0 before two).
    pub fn frames_per_s(&self) -> f64 {
        match (self.recent.front(), self.recent.back()) {
            (Some(a), Some(b)) if self.recent.len() > 1 => {
                (self.recent.len() - 1) as f64 / (*b - *a).as_secs_f64().max(1e-9)
            }
            _ => 0.0,
        }
    }
}

pub fn plugin(app: &mut App) {
    app.init_resource::<Clock>().init_resource::<Report>();
    app.add_systems(First, start_clock.run_if(run_once));
    app.add_systems(Last, count_frame);
}

fn start_clock(mut clock: ResMut<Clock>) {
    clock.opened = Instant::now();
}

fn count_frame(mut clock: ResMut<Clock>, report: Res<Report>) {
    let now = Instant::now();
    clock.recent.push_back(now);
    while clock.recent.len() > RECENT_FRAMES {
        clock.recent.pop_front();
    }
    if clock.since_opened_s() < WARM_UP_S {
        return;
    }
    let from = *clock.measured_from.get_or_insert(now);
    report.update(|r| {
        r.frames += 1;
        r.seconds = (now - from).as_secs_f64();
    });
}
