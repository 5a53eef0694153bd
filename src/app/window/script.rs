//! Playing input scripts (the text format is [`crate::app::script`]): timed key presses and
//! clicks that stand in for a user, so that demos and tests drive the window exactly as a
//! person would, through Bevy's own input state. Public, with the [`clock`](super::clock) it
//! reads the time from, so that tests can run it without a window.

use super::clock::Clock;
use crate::app::script::{Key, ScriptInput, Scripted};
use bevy::input::InputSystems;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;

/// The script being played and how far it has got.
#[derive(Resource, Debug, Default)]
pub struct Script {
    events: Vec<Scripted>,
    next: usize,
}

impl Script {
    pub fn new(events: Vec<Scripted>) -> Self {
        Self { events, next: 0 }
    }

    /// Whether every entry has been played.
    pub fn finished(&self) -> bool {
        self.next >= self.events.len()
    }
}

/// Plays the [`Script`] resource (none: an empty one) into Bevy's keyboard and mouse input.
pub fn plugin(app: &mut App) {
    app.init_resource::<Script>();
    // After Bevy's own input systems, which start each frame by forgetting the last frame's
    // presses: a press made before them would never be seen as just pressed.
    app.add_systems(PreUpdate, play_script.after(InputSystems));
}

/// Presses and releases what the script says is due, as real input would; a release of
/// something pressed in this frame waits for the next, so that every press is seen held.
fn play_script(
    mut script: ResMut<Script>,
    mut keys: ResMut<ButtonInput<KeyCode>>,
    mut mouse: ResMut<ButtonInput<MouseButton>>,
    mut windows: Query<&mut Window, With<PrimaryWindow>>,
    clock: Res<Clock>,
) {
    let now = clock.since_opened_s();
    let mut pressed_now = Vec::new();
    while let Some(e) = script.events.get(script.next).copied() {
        if e.at_s > now || (!e.down && pressed_now.contains(&e.input)) {
            break;
        }
        match (e.input, e.down) {
            (ScriptInput::Key(k), true) => keys.press(key_code(k)),
            (ScriptInput::Key(k), false) => keys.release(key_code(k)),
            (ScriptInput::Click([x, y]), down) => {
                if let Ok(mut window) = windows.single_mut() {
                    window.set_cursor_position(Some(Vec2::new(x, y)));
                }
                if down {
                    mouse.press(MouseButton::Left);
                } else {
                    mouse.release(MouseButton::Left);
                }
            }
        }
        if e.down {
            pressed_now.push(e.input);
        }
        script.next += 1;
    }
}

/// The keyboard key a script's key name stands for.
pub fn key_code(key: Key) -> KeyCode {
    match key {
        Key::Left => KeyCode::ArrowLeft,
        Key::Right => KeyCode::ArrowRight,
        Key::Up => KeyCode::ArrowUp,
        Key::Down => KeyCode::ArrowDown,
        Key::Tab => KeyCode::Tab,
        Key::Space => KeyCode::Space,
        Key::Period => KeyCode::Period,
        Key::Home => KeyCode::Home,
        Key::Shift => KeyCode::ShiftLeft,
        Key::Escape => KeyCode::Escape,
        Key::Digit1 => KeyCode::Digit1,
        Key::Digit2 => KeyCode::Digit2,
        Key::Digit3 => KeyCode::Digit3,
        Key::A => KeyCode::KeyA,
        Key::C => KeyCode::KeyC,
        Key::D => KeyCode::KeyD,
        Key::N => KeyCode::KeyN,
        Key::R => KeyCode::KeyR,
        Key::J => KeyCode::KeyJ,
        Key::K => KeyCode::KeyK,
        Key::L => KeyCode::KeyL,
        Key::S => KeyCode::KeyS,
        Key::W => KeyCode::KeyW,
    }
}
