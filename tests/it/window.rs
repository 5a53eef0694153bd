//! The window on a virtual display (Xvfb, installed by `scripts/setup.sh`), driven by scripted
//! keys: live driving with a policy, recording from the window, and the replay viewer. The
//! screenshots are taken through Bevy's screenshot API and checked by pixel statistics.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use steerlab::nn::ModelDir;
use steerlab::sim::Frame;

/// An Xvfb server on a display of its own, stopped on drop.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Xvfb {
        for n in 90 + std::process::id() % 50..200 {
            if Path::new(&format!("/tmp/.X{n}-lock")).exists() {
                continue;
            }
            // A socket without a lock is left from a server that died: not a server to wait for.
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
            let _ = std::fs::remove_file(&socket);
            // -noreset: by default the server resets when its last client leaves, and a window
            // opened during the reset fails to connect (XOpenDisplayFailed).
            let child = Command::new("Xvfb")
                .arg(format!(":{n}"))
                .args([
                    "-screen",
                    "0",
                    "1280x800x24",
                    "-nolisten",
                    "tcp",
                    "-noreset",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("Xvfb is not installed: run scripts/setup.sh (Debian package xvfb)");
            let started = Instant::now();
            while !socket.exists() && started.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(50));
            }
            assert!(socket.exists(), "Xvfb :{n} did not start");
            return Xvfb {
                child,
                display: format!(":{n}"),
            };
        }
        panic!("no free X display number");
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        // SIGTERM lets the server remove its lock file and socket; SIGKILL would leave them.
        // SAFETY: signals our own child process.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// The share of pixels of `frame` inside `region` (x0, y0, x1, y1) within `tolerance` of
/// `colour` on every channel.
fn share(frame: &Frame, region: (u32, u32, u32, u32), colour: [u8; 3], tolerance: u8) -> f64 {
    let (x0, y0, x1, y1) = region;
    let mut hits = 0u64;
    for y in y0..y1 {
        for x in x0..x1 {
            let p = frame.pixel(x, y);
            if (0..3).all(|c| p[c].abs_diff(colour[c]) <= tolerance) {
                hits += 1;
            }
        }
    }
    hits as f64 / ((x1 - x0) * (y1 - y0)) as f64
}

fn run(display: &str, args: &[&str], extra: &[&Path]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_steerlab"))
        .env("DISPLAY", display)
        .args(args)
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_window_drives_records_and_replays_under_xvfb() {
    let x = Xvfb::start();
    let dir = crate::tempdir("window");
    let model = dir.join("model");
    steerlab::nn::Model::new(steerlab::nn::ModelConfig::pilotnet(), 0)
        .unwrap()
        .save(&model)
        .unwrap();
    // An untrained detector: its boxes score too low to be drawn, but it runs beside the policy.
    let detector = dir.join("detector");
    let classes = steerlab::nn::data::detections::BoxedImages::new().classes;
    steerlab::nn::models::detect::Detector::new(
        steerlab::nn::models::detect::DetectorConfig::pilotnet(classes),
        0,
    )
    .unwrap()
    .save(&detector)
    .unwrap();
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/winding.ron");
    let shot = dir.join("live.png");
    let records = dir.join("records");
    // Record from the start; the keyboard steers left for a second, then the policy drives;
    // the recording stops before the window closes.
    let script = "0.3 c; 1 1; 1.2 Left down; 2.2 Left up; 2.4 3; 4.6 c";
    let stdout = run(
        &x.display,
        &["sim", "--seconds", "5.5", "--script", script, "--scenario"],
        &[
            &scenario,
            Path::new("--model"),
            &model,
            Path::new("--detector"),
            &detector,
            Path::new("--record-dir"),
            &records,
            Path::new("--screenshot"),
            &shot,
        ],
    );
    assert!(stdout.contains("frames/s"), "{stdout}");
    assert!(stdout.contains("driver policy"), "{stdout}");
    assert!(stdout.contains("latency"), "{stdout}");
    assert!(stdout.contains("detector: 0 objects"), "{stdout}");
    let png = std::fs::read(&shot).unwrap();
    let frame = Frame::from_png(&png, 0, 0).unwrap();
    assert_eq!((frame.width, frame.height), (1280, 720));
    // The world: sky between the panels above the horizon, asphalt below it.
    let sky = share(&frame, (20, 215, 640, 242), [135, 184, 235], 14);
    let road = share(&frame, (500, 520, 780, 700), [61, 61, 66], 25);
    // The HUD: the inset (3× the 200×66 frame, top right) shows sky too, the distribution
    // curve and the expert's marker are drawn under it, the status panel has white text.
    let inset_sky = share(&frame, (668, 50, 1250, 100), [135, 184, 235], 14);
    let curve = share(&frame, (660, 285, 1260, 425), [90, 170, 255], 10);
    let expert = share(&frame, (660, 285, 1260, 425), [60, 230, 90], 10);
    let text = share(&frame, (14, 14, 600, 180), [255, 255, 255], 40);
    println!(
        "sky {sky:.3} road {road:.3} inset sky {inset_sky:.3} curve {curve:.4} expert {expert:.4} text {text:.3}"
    );
    assert!(sky > 0.4, "no sky in the chase view: {sky}");
    assert!(road > 0.3, "no road in the chase view: {road}");
    assert!(inset_sky > 0.5, "no camera frame in the inset: {inset_sky}");
    assert!(
        curve > 0.001 && expert > 0.0005,
        "no distribution plot: {curve} {expert}"
    );
    assert!(text > 0.02, "no status text: {text}");

    // The recording made from the window: the keyboard's and the policy's ticks, a
    // distribution with each policy tick.
    let recorded: Vec<PathBuf> = std::fs::read_dir(&records)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let episode = steerlab::record::EpisodeReader::open(&recorded[0]).unwrap();
    let steps: Vec<_> = episode.steps(false).unwrap().collect();
    assert!(steps.len() > 40, "{} steps", steps.len());
    let drivers: std::collections::BTreeSet<&str> =
        steps.iter().map(|s| s.driver.as_str()).collect();
    assert!(
        drivers.contains("keyboard") && drivers.contains("policy"),
        "{drivers:?}"
    );
    assert!(
        steps
            .iter()
            .filter(|s| s.driver == "policy")
            .all(|s| s.distribution.is_some())
    );

    // The viewer plays it: paused after half a second, stepped on, then a click in the middle
    // of the progress bar (16 px from each side, 40 px above the bottom) seeks half way.
    let shot = dir.join("replay.png");
    let stdout = run(
        &x.display,
        &[
            "replay",
            "--seconds",
            "3",
            "--script",
            "0.5 Space; 1 Right; 1.3 Right; 1.8 click 640 673",
        ],
        &[&recorded[0], Path::new("--screenshot"), &shot],
    );
    let position = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("replay frame "))
        .and_then(|rest| {
            let mut words = rest.split_whitespace();
            let index: usize = words.next()?.parse().ok()?;
            let count: usize = words.nth(1)?.parse().ok()?;
            Some((index, count))
        });
    let Some((index, count)) = position else {
        panic!("no replay position in {stdout}");
    };
    assert_eq!(count, steps.len(), "{stdout}");
    assert!(index.abs_diff(count / 2) <= 2, "{stdout}");
    let frame = Frame::from_png(&std::fs::read(&shot).unwrap(), 0, 0).unwrap();
    let inset_sky = share(&frame, (668, 50, 1250, 100), [135, 184, 235], 14);
    let sky = share(&frame, (20, 215, 640, 242), [135, 184, 235], 14);
    assert!(inset_sky > 0.5 && sky > 0.4, "{inset_sky} {sky}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn input_scripts_parse_and_bad_entries_are_named() {
    use steerlab::app::window::{Key, ScriptInput, Scripted, parse_script};
    let script = parse_script("2 Left down; 1 tab\n 3.5 left up; 4 click 640 676").unwrap();
    let at = |at_s: f64, input: ScriptInput, down: bool| Scripted { at_s, input, down };
    assert_eq!(
        script,
        vec![
            at(1.0, ScriptInput::Key(Key::Tab), true),
            at(1.0, ScriptInput::Key(Key::Tab), false),
            at(2.0, ScriptInput::Key(Key::Left), true),
            at(3.5, ScriptInput::Key(Key::Left), false),
            at(4.0, ScriptInput::Click([640.0, 676.0]), true),
            at(4.0, ScriptInput::Click([640.0, 676.0]), false),
        ]
    );
    for (bad, named) in [
        ("1 Q", "unknown key `Q`"),
        ("soon Tab", "`soon` is not a number of seconds"),
        ("1 Tab sideways", "`sideways` is neither down nor up"),
        ("1 click 3", "expected `SECONDS click X Y`"),
        ("1", "expected `SECONDS KEY [down|up]`"),
        ("1 click x 4", "`x` is not a pixel column"),
        ("NaN Tab", "the time must be from 0 to 86400 seconds"),
        ("inf Tab", "the time must be from 0 to 86400 seconds"),
        ("-1 Tab", "the time must be from 0 to 86400 seconds"),
        ("1 click NaN 4", "the click's pixel must be finite"),
    ] {
        let err = parse_script(bad).unwrap_err().to_string();
        assert!(err.contains(named), "{bad}: {err}");
    }
}

#[test]
fn a_scripted_key_is_held_for_a_frame_then_released() {
    use bevy::input::InputPlugin;
    use bevy::prelude::{App, ButtonInput, KeyCode, MinimalPlugins};
    use steerlab::app::window::{clock, parse_script, script};
    // Due at once: pressed in the first frame, released in the next (never pressed and
    // released in the same frame, which a system reading the keys would miss).
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, InputPlugin, clock::plugin, script::plugin))
        .insert_resource(script::Script::new(parse_script("0 Tab").unwrap()));
    app.update();
    let keys = app.world().resource::<ButtonInput<KeyCode>>();
    assert!(keys.just_pressed(KeyCode::Tab) && keys.pressed(KeyCode::Tab));
    assert!(!app.world().resource::<script::Script>().finished());
    app.update();
    let keys = app.world().resource::<ButtonInput<KeyCode>>();
    assert!(keys.just_released(KeyCode::Tab) && !keys.pressed(KeyCode::Tab));
    assert!(app.world().resource::<script::Script>().finished());
}
