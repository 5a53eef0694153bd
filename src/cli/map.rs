//! `steerlab map`: a road network drawn from above: paved area, lanes and turn paths, the
//! scenario's route, and the path of a recorded episode.

use crate::files::{Pixels, encode_png, write_atomic};
use crate::record::reader::EpisodeReader;
use crate::sim::Scenario;
use crate::sim::Vec2;
use crate::sim::network::overview::overview;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct MapArgs {
    /// Scenario file whose track is a `Network` or a `Town`.
    pub scenario: PathBuf,
    /// PNG written.
    #[arg(long, default_value = "map.png")]
    pub out: PathBuf,
    /// An episode recorded in this scenario: the path it drove is drawn in red.
    #[arg(long)]
    pub episode: Option<PathBuf>,
    /// Metres per pixel.
    #[arg(long, default_value_t = 0.5)]
    pub metres_per_pixel: f64,
}

pub fn run(args: &MapArgs) -> Result<ExitCode> {
    let scenario = Scenario::load(&args.scenario)?;
    let Some((network, route)) = scenario.build_network()? else {
        bail!(
            "{}: its track is a loop, not a road network (`Network(...)` or `Town(...)`); `steerlab eval` draws loops",
            args.scenario.display()
        );
    };
    let mpp = args.metres_per_pixel;
    let driven: Vec<Vec2> = match &args.episode {
        Some(path) => EpisodeReader::open(path)?
            .steps(false)?
            .map(|step| Vec2::new(step.state.x_m, step.state.y_m))
            .collect(),
        None => Vec::new(),
    };
    let (w, h, rgb) = overview(&network, &route, &driven, mpp)?;
    let driven = driven.len();
    let png = encode_png(w as u32, h as u32, Pixels::Rgb, &rgb)?;
    write_atomic(&args.out, &png).with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "{}: {}; route of {:.2} km through {} junctions{}; {w}×{h} px at {mpp} m/px in {}",
        scenario.name,
        network.summary(),
        route.length_m(&network) / 1000.0,
        route.junctions(&network).len(),
        if driven > 0 {
            format!(
                "; {driven} ticks of {} drawn",
                args.episode.as_ref().unwrap().display()
            )
        } else {
            String::new()
        },
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
