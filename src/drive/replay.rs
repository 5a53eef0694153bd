//! An episode's camera stream written out: PNG files or a GIF with the recorded action, the
//! expert's and the policy's distributions drawn over each frame (and the map beside it), the
//! whole drive or the passage through one junction of its route; or re-simulated and
//! re-rendered from its actions with a frame-by-frame hash check.

use crate::drive::resimulate::{Counterfactual, Resimulation, resimulate};
use crate::error::{Error, Result};
use crate::nn::SteeringDistribution;
use crate::record::{EpisodeReader, Step};
use crate::report::gif::GifWriter;
use crate::sim::Frame;
use std::path::{Path, PathBuf};

/// What to write of an episode.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// An animated GIF of the frames.
    pub gif: Option<PathBuf>,
    /// A folder of PNG files, one per frame.
    pub frames: Option<PathBuf>,
    /// Re-simulate and re-render the drive under this view instead of reading its frames.
    pub resimulate: Option<Counterfactual>,
    /// Only the passage through the route's N-th junction (1 for the first), from 3 s before
    /// its turn path to 3 s after.
    pub junction: Option<u32>,
}

/// What an export wrote.
#[derive(Debug)]
pub struct Exported {
    /// Frames written.
    pub frames: u64,
    /// The GIF, when one was asked for.
    pub gif: Option<PathBuf>,
    /// The re-simulation's comparison with the recorded frames, when it re-simulated.
    pub resimulation: Option<Resimulation>,
    /// Where the recording ends early, when it does.
    pub cut: Option<String>,
}

/// Writes `file`'s frames as `options` ask.
pub fn export(file: &Path, options: &ExportOptions) -> Result<Exported> {
    let episode = EpisodeReader::open(file)?;
    let mut sink = FrameSink::new(
        options.gif.as_deref(),
        options.frames.as_deref(),
        episode.scenario.dt_s,
    )?;
    if let Some(view) = &options.resimulate {
        let r = resimulate(&episode, view, &mut |frame, step| sink.push(frame, step))?;
        return Ok(Exported {
            frames: r.frames,
            gif: sink.finish(),
            cut: r.cut.clone(),
            resimulation: Some(r),
        });
    }
    let mut steps = episode.steps(true)?;
    let margin = (3.0 / episode.scenario.dt_s).round() as usize;
    let mut window = options.junction.map(|n| JunctionWindow::new(n, margin));
    let mut pushed = 0;
    for step in steps.by_ref() {
        let Some(frame) = &step.frame else { continue };
        match window.as_mut() {
            None => {
                sink.push(frame, &step)?;
                pushed += 1;
            }
            Some(w) => {
                for s in w.offer(step.clone()) {
                    if let Some(frame) = &s.frame {
                        sink.push(frame, &s)?;
                        pushed += 1;
                    }
                }
            }
        }
    }
    if let Some(n) = options.junction
        && pushed == 0
    {
        return Err(Error::InvalidArgument(format!(
            "{}: the drive passes fewer than {n} junction(s) (or was not recorded in a town)",
            file.display()
        )));
    }
    Ok(Exported {
        frames: pushed,
        gif: sink.finish(),
        resimulation: None,
        cut: steps.outcome().cut.as_ref().map(|cut| cut.to_string()),
    })
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
            crate::files::create_dir_all(d)?;
        }
        let delay_cs = (dt_s * 100.0).round().max(1.0) as u16;
        Ok(Self {
            dir: dir.map(Path::to_path_buf),
            gif: gif_path.map(|p| GifWriter::new(p, delay_cs)),
        })
    }

    fn push(&mut self, frame: &Frame, step: &Step) -> Result<()> {
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
            gif.push(shown.width, shown.height, &shown.rgb)?;
        }
        Ok(())
    }

    fn finish(self) -> Option<PathBuf> {
        self.gif.map(GifWriter::finish)
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
