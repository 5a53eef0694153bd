//! The Bevy window: the driving world from a chase camera, the network's own camera frame as an
//! inset, the steering distribution and the figures of the drive in a HUD, the keyboard turned
//! into [`Command`](crate::app::session::Command)s. It shows [`Snapshot`]s from a source on
//! another thread (a live session or a replay) and never waits for one: without a new snapshot
//! it draws the last again.
//!
//! One plugin per concern, each owning its components, resources and systems: the
//! [`receiver`] of snapshots, the [`camera`] rig, the [`ui`] (HUD), keyboard and mouse
//! [`input`], the [`script`]s that stand in for a user in automation, the [`clock`] of the
//! frames, and the [`screenshot`] taken when the window closes by itself. Their order within a
//! frame is [`WindowSystems`], configured here and nowhere else.

mod camera;
pub mod clock;
mod input;
mod receiver;
mod schedule;
mod screenshot;
pub mod script;
mod ui;

pub use crate::app::script::{Key, ScriptInput, Scripted, parse_script};
pub use schedule::WindowReport;
use schedule::{Report, WindowSystems};

use crate::app::session::{Link, Snapshot};
use crate::world::env::window_plugins;
use crate::world::material::SimMaterialPlugin;
use anyhow::{Result, bail};
use bevy::prelude::*;
use std::path::PathBuf;

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

/// Opens the window on `link`'s snapshots, starting from `first`; returns when it is closed.
pub fn run(link: &Link, first: Snapshot, options: WindowOptions) -> Result<WindowReport> {
    check_display()?;
    let report = Report::default();
    let mut app = App::new();
    app.add_plugins(window_plugins(
        &options.title,
        options.size,
        options.any_thread,
    ))
    .add_plugins(SimMaterialPlugin)
    .configure_sets(
        Update,
        (
            WindowSystems::Input,
            WindowSystems::Receive,
            WindowSystems::Stage,
            WindowSystems::Camera,
            WindowSystems::Hud,
            WindowSystems::Close,
        )
            .chain(),
    )
    .insert_resource(report.clone())
    .insert_resource(receiver::Source::new(link))
    .insert_resource(receiver::Current(first))
    .insert_resource(script::Script::new(options.script))
    .insert_resource(ui::KeyLegend(options.keys))
    .insert_resource(screenshot::Closing {
        seconds: options.seconds,
        screenshot: options.screenshot,
    })
    .add_plugins((
        clock::plugin,
        receiver::plugin,
        camera::plugin,
        ui::plugin,
        input::plugin,
        script::plugin,
        screenshot::plugin,
    ));
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
