//! `steerlab sim`: the driving world in a window, with the keyboard, the expert or a trained
//! policy at the wheel.

use crate::app::hud;
use crate::app::session::{self, Driver, SessionOptions};
use crate::app::window::{self, WindowOptions, WindowReport};
use crate::drive::InterventionRule;
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Options shared by the live window and the replay viewer.
#[derive(clap::Args, Debug, Clone)]
pub struct WindowArgs {
    /// Window size in pixels.
    #[arg(long, default_value_t = 1280)]
    pub width: u32,
    #[arg(long, default_value_t = 720)]
    pub height: u32,
    /// Scripted keys, `SECONDS KEY [down|up]` separated by `;` (for demos and tests), e.g.
    /// `"1 3; 2 Left down; 2.5 Left up"`.
    #[arg(long)]
    pub script: Option<String>,
    /// Close the window after this many seconds.
    #[arg(long, value_parser = crate::cli::inputs::parse_seconds)]
    pub seconds: Option<f64>,
    /// Save the window as a PNG just before it closes (needs --seconds).
    #[arg(long, requires = "seconds")]
    pub screenshot: Option<PathBuf>,
}

impl Default for WindowArgs {
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            script: None,
            seconds: None,
            screenshot: None,
        }
    }
}

impl WindowArgs {
    pub fn options(&self, title: String, keys: &'static str) -> Result<WindowOptions> {
        Ok(WindowOptions {
            title,
            size: (self.width, self.height),
            script: match &self.script {
                Some(s) => window::parse_script(s)?,
                None => Vec::new(),
            },
            seconds: self.seconds,
            screenshot: self.screenshot.clone(),
            keys,
            any_thread: false,
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct SimArgs {
    /// Scenario files (RON); the built-in ones when none are given (N switches to the next).
    #[arg(long)]
    pub scenario: Vec<PathBuf>,
    /// A steering model directory: the policy can drive and its distribution is drawn.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A detector directory (`train-detector`): its boxes are drawn over the network's frame.
    #[arg(long)]
    pub detector: Option<PathBuf>,
    /// The policy steers and the car drives at the expert's speed, even when the model has a
    /// speed head of its own.
    #[arg(long, requires = "model")]
    pub expert_speed: bool,
    /// Who drives first (default: the policy with --model, else the expert).
    #[arg(long, value_enum)]
    pub driver: Option<Driver>,
    /// Where recordings made with the C key go.
    #[arg(long, default_value = "runs/window")]
    pub record_dir: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub window: WindowArgs,
}

/// Prints what the window measured.
pub fn print_report(r: &WindowReport) {
    println!(
        "window: {} frames in {:.1} s after the first second: {:.1} frames/s",
        r.frames,
        r.seconds,
        r.frames_per_s()
    );
    if let Some(ms) = r.mean_latency_ms {
        println!("policy inference latency (as the HUD showed it): mean {ms:.1} ms");
    }
    if let Some(s) = &r.last {
        for line in hud::status_lines(s, r.frames_per_s()) {
            println!("  {line}");
        }
    }
    if let Some(p) = &r.screenshot {
        println!("screenshot: {}", p.display());
    }
}

pub fn run(args: &SimArgs) -> Result<ExitCode> {
    // Before building any world: say at once when no window can open.
    window::check_display()?;
    let scenarios = super::inputs::load_scenarios(&args.scenario)?;
    let driver = args.driver.unwrap_or(if args.model.is_some() {
        Driver::Policy
    } else {
        Driver::Expert
    });
    let options = args
        .window
        .options(format!("steerlab: {}", scenarios[0].name), hud::LIVE_KEYS)?;
    let mut link = session::start(SessionOptions {
        scenarios,
        model: args.model.clone(),
        detector: args.detector.clone(),
        expert_speed: args.expert_speed,
        driver,
        seed: args.seed,
        record_dir: args.record_dir.clone(),
        rule: InterventionRule::default(),
    })?;
    let first = link.first(Duration::from_secs(300))?;
    let report = window::run(&link, first, options);
    let closed = link.close();
    let report = report?;
    closed?;
    print_report(&report);
    Ok(ExitCode::SUCCESS)
}
