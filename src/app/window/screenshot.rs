//! Closing by itself, for automation: after `--seconds` the window keeps the last snapshot in
//! its report and, with `--screenshot`, saves its last frame as a PNG through Bevy's screenshot
//! API (what the window drew, HUD included) before it exits.

use super::clock::Clock;
use super::receiver::Current;
use super::schedule::{Report, WindowSystems};
use crate::sim::Frame;
use bevy::ecs::error::{BevyError, Severity};
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use std::path::{Path, PathBuf};

/// When to close by itself and where to save the last frame (none: open until closed).
#[derive(Resource, Debug, Default)]
pub(super) struct Closing {
    pub(super) seconds: Option<f64>,
    pub(super) screenshot: Option<PathBuf>,
}

/// Where the screenshot taken on closing stands: it is captured a frame or more after it is
/// asked for, and the window stays open until then.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Capture {
    #[default]
    NotAsked,
    Asked,
    /// Saved, or failed with an error logged: either way the window may close.
    Over,
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Closing>().init_resource::<Capture>();
    app.add_systems(Update, close.in_set(WindowSystems::Close));
}

fn close(
    mut commands: Commands,
    closing: Res<Closing>,
    mut capture: ResMut<Capture>,
    clock: Res<Clock>,
    current: Res<Current>,
    report: Res<Report>,
    mut exit: MessageWriter<AppExit>,
) {
    let Some(seconds) = closing.seconds else {
        return;
    };
    if clock.since_opened_s() < seconds {
        return;
    }
    report.update(|r| r.last = Some(current.0.clone()));
    match (&closing.screenshot, *capture) {
        (None, _) | (Some(_), Capture::Over) => {
            exit.write(AppExit::Success);
        }
        (Some(_), Capture::NotAsked) => {
            *capture = Capture::Asked;
            commands.spawn(Screenshot::primary_window()).observe(save);
        }
        (Some(_), Capture::Asked) => {}
    }
}

/// Saves the captured frame where `--screenshot` says and names it in the report.
fn save(
    shot: On<ScreenshotCaptured>,
    closing: Res<Closing>,
    mut capture: ResMut<Capture>,
    report: Res<Report>,
) -> Result {
    *capture = Capture::Over;
    let Some(path) = &closing.screenshot else {
        return Ok(());
    };
    save_png(&shot.image, path)
        .map_err(|message| BevyError::new(Severity::Error, format!("screenshot: {message}")))?;
    report.update(|r| r.screenshot = Some(path.clone()));
    Ok(())
}

fn save_png(image: &Image, path: &Path) -> Result<(), String> {
    let Ok(dynamic) = image.clone().try_into_dynamic() else {
        return Err(format!(
            "unsupported texture format {:?}",
            image.texture_descriptor.format
        ));
    };
    let rgb = dynamic.to_rgb8();
    let frame = Frame {
        tick: 0,
        agent: 0,
        width: rgb.width(),
        height: rgb.height(),
        rgb: rgb.into_raw(),
    };
    frame.save_png(path).map_err(|e| e.to_string())
}
