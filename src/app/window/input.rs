//! The keyboard and the mouse turned into [`Command`]s for the source. One map serves both
//! sources: a live session ignores the replay's commands (seek, speed) and a replay the driving
//! ones, so the arrows drive live and scrub a replay. (The mouse's camera controls belong to the
//! [`camera`](super::camera) rig.)

use super::receiver::{Current, Source};
use super::schedule::WindowSystems;
use super::ui::{SCRUB_BOTTOM, SCRUB_HEIGHT, SCRUB_MARGIN};
use crate::app::hud;
use crate::app::session::{Command, Driver};
use crate::sim::network::Turn;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;

pub(super) fn plugin(app: &mut App) {
    // Keys before the mouse, so that the source gets a frame's commands in a fixed order.
    app.add_systems(
        Update,
        (keyboard, scrub).chain().in_set(WindowSystems::Input),
    );
}

/// The keyboard's steering and throttle as last sent: −1, 0 or 1 each.
#[derive(Default, PartialEq)]
struct ManualKeys {
    steer: f64,
    throttle: f64,
}

fn keyboard(
    keys: Res<ButtonInput<KeyCode>>,
    source: Res<Source>,
    mut sent: Local<ManualKeys>,
    mut exit: MessageWriter<AppExit>,
) {
    let shift = keys.pressed(KeyCode::ShiftLeft) || keys.pressed(KeyCode::ShiftRight);
    for key in keys.get_just_pressed() {
        let command = match key {
            KeyCode::Tab => Command::CycleDriver,
            KeyCode::Digit1 => Command::SetDriver(Driver::Manual),
            KeyCode::Digit2 => Command::SetDriver(Driver::Expert),
            KeyCode::Digit3 => Command::SetDriver(Driver::Policy),
            KeyCode::Space => Command::TogglePause,
            KeyCode::Period => Command::Step,
            KeyCode::KeyR => Command::Reset,
            KeyCode::KeyJ => Command::ChooseTurn(Turn::Left),
            KeyCode::KeyK => Command::ChooseTurn(Turn::Straight),
            KeyCode::KeyL => Command::ChooseTurn(Turn::Right),
            KeyCode::KeyN => Command::NextScenario,
            KeyCode::KeyC => Command::ToggleRecording,
            KeyCode::Home => Command::Seek(i64::MIN),
            KeyCode::ArrowUp => Command::Speed(2.0),
            KeyCode::ArrowDown => Command::Speed(0.5),
            KeyCode::ArrowLeft => Command::Seek(if shift { -10 } else { -1 }),
            KeyCode::ArrowRight => Command::Seek(if shift { 10 } else { 1 }),
            KeyCode::Escape => {
                exit.write(AppExit::Success);
                continue;
            }
            _ => continue,
        };
        source.send(command);
    }
    let axis = |plus: [KeyCode; 2], minus: [KeyCode; 2]| {
        keys.any_pressed(plus) as i32 as f64 - keys.any_pressed(minus) as i32 as f64
    };
    let held = ManualKeys {
        steer: axis(
            [KeyCode::ArrowLeft, KeyCode::KeyA],
            [KeyCode::ArrowRight, KeyCode::KeyD],
        ),
        throttle: axis(
            [KeyCode::ArrowUp, KeyCode::KeyW],
            [KeyCode::ArrowDown, KeyCode::KeyS],
        ),
    };
    // Only changes: the session keeps the keyboard's state until told another.
    if held != *sent {
        source.send(Command::Manual {
            steer: held.steer,
            throttle: held.throttle,
        });
        *sent = held;
    }
}

/// A click or drag on the replay's progress bar seeks to that frame.
fn scrub(
    buttons: Res<ButtonInput<MouseButton>>,
    windows: Query<&Window, With<PrimaryWindow>>,
    current: Res<Current>,
    source: Res<Source>,
    mut last: Local<Option<usize>>,
) {
    let Some((_, count, _)) = current.0.playback else {
        return;
    };
    if !buttons.pressed(MouseButton::Left) {
        *last = None;
        return;
    }
    let Ok(window) = windows.single() else {
        return;
    };
    let Some(at) = window.cursor_position() else {
        return;
    };
    let (width, height) = (window.width(), window.height());
    let bar_bottom = height - SCRUB_BOTTOM;
    // Generous in height: a bar 14 pixels tall is easy to miss.
    if at.y < bar_bottom - SCRUB_HEIGHT - 6.0 || at.y > bar_bottom + 6.0 {
        return;
    }
    let index = hud::scrub_index(at.x, SCRUB_MARGIN, width - 2.0 * SCRUB_MARGIN, count);
    if *last != Some(index) {
        *last = Some(index);
        source.send(Command::SeekTo(index));
    }
}
