//! `steerlab replay`: an episode's camera stream to PNGs or a GIF with the action drawn over
//! it, or re-simulated and re-rendered from its actions with a frame-by-frame hash check.

use crate::drive::replay::{ExportOptions, export};
use crate::drive::resimulate::Counterfactual;
use anyhow::Result;
use std::path::PathBuf;
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

pub fn run(args: &ReplayArgs) -> Result<ExitCode> {
    if args.export.is_none() && args.frames.is_none() && !args.resimulate {
        return view(args);
    }
    let resimulate = match args.resimulate {
        false => None,
        true => Some(Counterfactual {
            camera_width: args.camera_width,
            camera_height: args.camera_height,
            lighting: match &args.lighting_from {
                Some(path) => Some(crate::sim::Scenario::load(path)?.lighting),
                None => None,
            },
        }),
    };
    let options = ExportOptions {
        gif: args.export.clone(),
        frames: args.frames.clone(),
        resimulate,
        junction: args.junction,
    };
    let out = export(&args.file, &options)?;
    if let Some(cut) = &out.cut {
        eprintln!("warning: {}: {cut}", args.file.display());
    }
    if let Some(gif) = &out.gif {
        println!("wrote {}", gif.display());
    }
    match (&out.resimulation, args.junction) {
        (Some(r), _) if r.compared > 0 => {
            println!(
                "{} of {} re-rendered frames match their recorded hashes; max position error {:.2e} m",
                r.matching, r.compared, r.max_position_error_m
            );
            if r.matching != r.compared {
                return Ok(ExitCode::from(1));
            }
        }
        (Some(r), _) => println!(
            "re-rendered {} frames with the changed camera or lighting; max position error {:.2e} m",
            r.frames, r.max_position_error_m
        ),
        (None, Some(n)) => println!("{} frames through junction {n} of the route", out.frames),
        (None, None) => println!("replayed {} frames", out.frames),
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
