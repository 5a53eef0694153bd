//! The Bevy window: the driving world from a chase camera, the network's own camera frame as an
//! inset, the steering distribution and the figures of the drive in a HUD, the keyboard turned
//! into [`Command`]s. It shows [`Snapshot`]s from a source on another thread (a live session or
//! a replay) and never waits for one: without a new snapshot it draws the last again.

use crate::app::hud;
use crate::app::session::{Command, Driver, Link, Snapshot};
use crate::nn::boxes::{BOX_COLOURS, draw_outline};
use crate::sim::Frame;
use crate::world::env::window_plugins;
use crate::world::material::SimMaterialPlugin;
use crate::world::scene::{
    CAR_LAYER, Scenery, WORLD_LAYER, car_transform, spawn_car, spawn_static_world,
};
use anyhow::{Result, bail};
use bevy::asset::RenderAssetUsages;
use bevy::camera::visibility::RenderLayers;
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::image::ImageSampler;
use bevy::input::InputSystems;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use crossbeam_channel::{Receiver, Sender};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
pub fn parse_script(text: &str) -> Result<Vec<Scripted>> {
    let mut out = Vec::new();
    let number = |entry: &str, v: &str, what: &str| -> Result<f64> {
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
                let point = Vec2::new(
                    number(entry, x, "a pixel column")? as f32,
                    number(entry, y, "a pixel row")? as f32,
                );
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
        "S" => KeyCode::KeyS,
        "W" => KeyCode::KeyW,
        _ => return None,
    })
}

/// How the window is opened and, for automation, closed.
#[derive(Clone, Debug)]
pub struct WindowOptions {
    pub title: String,
    pub size: (u32, u32),
    pub script: Vec<Scripted>,
    /// Close after this many seconds.
    pub seconds: Option<f64>,
    /// Save the window's last frame here (PNG) before closing.
    pub screenshot: Option<PathBuf>,
    /// The key legend shown at the bottom.
    pub keys: &'static str,
    /// Run the event loop on the calling thread even when it is not the main thread.
    pub any_thread: bool,
}

/// What the window measured.
#[derive(Clone, Debug, Default)]
pub struct WindowReport {
    /// Frames drawn after the first second (pipelines compile in it), and their span.
    pub frames: u64,
    pub seconds: f64,
    /// Snapshots shown, and the mean inference latency they carried, ms.
    pub snapshots: u64,
    pub mean_latency_ms: Option<f64>,
    latencies: u64,
    pub last: Option<Snapshot>,
    pub screenshot: Option<PathBuf>,
}

impl WindowReport {
    pub fn frames_per_s(&self) -> f64 {
        self.frames as f64 / self.seconds.max(1e-9)
    }
}

#[derive(Resource)]
struct Source {
    commands: Sender<Command>,
    snapshots: Receiver<Snapshot>,
}

/// The snapshot shown and a count of its changes (the HUD is redrawn when it moves).
#[derive(Resource)]
struct Current(Snapshot, u64);

#[derive(Resource)]
struct Shown {
    world_id: Option<u64>,
    car: Option<Entity>,
    version: Option<u64>,
    legend: bool,
}

#[derive(Resource)]
struct Hud {
    inset: Handle<Image>,
    plot: Handle<Image>,
    plot_size: (usize, usize),
}

#[derive(Component)]
struct StatusText;

#[derive(Component)]
struct RecordingBadge;

#[derive(Component)]
struct PlotCaption;

/// The colour key of the detector's boxes, filled in when the first detections arrive.
#[derive(Component)]
struct BoxLegend;

/// The replay's progress bar and its filled part.
#[derive(Component)]
struct ScrubBar;

#[derive(Component)]
struct ScrubFill;

/// Where the scrub bar sits: `SCRUB_MARGIN` from both sides, `SCRUB_BOTTOM` above the bottom.
const SCRUB_MARGIN: f32 = 16.0;
const SCRUB_BOTTOM: f32 = 40.0;
const SCRUB_HEIGHT: f32 = 14.0;

#[derive(Component)]
struct ChaseCamera;

/// Where the chase camera sits: distance behind the car (zoomed with the wheel) and an angle
/// around it (dragged with the right button); Home in a live window puts it back.
#[derive(Resource, Clone, Copy, Debug, PartialEq)]
struct ChaseRig {
    distance_m: f32,
    yaw_rad: f32,
}

impl Default for ChaseRig {
    fn default() -> Self {
        Self {
            distance_m: 9.0,
            yaw_rad: 0.0,
        }
    }
}

#[derive(Resource)]
struct Script {
    events: Vec<Scripted>,
    next: usize,
}

#[derive(Resource)]
struct Clock {
    opened: Instant,
    frames: u64,
    measured_from: Option<Instant>,
    recent: std::collections::VecDeque<Instant>,
}

#[derive(Resource)]
struct Closing {
    seconds: Option<f64>,
    screenshot: Option<PathBuf>,
    requested: bool,
    done: Arc<Mutex<bool>>,
}

#[derive(Resource, Clone)]
struct Report(Arc<Mutex<WindowReport>>);

#[derive(Resource, Default)]
struct ManualKeys(f64, f64);

/// Opens the window on `link`'s snapshots, starting from `first`; returns when it is closed.
pub fn run(link: &Link, first: Snapshot, options: WindowOptions) -> Result<WindowReport> {
    check_display()?;
    let report = Report(Arc::new(Mutex::new(WindowReport::default())));
    let mut app = App::new();
    app.add_plugins(window_plugins(
        &options.title,
        options.size,
        options.any_thread,
    ))
    .add_plugins(SimMaterialPlugin)
    .insert_resource(Source {
        commands: link.commands.clone(),
        snapshots: link.snapshots.clone(),
    })
    .insert_resource(Current(first, 0))
    .insert_resource(Shown {
        world_id: None,
        car: None,
        version: None,
        legend: false,
    })
    .insert_resource(Script {
        events: options.script.clone(),
        next: 0,
    })
    .insert_resource(Clock {
        opened: Instant::now(),
        frames: 0,
        measured_from: None,
        recent: Default::default(),
    })
    .insert_resource(Closing {
        seconds: options.seconds,
        screenshot: options.screenshot.clone(),
        requested: false,
        done: Arc::new(Mutex::new(false)),
    })
    .insert_resource(ManualKeys::default())
    .insert_resource(ChaseRig::default())
    .insert_resource(report.clone())
    .add_systems(
        Startup,
        move |commands: Commands, images: ResMut<Assets<Image>>| {
            setup(commands, images, options.keys)
        },
    )
    .add_systems(First, start_clock)
    .add_systems(PreUpdate, play_script.after(InputSystems))
    .add_systems(
        Update,
        (keyboard, scrub, orbit, receive, draw_hud, close).chain(),
    )
    .add_systems(Last, count_frame);
    app.run();
    // The app's queue ends go with it, so that the source sees the window gone.
    drop(app);
    let out = report.0.lock().map(|r| r.clone()).unwrap_or_default();
    Ok(out)
}

/// Fails with what to do when no display can be reached (winit would panic instead).
pub fn check_display() -> Result<()> {
    const HINT: &str = "on a machine without a screen, run `Xvfb :99 &` and set DISPLAY=:99, or \
                        use the headless commands";
    if std::env::var_os("WAYLAND_DISPLAY").is_some() {
        return Ok(());
    }
    let Some(display) = std::env::var("DISPLAY").ok().filter(|d| !d.is_empty()) else {
        bail!("no display: DISPLAY and WAYLAND_DISPLAY are unset ({HINT})");
    };
    // `[host]:number[.screen]`: a local display is a socket under /tmp/.X11-unix, a remote one
    // listens on TCP port 6000 + number.
    let reachable = match display.rsplit_once(':') {
        Some((host, rest)) => {
            let number: Option<u16> = rest.split('.').next().and_then(|n| n.parse().ok());
            match (host, number) {
                (_, None) => true, // not a form we know: let the window system judge
                ("" | "unix", Some(n)) => {
                    std::os::unix::net::UnixStream::connect(format!("/tmp/.X11-unix/X{n}")).is_ok()
                }
                (host, Some(n)) => {
                    use std::net::ToSocketAddrs;
                    (host, 6000 + n)
                        .to_socket_addrs()
                        .ok()
                        .and_then(|mut a| a.next())
                        .is_some_and(|a| {
                            std::net::TcpStream::connect_timeout(
                                &a,
                                std::time::Duration::from_secs(2),
                            )
                            .is_ok()
                        })
                }
            }
        }
        None => true,
    };
    if !reachable {
        bail!("cannot reach the X display DISPLAY={display} ({HINT})");
    }
    Ok(())
}

fn rgba_image(width: u32, height: u32, nearest: bool) -> Image {
    let mut image = Image::new(
        Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        vec![0; (width * height * 4) as usize],
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::MAIN_WORLD | RenderAssetUsages::RENDER_WORLD,
    );
    if nearest {
        image.sampler = ImageSampler::nearest();
    }
    image
}

const INSET_SCALE: f32 = 3.0;
const PANEL: Color = Color::srgba(0.05, 0.05, 0.08, 0.72);

fn setup(mut commands: Commands, mut images: ResMut<Assets<Image>>, keys: &'static str) {
    commands.spawn((
        Camera3d::default(),
        Camera {
            order: 0,
            ..default()
        },
        Projection::Perspective(PerspectiveProjection {
            fov: 55f32.to_radians(),
            near: 0.1,
            far: 1500.0,
            ..default()
        }),
        Tonemapping::None,
        Msaa::Off,
        RenderLayers::from_layers(&[WORLD_LAYER, CAR_LAYER]),
        Transform::from_xyz(0.0, 5.0, 10.0).looking_at(Vec3::ZERO, Vec3::Y),
        ChaseCamera,
    ));
    // The inset is sized on the first snapshot; a PilotNet frame until then.
    let inset = images.add(rgba_image(200, 66, true));
    let plot_size = (600usize, 140usize);
    let plot = images.add(rgba_image(plot_size.0 as u32, plot_size.1 as u32, false));
    let text = |size: f32| TextFont::from_font_size(size);
    commands
        .spawn((
            Node {
                position_type: PositionType::Absolute,
                top: Val::Px(12.0),
                left: Val::Px(12.0),
                max_width: Val::Px(620.0),
                padding: UiRect::all(Val::Px(10.0)),
                ..default()
            },
            BackgroundColor(PANEL),
        ))
        .with_child((
            Text::new(""),
            text(16.0),
            TextColor(Color::WHITE),
            StatusText,
        ));

    commands
        .spawn((
            Node {
                position_type: PositionType::Absolute,
                top: Val::Px(12.0),
                right: Val::Px(12.0),
                width: Val::Px(200.0 * INSET_SCALE + 16.0),
                flex_direction: FlexDirection::Column,
                row_gap: Val::Px(6.0),
                padding: UiRect::all(Val::Px(8.0)),
                ..default()
            },
            BackgroundColor(PANEL),
        ))
        .with_children(|p| {
            p.spawn((
                Text::new("what the network sees"),
                text(14.0),
                TextColor(Color::srgb(0.8, 0.8, 0.85)),
            ));
            p.spawn((
                ImageNode::new(inset.clone()),
                Node {
                    width: Val::Px(200.0 * INSET_SCALE),
                    height: Val::Px(66.0 * INSET_SCALE),
                    ..default()
                },
            ));
            p.spawn((
                Text::new("boxes:"),
                text(13.0),
                TextColor(Color::srgb(0.8, 0.8, 0.85)),
                Node {
                    display: Display::None,
                    ..default()
                },
                BoxLegend,
            ));
            p.spawn((
                Text::new("steering distribution"),
                text(13.0),
                TextColor(Color::srgb(0.8, 0.8, 0.85)),
                PlotCaption,
            ));
            p.spawn((
                ImageNode::new(plot.clone()),
                Node {
                    width: Val::Px(plot_size.0 as f32),
                    height: Val::Px(plot_size.1 as f32),
                    ..default()
                },
            ));
        });
    commands.spawn((
        Text::new("REC"),
        text(22.0),
        TextColor(Color::srgb(1.0, 0.15, 0.15)),
        Node {
            position_type: PositionType::Absolute,
            bottom: Val::Px(44.0),
            left: Val::Px(16.0),
            ..default()
        },
        Visibility::Hidden,
        RecordingBadge,
    ));
    commands
        .spawn((
            Node {
                position_type: PositionType::Absolute,
                left: Val::Px(SCRUB_MARGIN),
                right: Val::Px(SCRUB_MARGIN),
                bottom: Val::Px(SCRUB_BOTTOM),
                height: Val::Px(SCRUB_HEIGHT),
                ..default()
            },
            BackgroundColor(PANEL),
            Visibility::Hidden,
            ScrubBar,
        ))
        .with_child((
            Node {
                width: Val::Percent(0.0),
                height: Val::Percent(100.0),
                ..default()
            },
            BackgroundColor(Color::srgb(0.35, 0.65, 1.0)),
            ScrubFill,
        ));
    commands.spawn((
        Text::new(keys),
        text(13.0),
        TextColor(Color::srgb(0.85, 0.85, 0.9)),
        Node {
            position_type: PositionType::Absolute,
            bottom: Val::Px(12.0),
            left: Val::Px(16.0),
            ..default()
        },
        BackgroundColor(PANEL),
    ));
    commands.insert_resource(Hud {
        inset,
        plot,
        plot_size,
    });
}

/// Script times, `--seconds` and the frame count start at the first frame, when the window
/// exists (creating it and the first pipelines can take a second on a CPU renderer).
fn start_clock(mut clock: ResMut<Clock>, mut started: Local<bool>) {
    if !*started {
        *started = true;
        clock.opened = Instant::now();
    }
}

/// Presses and releases what the script says is due, as real input would; a release of
/// something pressed in this frame waits for the next, so that every press is seen held.
fn play_script(
    mut script: ResMut<Script>,
    mut keys: ResMut<ButtonInput<KeyCode>>,
    mut mouse: ResMut<ButtonInput<MouseButton>>,
    mut windows: Query<&mut Window, With<bevy::window::PrimaryWindow>>,
    clock: Res<Clock>,
) {
    let now = clock.opened.elapsed().as_secs_f64();
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

/// Keys to commands. One map serves both sources: a live session ignores the replay's commands
/// (seek, speed) and a replay the driving ones, so the arrows drive live and scrub a replay.
fn keyboard(
    keys: Res<ButtonInput<KeyCode>>,
    source: Res<Source>,
    mut manual: ResMut<ManualKeys>,
    mut exit: MessageWriter<AppExit>,
) {
    let send = |c: Command| {
        let _ = source.commands.send(c);
    };
    let shift = keys.pressed(KeyCode::ShiftLeft) || keys.pressed(KeyCode::ShiftRight);
    for key in keys.get_just_pressed() {
        match key {
            KeyCode::Tab => send(Command::CycleDriver),
            KeyCode::Digit1 => send(Command::SetDriver(Driver::Manual)),
            KeyCode::Digit2 => send(Command::SetDriver(Driver::Expert)),
            KeyCode::Digit3 => send(Command::SetDriver(Driver::Policy)),
            KeyCode::Space => send(Command::TogglePause),
            KeyCode::Period => send(Command::Step),
            KeyCode::KeyR => send(Command::Reset),
            KeyCode::KeyN => send(Command::NextScenario),
            KeyCode::KeyC => send(Command::ToggleRecording),
            KeyCode::Home => send(Command::Seek(i64::MIN)),
            KeyCode::ArrowUp => send(Command::Speed(2.0)),
            KeyCode::ArrowDown => send(Command::Speed(0.5)),
            KeyCode::ArrowLeft => send(Command::Seek(if shift { -10 } else { -1 })),
            KeyCode::ArrowRight => send(Command::Seek(if shift { 10 } else { 1 })),
            KeyCode::Escape => {
                exit.write(AppExit::Success);
            }
            _ => {}
        }
    }
    let axis = |plus: [KeyCode; 2], minus: [KeyCode; 2]| {
        keys.any_pressed(plus) as i32 as f64 - keys.any_pressed(minus) as i32 as f64
    };
    let steer = axis(
        [KeyCode::ArrowLeft, KeyCode::KeyA],
        [KeyCode::ArrowRight, KeyCode::KeyD],
    );
    let throttle = axis(
        [KeyCode::ArrowUp, KeyCode::KeyW],
        [KeyCode::ArrowDown, KeyCode::KeyS],
    );
    if (steer, throttle) != (manual.0, manual.1) {
        *manual = ManualKeys(steer, throttle);
        send(Command::Manual { steer, throttle });
    }
}

/// The mouse wheel zooms the chase camera in and out; dragging with the right button turns it
/// around the car; Home puts it back behind.
fn orbit(
    scroll: Res<bevy::input::mouse::AccumulatedMouseScroll>,
    motion: Res<bevy::input::mouse::AccumulatedMouseMotion>,
    buttons: Res<ButtonInput<MouseButton>>,
    keys: Res<ButtonInput<KeyCode>>,
    mut rig: ResMut<ChaseRig>,
) {
    if scroll.delta.y != 0.0 {
        rig.distance_m = (rig.distance_m * 0.9f32.powf(scroll.delta.y)).clamp(3.0, 60.0);
    }
    if buttons.pressed(MouseButton::Right) {
        rig.yaw_rad -= motion.delta.x * 0.006;
    }
    if keys.just_pressed(KeyCode::Home) {
        *rig = ChaseRig::default();
    }
}

/// A click or drag on the replay's progress bar seeks to that frame.
fn scrub(
    buttons: Res<ButtonInput<MouseButton>>,
    windows: Query<&Window, With<bevy::window::PrimaryWindow>>,
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
        let _ = source.commands.send(Command::SeekTo(index));
    }
}

/// Takes the newest snapshot, rebuilds the world when it changed, and moves the car and the
/// chase camera.
fn receive(world: &mut World) {
    let source = world.resource::<Source>();
    let newest = source.snapshots.try_iter().last();
    if newest.is_none()
        && matches!(
            source.snapshots.try_recv(),
            Err(crossbeam_channel::TryRecvError::Disconnected)
        )
    {
        // The source ended (an error it returns is printed when the window closes).
        let mut current = world.resource_mut::<Current>();
        if current.0.playback.is_none() && !current.0.paused {
            current.0.paused = true;
            current.0.message = Some("the simulation stopped: close the window to see why".into());
            current.1 += 1;
        }
    }
    if let Some(s) = newest {
        let report = world.resource::<Report>().clone();
        if let Ok(mut r) = report.0.lock() {
            if let Some(live) = s.policy.as_ref().and_then(|p| p.live) {
                let n = r.latencies as f64;
                r.mean_latency_ms =
                    Some((r.mean_latency_ms.unwrap_or(0.0) * n + live.latency_ms) / (n + 1.0));
                r.latencies += 1;
            }
            r.snapshots += 1;
        }
        let mut current = world.resource_mut::<Current>();
        current.0 = s;
        current.1 += 1;
    }
    let classes = (!world.resource::<Shown>().legend)
        .then(|| {
            let s = &world.resource::<Current>().0;
            s.detections.as_ref().map(|d| d.classes.clone())
        })
        .flatten();
    if let Some(classes) = classes {
        let legend: Vec<Entity> = world
            .query_filtered::<Entity, With<BoxLegend>>()
            .iter(world)
            .collect();
        for entity in legend {
            if let Some(mut node) = world.get_mut::<Node>(entity) {
                node.display = Display::Flex;
            }
            for (i, name) in classes.iter().enumerate() {
                let [r, g, b] = BOX_COLOURS[i % BOX_COLOURS.len()];
                world.spawn((
                    TextSpan::new(format!("  {name}")),
                    TextFont::from_font_size(13.0),
                    TextColor(Color::srgb_u8(r, g, b)),
                    ChildOf(entity),
                ));
            }
        }
        world.resource_mut::<Shown>().legend = true;
    }
    let (world_id, scenario, vehicle) = {
        let s = &world.resource::<Current>().0;
        (s.world_id, s.scenario.clone(), s.state.vehicle)
    };
    if world.resource::<Shown>().world_id != Some(world_id) {
        let old: Vec<Entity> = world
            .query_filtered::<Entity, With<Scenery>>()
            .iter(world)
            .collect();
        for e in old {
            world.despawn(e);
        }
        if let Some(car) = world.resource_mut::<Shown>().car.take() {
            world.despawn(car);
        }
        match scenario.build_track() {
            Ok(track) => {
                spawn_static_world(world, &scenario, &track, false);
            }
            Err(e) => warn!("scenario {}: {e}", scenario.name),
        }
        let car = spawn_car(world, &scenario, 0);
        let mut shown = world.resource_mut::<Shown>();
        shown.world_id = Some(world_id);
        shown.car = Some(car);
    }
    let car_at = car_transform(&scenario, &vehicle);
    if let Some(car) = world.resource::<Shown>().car
        && let Some(mut t) = world.get_mut::<Transform>(car)
    {
        *t = car_at;
    }
    // Behind and above the car (or where the mouse turned it), looking a little ahead of it;
    // eased so that it does not jerk.
    let rig = *world.resource::<ChaseRig>();
    let forward = car_at.rotation * Vec3::X;
    let back = Quat::from_rotation_y(rig.yaw_rad) * -forward;
    let eye = car_at.translation + back * rig.distance_m + Vec3::Y * (0.4 * rig.distance_m);
    let ahead = rig.distance_m * 0.6 * rig.yaw_rad.cos().max(0.0);
    let target = car_at.translation + forward * ahead + Vec3::Y * 0.8;
    let dt = world.resource::<Time>().delta_secs();
    let mut cameras = world.query_filtered::<&mut Transform, With<ChaseCamera>>();
    for mut t in cameras.iter_mut(world) {
        let ease = 1.0 - (-dt * 6.0).exp();
        let far = t.translation.distance(eye) > 3.0 * rig.distance_m + 10.0;
        t.translation = if far {
            eye
        } else {
            t.translation.lerp(eye, ease)
        };
        t.look_at(target, Vec3::Y);
    }
}

fn frame_rgba(frame: &Frame) -> Vec<u8> {
    frame
        .rgb
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect()
}

type BadgeOnly = (
    With<RecordingBadge>,
    Without<StatusText>,
    Without<PlotCaption>,
);
type CaptionOnly = (
    With<PlotCaption>,
    Without<StatusText>,
    Without<RecordingBadge>,
);

// A Bevy system: every parameter is a resource or a query it needs.
#[allow(clippy::too_many_arguments)]
fn draw_hud(
    current: Res<Current>,
    mut shown: ResMut<Shown>,
    hud: Res<Hud>,
    clock: Res<Clock>,
    mut images: ResMut<Assets<Image>>,
    mut status: Query<&mut Text, With<StatusText>>,
    mut badge: Query<(&mut Visibility, &mut Text), BadgeOnly>,
    mut caption: Query<&mut Text, CaptionOnly>,
    mut bar: Query<&mut Visibility, (With<ScrubBar>, Without<RecordingBadge>)>,
    mut fill: Query<&mut Node, With<ScrubFill>>,
) {
    let s = &current.0;
    if shown.version == Some(current.1) {
        return;
    }
    shown.version = Some(current.1);
    if let Some(mut image) = images.get_mut(&hud.inset) {
        let (w, h) = (s.frame.width, s.frame.height);
        if image.width() != w || image.height() != h {
            *image = rgba_image(w, h, true);
        }
        let mut rgba = frame_rgba(&s.frame);
        if let Some(d) = &s.detections {
            for (b, _) in d.boxes.iter().filter(|(b, _)| b.score >= hud::BOX_SCORE) {
                let colour = BOX_COLOURS[b.class % BOX_COLOURS.len()];
                draw_outline(&mut rgba, w as usize, 4, &b.bbox, colour);
            }
        }
        image.data = Some(rgba);
    }
    if let Some(mut image) = images.get_mut(&hud.plot) {
        let (w, h) = hud.plot_size;
        let distribution = s.policy.as_ref().map(|p| &p.distribution);
        let chosen = s.applied.map(|a| a.curvature_per_m);
        let expert = Some(s.expert.curvature_per_m);
        let range = hud::plot_range(distribution, chosen, expert);
        image.data = Some(hud::distribution_plot(
            (w, h),
            range,
            distribution,
            chosen,
            expert,
        ));
        for mut text in &mut caption {
            text.0 = format!(
                "steering distribution, curvature -{range} .. +{range} 1/m, left turns on the left \
                 (white: applied, green: expert)"
            );
        }
    }
    let fps = match (clock.recent.front(), clock.recent.back()) {
        (Some(a), Some(b)) if clock.recent.len() > 1 => {
            (clock.recent.len() - 1) as f64 / (*b - *a).as_secs_f64().max(1e-9)
        }
        _ => 0.0,
    };
    for mut text in &mut status {
        text.0 = hud::status_lines(s, fps).join("\n");
    }
    for mut visibility in &mut bar {
        *visibility = if s.playback.is_some() {
            Visibility::Visible
        } else {
            Visibility::Hidden
        };
    }
    if let Some((index, count, _)) = s.playback {
        for mut node in &mut fill {
            node.width = Val::Percent(100.0 * (index + 1) as f32 / count.max(1) as f32);
        }
    }
    for (mut visibility, mut text) in &mut badge {
        match &s.recording {
            Some((path, frames)) => {
                *visibility = Visibility::Visible;
                text.0 = format!(
                    "[REC] {frames} frames to {}",
                    path.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                );
            }
            None => *visibility = Visibility::Hidden,
        }
    }
}

fn count_frame(mut clock: ResMut<Clock>, report: Res<Report>) {
    let now = Instant::now();
    clock.frames += 1;
    clock.recent.push_back(now);
    while clock.recent.len() > 60 {
        clock.recent.pop_front();
    }
    if clock.opened.elapsed().as_secs_f64() < 1.0 {
        return;
    }
    let from = *clock.measured_from.get_or_insert(now);
    if let Ok(mut r) = report.0.lock() {
        r.frames += 1;
        r.seconds = (now - from).as_secs_f64();
    }
}

fn close(
    mut commands: Commands,
    mut closing: ResMut<Closing>,
    clock: Res<Clock>,
    current: Res<Current>,
    report: Res<Report>,
    mut exit: MessageWriter<AppExit>,
) {
    let Some(seconds) = closing.seconds else {
        return;
    };
    if clock.opened.elapsed().as_secs_f64() < seconds {
        return;
    }
    if let Ok(mut r) = report.0.lock() {
        r.last = Some(current.0.clone());
    }
    match closing.screenshot.clone() {
        None => {
            exit.write(AppExit::Success);
        }
        Some(path) => {
            if !closing.requested {
                closing.requested = true;
                let done = closing.done.clone();
                let report = report.0.clone();
                commands.spawn(Screenshot::primary_window()).observe(
                    move |shot: On<ScreenshotCaptured>| {
                        let saved = save_screenshot(&shot.image, &path);
                        if let Ok(mut r) = report.lock() {
                            r.screenshot = saved.then(|| path.clone());
                        }
                        if let Ok(mut d) = done.lock() {
                            *d = true;
                        }
                    },
                );
            }
            if closing.done.lock().map(|d| *d).unwrap_or(true) {
                exit.write(AppExit::Success);
            }
        }
    }
}

fn save_screenshot(image: &Image, path: &std::path::Path) -> bool {
    let Ok(dynamic) = image.clone().try_into_dynamic() else {
        error!(
            "screenshot: unsupported texture format {:?}",
            image.texture_descriptor.format
        );
        return false;
    };
    let rgb = dynamic.to_rgb8();
    let frame = Frame {
        tick: 0,
        agent: 0,
        width: rgb.width(),
        height: rgb.height(),
        rgb: rgb.into_raw(),
    };
    match frame.save_png(path) {
        Ok(()) => true,
        Err(e) => {
            error!("screenshot: {e}");
            false
        }
    }
}
