//! The text format of input scripts: timed key presses and clicks that stand in for a user
//! (`steerlab sim --script`). Plain text parsed without Bevy; the window plays the entries
//! (`app::window::script`).

use anyhow::bail;

/// The keys a script can press, by the names it gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Left,
    Right,
    Up,
    Down,
    Tab,
    Space,
    Period,
    Home,
    Shift,
    Escape,
    Digit1,
    Digit2,
    Digit3,
    A,
    C,
    D,
    N,
    R,
    J,
    K,
    L,
    S,
    W,
}

impl Key {
    /// The key a script names (any case), if it is one.
    pub fn named(name: &str) -> Option<Key> {
        Some(match name.to_ascii_uppercase().as_str() {
            "LEFT" => Key::Left,
            "RIGHT" => Key::Right,
            "UP" => Key::Up,
            "DOWN" => Key::Down,
            "TAB" => Key::Tab,
            "SPACE" => Key::Space,
            "PERIOD" | "." => Key::Period,
            "HOME" => Key::Home,
            "SHIFT" => Key::Shift,
            "ESCAPE" | "ESC" => Key::Escape,
            "1" => Key::Digit1,
            "2" => Key::Digit2,
            "3" => Key::Digit3,
            "A" => Key::A,
            "C" => Key::C,
            "D" => Key::D,
            "N" => Key::N,
            "R" => Key::R,
            "J" => Key::J,
            "K" => Key::K,
            "L" => Key::L,
            "S" => Key::S,
            "W" => Key::W,
            _ => return None,
        })
    }
}

/// What a script presses: a key, or the left mouse button at a point of the window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScriptInput {
    Key(Key),
    /// Window pixels from the top left.
    Click([f32; 2]),
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
                (at, ScriptInput::Click([x as f32, y as f32]), None)
            }
            [_, click, ..] if click.eq_ignore_ascii_case("click") => {
                bail!("script entry `{entry}`: expected `SECONDS click X Y`")
            }
            [at, key] | [at, key, _] => {
                let Some(code) = Key::named(key) else {
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
