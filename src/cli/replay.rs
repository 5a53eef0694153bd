//! `steerlab replay`: an episode's camera stream to PNGs or a GIF with the action drawn over
//! it, or re-simulated and re-rendered from its actions with a frame-by-frame hash check.

use crate::drive::resimulate::{Counterfactual, resimulate};
use crate::error::Error;
use crate::nn::SteeringDistribution;
use crate::record::{EpisodeReader, Step};
use crate::sim::Frame;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// Episode file (.mcap).
    pub file: PathBuf,
    /// Write the frames as an animated GIF.
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// Write the frames as PNG files into this folder.
    #[arg(long)]
    pub frames: Option<PathBuf>,
    /// Rebuild the world from the stored scenario and seed, re-apply the recorded actions and
    /// re-render; report how many frames match their recorded hashes.
    #[arg(long)]
    pub resimulate: bool,
    /// With --resimulate: render with another camera size (counterfactual views of the drive).
    #[arg(long, requires = "resimulate")]
    pub camera_width: Option<u32>,
    #[arg(long, requires = "resimulate")]
    pub camera_height: Option<u32>,
    /// With --resimulate: render under the lighting (sun, sky, fog) of this scenario file.
    #[arg(long, requires = "resimulate")]
    pub lighting_from: Option<PathBuf>,
    /// Export only the passage through the route's N-th junction (1 for the first), from 3 s
    /// before its turn path to 3 s after.
    #[arg(long, value_name = "N", conflicts_with = "resimulate", value_parser = clap::value_parser!(u32).range(1..))]
    pub junction: Option<u32>,
    /// The viewer window (opened when there is nothing to export or re-simulate).
    #[command(flatten)]
    pub window: super::sim::WindowArgs,
}

impl ReplayArgs {
    /// Exports `file` as the GIF `gif`: the whole drive, or the passage through the route's
    /// `junction`-th junction.
    pub(crate) fn gif(file: PathBuf, gif: PathBuf, junction: Option<u32>) -> Self {
        Self {
            file,
            export: Some(gif),
            frames: None,
            resimulate: false,
            camera_width: None,
            camera_height: None,
            lighting_from: None,
            junction,
            window: Default::default(),
        }
    }
}

pub fn run(args: &ReplayArgs) -> Result<ExitCode> {
    if args.export.is_none() && args.frames.is_none() && !args.resimulate {
        return view(args);
    }
    let episode = EpisodeReader::open(&args.file)?;
    let mut sink = FrameSink::new(
        args.export.as_deref(),
        args.frames.as_deref(),
        episode.scenario.dt_s,
    )?;
    if args.resimulate {
        let lighting = match &args.lighting_from {
            Some(path) => Some(crate::sim::Scenario::load(path)?.lighting),
            None => None,
        };
        let view = Counterfactual {
            camera_width: args.camera_width,
            camera_height: args.camera_height,
            lighting,
        };
        let r = resimulate(&episode, &view, &mut |frame, step| sink.push(frame, step))?;
        if let Some(cut) = &r.cut {
            eprintln!("warning: {}: {cut}", episode.path.display());
        }
        if r.compared > 0 {
            println!(
                "{} of {} re-rendered frames match their recorded hashes; max position error {:.2e} m",
                r.matching, r.compared, r.max_position_error_m
            );
        } else {
            println!(
                "re-rendered {} frames with the changed camera or lighting; max position error {:.2e} m",
                r.frames, r.max_position_error_m
            );
        }
        sink.finish()?;
        return Ok(if r.compared > 0 && r.matching != r.compared {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }
    let mut steps = episode.steps(true)?;
    let margin = (3.0 / episode.scenario.dt_s).round() as usize;
    let mut window = args.junction.map(|n| JunctionWindow::new(n, margin));
    let mut pushed = 0;
    for step in steps.by_ref() {
        let Some(frame) = &step.frame else { continue };
        match window.as_mut() {
            None => sink.push(frame, &step)?,
            Some(w) => {
                for s in w.offer(step.clone()) {
                    sink.push(s.frame.as_ref().expect("steps with frames only"), &s)?;
                    pushed += 1;
                }
            }
        }
    }
    if let Some(n) = args.junction
        && pushed == 0
    {
        anyhow::bail!(
            "{}: the drive passes fewer than {n} junction(s) (or was not recorded in a town)",
            args.file.display()
        );
    }
    sink.finish()?;
    if let Some(cut) = &steps.outcome().cut {
        eprintln!("warning: {}: {cut}", args.file.display());
    }
    match args.junction {
        Some(n) => println!("{pushed} frames through junction {n} of the route"),
        None => println!("replayed {} frames", steps.outcome().frames),
    }
    Ok(ExitCode::SUCCESS)
}

/// The episode in the viewer window: play, pause, step, scrub and change speed, with the
/// recorded action and distribution drawn under each frame.
fn view(args: &ReplayArgs) -> Result<ExitCode> {
    crate::app::window::check_display()?;
    let title = format!("steerlab replay: {}", args.file.display());
    let options = args.window.options(title, crate::app::hud::REPLAY_KEYS)?;
    let mut link = crate::app::replay::start(&args.file)?;
    let first = link.first(std::time::Duration::from_secs(60))?;
    let report = crate::app::window::run(&link, first, options);
    let closed = link.close();
    let report = report?;
    closed?;
    super::sim::print_report(&report);
    Ok(ExitCode::SUCCESS)
}

/// An animated GIF written frame by frame (all frames the size of the first), looping.
pub(crate) struct GifWriter {
    path: PathBuf,
    delay_cs: u16,
    encoder: Option<gif::Encoder<std::fs::File>>,
    size: Option<(u32, u32)>,
}

impl GifWriter {
    /// A GIF at `path` showing each frame for `delay_cs` hundredths of a second; the file is
    /// created with the first frame.
    pub(crate) fn new(path: &Path, delay_cs: u16) -> Self {
        Self {
            path: path.to_path_buf(),
            delay_cs: delay_cs.max(1),
            encoder: None,
            size: None,
        }
    }

    pub(crate) fn push(&mut self, frame: &Frame) -> crate::Result<()> {
        let size = (frame.width, frame.height);
        let (w, h) = (frame.width as u16, frame.height as u16);
        let path = self.path.clone();
        let failed = |message: String| Error::Output {
            path: path.clone(),
            message,
        };
        if self.encoder.is_none() {
            let file = std::fs::File::create(&self.path).map_err(|error| Error::Io {
                context: format!("creating {}", self.path.display()),
                error,
            })?;
            let mut encoder =
                gif::Encoder::new(file, w, h, &[]).map_err(|e| failed(e.to_string()))?;
            encoder
                .set_repeat(gif::Repeat::Infinite)
                .map_err(|e| failed(e.to_string()))?;
            self.encoder = Some(encoder);
            self.size = Some(size);
        }
        if self.size != Some(size) {
            return Err(failed("frame size changed within the episode".into()));
        }
        let mut g = gif::Frame::from_rgb_speed(w, h, &frame.rgb, 10);
        g.delay = self.delay_cs;
        self.encoder
            .as_mut()
            .expect("created above")
            .write_frame(&g)
            .map_err(|e| failed(e.to_string()))?;
        Ok(())
    }

    /// Closes the file and says where it is.
    pub(crate) fn finish(self) -> Result<()> {
        drop(self.encoder);
        println!("wrote {}", self.path.display());
        Ok(())
    }
}

/// Picks the steps around the N-th entry into a junction's turn path: `margin` steps before
/// it, the passage, and `margin` steps after leaving it.
struct JunctionWindow {
    wanted: u32,
    margin: usize,
    entries: u32,
    was_in: bool,
    before: std::collections::VecDeque<Step>,
    /// Steps still to give after the turn path was left (`None`: not left yet).
    after: Option<usize>,
    active: bool,
}

impl JunctionWindow {
    fn new(wanted: u32, margin: usize) -> Self {
        Self {
            wanted,
            margin,
            entries: 0,
            was_in: false,
            before: std::collections::VecDeque::new(),
            after: None,
            active: false,
        }
    }

    /// The steps to show now (none, one, or the buffered lead-in with this one).
    fn offer(&mut self, step: Step) -> Vec<Step> {
        let inside = step.route.as_ref().is_some_and(|r| r.in_junction);
        let entered = inside && !self.was_in;
        let left = !inside && self.was_in;
        self.was_in = inside;
        if entered {
            self.entries += 1;
            if self.entries == self.wanted {
                self.active = true;
                let mut out: Vec<Step> = self.before.drain(..).collect();
                out.push(step);
                return out;
            }
        }
        if self.active {
            if left && self.after.is_none() {
                self.after = Some(self.margin);
            }
            return match &mut self.after {
                Some(0) => {
                    self.active = false;
                    Vec::new()
                }
                Some(n) => {
                    *n -= 1;
                    vec![step]
                }
                None => vec![step],
            };
        }
        if self.entries < self.wanted {
            self.before.push_back(step);
            if self.before.len() > self.margin {
                self.before.pop_front();
            }
        }
        Vec::new()
    }
}

/// Where replayed frames go: PNG files and/or a GIF, each with the overlay drawn.
struct FrameSink {
    dir: Option<PathBuf>,
    gif: Option<GifWriter>,
}

impl FrameSink {
    fn new(gif_path: Option<&Path>, dir: Option<&Path>, dt_s: f64) -> Result<Self> {
        if let Some(d) = dir {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        let delay_cs = (dt_s * 100.0).round().max(1.0) as u16;
        Ok(Self {
            dir: dir.map(Path::to_path_buf),
            gif: gif_path.map(|p| GifWriter::new(p, delay_cs)),
        })
    }

    fn push(&mut self, frame: &Frame, step: &Step) -> crate::Result<()> {
        let mut shown = frame.clone();
        draw_overlay(&mut shown, step);
        if let Some(map) = step
            .map_png
            .as_deref()
            .and_then(|png| Frame::from_png(png, step.tick, 0).ok())
        {
            shown = beside(&shown, &map);
        }
        if let Some(dir) = &self.dir {
            shown.save_png(&dir.join(format!("{:06}.png", step.tick)))?;
        }
        if let Some(gif) = &mut self.gif {
            gif.push(&shown)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        match self.gif {
            Some(gif) => gif.finish(),
            None => Ok(()),
        }
    }
}

/// `frame` with `map` scaled (nearest pixel) to its height on its right.
fn beside(frame: &Frame, map: &Frame) -> Frame {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let side = h;
    let width = w + side;
    let mut rgb = vec![0u8; width * h * 3];
    for y in 0..h {
        rgb[y * width * 3..(y * width + w) * 3]
            .copy_from_slice(&frame.rgb[y * w * 3..(y + 1) * w * 3]);
        for x in 0..side {
            let (my, mx) = (
                y * map.height as usize / side,
                x * map.width as usize / side,
            );
            let src = (my * map.width as usize + mx) * 3;
            let dst = (y * width + w + x) * 3;
            rgb[dst..dst + 3].copy_from_slice(&map.rgb[src..src + 3]);
        }
    }
    Frame {
        tick: frame.tick,
        agent: frame.agent,
        width: width as u32,
        height: h as u32,
        rgb,
    }
}

/// A recorded mixture, when it is a valid one.
fn mixture(msg: Option<&crate::record::schema::DistributionMsg>) -> Option<SteeringDistribution> {
    msg.and_then(|m| SteeringDistribution::from_msg(m).ok())
}

/// Top of the speed strip's axis, m/s.
const SPEED_RANGE_M_S: f64 = 15.0;

/// Draws, along the bottom of the frame, the curvature axis (±0.2 1/m), the steering
/// distribution when the step has one, the expert's action (green) and the applied one (white);
/// when the policy set the speed, a strip up the right edge with its mixture over target speed
/// (0–15 m/s, bright where likely) and the expert's (green) and applied (white) speeds.
pub fn draw_overlay(frame: &mut Frame, step: &Step) {
    draw_speed_strip(frame, step);
    const RANGE: f64 = 0.2;
    let (w, h) = (frame.width as i64, frame.height as i64);
    let band = (h / 5).max(6);
    let top = h - band;
    let mut put = |x: i64, y: i64, c: [u8; 3]| {
        if x >= 0 && x < w && y >= 0 && y < h {
            let i = ((y * w + x) * 3) as usize;
            frame.rgb[i..i + 3].copy_from_slice(&c);
        }
    };
    for y in top..h {
        for x in 0..w {
            put(x, y, [20, 20, 20]);
        }
    }
    let column = |k: f64| ((k / RANGE).clamp(-1.0, 1.0) * 0.5 + 0.5) * (w - 1) as f64;
    let centre = column(0.0).round() as i64;
    for y in top..h {
        put(centre, y, [90, 90, 90]);
    }
    if let Some(d) = mixture(step.distribution.as_ref()) {
        let values: Vec<f64> = (0..w)
            .map(|x| d.pdf((x as f64 / (w - 1) as f64 * 2.0 - 1.0) * RANGE))
            .collect();
        let peak = values.iter().cloned().fold(1e-12, f64::max);
        for (x, v) in values.iter().enumerate() {
            let y = h - 1 - ((v / peak) * (band - 2) as f64).round() as i64;
            put(x as i64, y, [80, 160, 255]);
        }
    }
    let mut marker = |k: f64, c: [u8; 3]| {
        let x = column(k).round() as i64;
        for y in top..h {
            put(x, y, c);
            put(x + 1, y, c);
        }
    };
    marker(step.expert_action.curvature_per_m, [40, 220, 60]);
    if let Some(a) = step.action {
        marker(a.curvature_per_m, [255, 255, 255]);
    }
}

/// The speed strip of [`draw_overlay`], above the curvature band at the right edge.
fn draw_speed_strip(frame: &mut Frame, step: &Step) {
    let Some(d) = mixture(step.speed_distribution.as_ref()) else {
        return;
    };
    let (w, h) = (frame.width as i64, frame.height as i64);
    let top = h - (h / 5).max(6);
    let strip = (w / 24).max(4);
    if top < 4 || w <= strip {
        return;
    }
    let row = |v: f64| top - 1 - ((v / SPEED_RANGE_M_S).clamp(0.0, 1.0) * (top - 1) as f64) as i64;
    let values: Vec<f64> = (0..top)
        .map(|y| d.pdf((top - 1 - y) as f64 / (top - 1) as f64 * SPEED_RANGE_M_S))
        .collect();
    let peak = values.iter().cloned().fold(1e-12, f64::max);
    for (y, v) in values.iter().enumerate() {
        let level = (20.0 + 235.0 * v / peak) as u8;
        for x in w - strip..w {
            let i = ((y as i64 * w + x) * 3) as usize;
            frame.rgb[i..i + 3].copy_from_slice(&[level / 3, level / 2 + 20, level]);
        }
    }
    let mut mark = |v: f64, c: [u8; 3]| {
        let y = row(v);
        for x in w - strip..w {
            let i = ((y * w + x) * 3) as usize;
            frame.rgb[i..i + 3].copy_from_slice(&c);
        }
    };
    mark(step.expert_action.speed_m_s, [40, 220, 60]);
    if let Some(a) = step.action {
        mark(a.speed_m_s, [255, 255, 255]);
    }
}
