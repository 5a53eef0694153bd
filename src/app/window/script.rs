//! Input scripts: timed key presses and clicks that stand in for a user, so that demos and
//! tests drive the window exactly as a person would, through Bevy's own input state. Public,
//! with the [`clock`](super::clock) it reads the time from, so that tests can run it without a
//! window.

use super::clock::Clock;
use anyhow::bail;
use bevy::input::InputSystems;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;

/// What a script presses: a key, or the left mouse button at a point of the window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScriptInput {
    Key(KeyCode),
    Click(Vec2),
}

/// A press or release at a time since the window opened (scripted input).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scripted {
    pub at_s: f64,
    pub input: ScriptInput,
    pub down: bool,
}

/// Parses an input script: entries separated by `;` or new lines, each `SECONDS KEY [down|up]`
/// or `SECONDS click X Y` (window pixels from the top left); a bare key or a click is pressed
/// and released on the next frame. For example `1 Tab; 2 Left down; 3.5 Left up; 4 click 640 676`.
pub fn parse_script(text: &str) -> anyhow::Result<Vec<Scripted>> {
    let mut out = Vec::new();
    let number = |entry: &str, v: &str, what: &str| -> anyhow::Result<f64> {
        v.parse::<f64>()
            .map_err(|_| anyhow::anyhow!("script entry `{entry}`: `{v}` is not {what}"))
    };
    for entry in text
        .split([';', '\n'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let parts: Vec<&str> = entry.split_whitespace().collect();
        let (at, input, how) = match parts.as_slice() {
            [at, click, x, y] if click.eq_ignore_ascii_case("click") => {
                let (x, y) = (
                    number(entry, x, "a pixel column")?,
                    number(entry, y, "a pixel row")?,
                );
                if !(x.is_finite() && y.is_finite()) {
                    bail!("script entry `{entry}`: the click's pixel must be finite");
                }
                let point = Vec2::new(x as f32, y as f32);
                (at, ScriptInput::Click(point), None)
            }
            [_, click, ..] if click.eq_ignore_ascii_case("click") => {
                bail!("script entry `{entry}`: expected `SECONDS click X Y`")
            }
            [at, key] | [at, key, _] => {
                let Some(code) = key_code(key) else {
                    bail!(
                        "script entry `{entry}`: unknown key `{key}` (W, A, S, D, C, N, R, 1, 2, 3, Left, \
                         Right, Up, Down, Tab, Space, Period, Home, Shift, Escape, or click X Y)"
                    );
                };
                (at, ScriptInput::Key(code), parts.get(2).copied())
            }
            _ => bail!(
                "script entry `{entry}`: expected `SECONDS KEY [down|up]` or `SECONDS click X Y`"
            ),
        };
        let at_s = number(entry, at, "a number of seconds")?;
        if !(at_s.is_finite() && (0.0..=86_400.0).contains(&at_s)) {
            bail!("script entry `{entry}`: the time must be from 0 to 86400 seconds");
        }
        let mut push = |at_s: f64, down: bool| out.push(Scripted { at_s, input, down });
        match how {
            None => {
                push(at_s, true);
                push(at_s, false);
            }
            Some("down") => push(at_s, true),
            Some("up") => push(at_s, false),
            Some(other) => bail!("script entry `{entry}`: `{other}` is neither down nor up"),
        }
    }
    // Stable: a press stays before its release at the same time.
    out.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    Ok(out)
}

fn key_code(name: &str) -> Option<KeyCode> {
    let upper = name.to_ascii_uppercase();
    Some(match upper.as_str() {
        "LEFT" => KeyCode::ArrowLeft,
        "RIGHT" => KeyCode::ArrowRight,
        "UP" => KeyCode::ArrowUp,
        "DOWN" => KeyCode::ArrowDown,
        "TAB" => KeyCode::Tab,
        "SPACE" => KeyCode::Space,
        "PERIOD" | "." => KeyCode::Period,
        "HOME" => KeyCode::Home,
        "SHIFT" => KeyCode::ShiftLeft,
        "ESCAPE" | "ESC" => KeyCode::Escape,
        "1" => KeyCode::Digit1,
        "2" => KeyCode::Digit2,
        "3" => KeyCode::Digit3,
        "A" => KeyCode::KeyA,
        "C" => KeyCode::KeyC,
        "D" => KeyCode::KeyD,
        "N" => KeyCode::KeyN,
        "R" => KeyCode::KeyR,
        "J" => KeyCode::KeyJ,
        "K" => KeyCode::KeyK,
        "L" => KeyCode::KeyL,
        "S" => KeyCode::KeyS,
        "W" => KeyCode::KeyW,
        _ => return None,
    })
}

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
            (ScriptInput::Key(k), true) => keys.press(k),
            (ScriptInput::Key(k), false) => keys.release(k),
            (ScriptInput::Click(at), down) => {
                if let Ok(mut window) = windows.single_mut() {
                    window.set_cursor_position(Some(at));
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
