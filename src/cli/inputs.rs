//! What the commands' arguments name: scenario files (the built-in scenarios when none are
//! given) and episode folders split into training and held-out files.

use crate::nn::ModelConfig;
use crate::nn::models::steering::presets::HeadChoice;
use crate::sim::map_input::MapMode;
use anyhow::{Result, bail};
use std::path::PathBuf;

/// The heads of a policy against its preset's default: speed and lane pose (`train`, `dagger`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct HeadArgs {
    /// Give the model a speed head (a mixture over target speed, learnt from the expert's
    /// speed) even where its preset has none (pilotnet, lecture): its car drives at its own
    /// speed.
    #[arg(long, conflicts_with = "no_speed_head")]
    pub speed_head: bool,
    /// No speed head (navnet and cil have one): the model steers only and its car drives at
    /// the expert's speed.
    #[arg(long)]
    pub no_speed_head: bool,
    /// How much of the speed loss's gradient reaches the camera and map trunks, 0 to 1 (0,
    /// the default: the speed head learns on the steering's features alone).
    #[arg(long, value_name = "W", conflicts_with = "no_speed_head")]
    pub speed_trunk_gradient: Option<f64>,
    /// The speed head also reads the car's wheel speed (its speedometer, as the odometry
    /// measures it); by default it reads what it sees only.
    #[arg(long, conflicts_with = "no_speed_head")]
    pub wheel_speed: bool,
    /// The speed head reads the shared features only, with no camera trunk of its own.
    #[arg(long, conflicts_with = "no_speed_head")]
    pub no_speed_trunk: bool,
    /// How much more a frame where the expert brakes weighs in the speed loss (1 to 100; 4
    /// by default).
    #[arg(long, value_name = "W", conflicts_with = "no_speed_head")]
    pub speed_braking_weight: Option<f64>,
    /// Add a lane-pose head, trained beside the steering head to tell the car's offset from
    /// its route's lane or turn path and its heading against it (labels the simulator knows);
    /// W weighs its loss against the steering NLL (over 0, at most 100). Driving never reads
    /// it.
    #[arg(long, value_name = "W")]
    pub pose_head: Option<f64>,
}

/// [`model_config`] with the heads `heads` asks for.
pub(crate) fn model_config_with(
    preset: &str,
    map: Option<MapMode>,
    heads: &HeadArgs,
) -> Result<ModelConfig> {
    let choice = HeadChoice {
        add: heads.speed_head,
        remove: heads.no_speed_head,
        trunk_gradient: heads.speed_trunk_gradient,
        wheel_speed: heads.wheel_speed,
        no_trunk: heads.no_speed_trunk,
        braking_weight: heads.speed_braking_weight,
        pose_weight: heads.pose_head,
    };
    Ok(ModelConfig::from_preset(preset, map, &choice)?)
}

/// Training and held-out data from the episodes under `paths`: the last fifth of the files (at
/// least one) is held out, or, when there is only one file, the last fifth of its frames
/// (`split_off` takes them off).
pub(crate) fn held_out_split<T>(
    paths: &[PathBuf],
    load: impl Fn(&[PathBuf]) -> Result<T>,
    split_off: impl Fn(&mut T) -> T,
) -> Result<(T, T)> {
    let files = crate::nn::data::dataset::episode_files(paths)?;
    if files.is_empty() {
        bail!("no episode files in {paths:?}");
    }
    if files.len() == 1 {
        let mut train = load(&files)?;
        let test = split_off(&mut train);
        return Ok((train, test));
    }
    let held = (files.len() / 5).max(1);
    let (a, b) = files.split_at(files.len() - held);
    Ok((load(a)?, load(b)?))
}

/// The files named on the command line, a folder standing for its `.ron` files (sorted).
pub(crate) fn ron_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut all = Vec::new();
    for path in paths {
        if !path.is_dir() {
            all.push(path.clone());
            continue;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| anyhow::anyhow!("cannot read the folder {}: {e}", path.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "ron"))
            .collect();
        files.sort();
        if files.is_empty() {
            bail!(
                "{}: the folder holds no scenario (.ron) files",
                path.display()
            );
        }
        all.extend(files);
    }
    Ok(all)
}

/// The scenarios named on the command line (a folder stands for its `.ron` files), or the
/// built-in ones.
pub(crate) fn load_scenarios(paths: &[PathBuf]) -> Result<Vec<crate::sim::Scenario>> {
    if paths.is_empty() {
        return Ok(crate::sim::scenario::builtin()?);
    }
    ron_files(paths)?
        .iter()
        .map(|file| Ok(crate::sim::Scenario::load(file)?))
        .collect()
}

/// `--randomise`: `off`, a preset or a ranges file, with the drives each scenario is split into.
pub(crate) fn randomisation(
    name: &str,
    draws: u32,
) -> Result<Option<(crate::sim::randomise::Randomisation, u32)>> {
    Ok(match name {
        "off" => None,
        name => Some((
            crate::sim::randomise::Randomisation::named(name)?,
            draws.max(1),
        )),
    })
}

/// `--data` with object store folders (`s3://…`, `gs://…`, `file://…`) replaced by local
/// copies: each folder's episodes are downloaded into the cache (`$STEERLAB_CACHE`, else
/// `~/.cache/steerlab`) and checked against their checksums; an object that fails its check
/// is named on stderr and left out.
pub(crate) fn local_data(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    use crate::record::store::{self, Store};
    let mut local = Vec::new();
    for path in paths {
        let Some(url) = path.to_str().filter(|s| store::is_url(s)) else {
            local.push(path.clone());
            continue;
        };
        let base = std::env::var_os("STEERLAB_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/steerlab")))
            .unwrap_or_else(|| std::env::temp_dir().join("steerlab-cache"));
        let cache = store::cache_dir(&base, url);
        let got = Store::open(url)?.download(&cache)?;
        for why in &got.rejected {
            eprintln!("warning: left out {why}");
        }
        if got.files.is_empty() {
            bail!(
                "{url}: no usable episode files ({} left out: see above)",
                got.rejected.len()
            );
        }
        eprintln!(
            "{url}: {} episodes checked and cached in {}",
            got.files.len(),
            cache.display()
        );
        local.extend(got.files);
    }
    Ok(local)
}

/// Most kilometres one evaluation may drive per scenario.
pub(crate) const MAX_EVAL_KM: f64 = 1000.0;

/// `--km`: a distance to drive, in (0, [`MAX_EVAL_KM`]] kilometres.
pub(crate) fn parse_km(text: &str) -> std::result::Result<f64, String> {
    let km: f64 = text
        .parse()
        .map_err(|e| format!("{text:?} is not a number: {e}"))?;
    if km.is_finite() && km > 0.0 && km <= MAX_EVAL_KM {
        Ok(km)
    } else {
        Err(format!(
            "{text} km: must be more than 0 and at most {MAX_EVAL_KM}"
        ))
    }
}

/// `--seconds`: a duration in (0, one day].
pub(crate) fn parse_seconds(text: &str) -> std::result::Result<f64, String> {
    let s: f64 = text
        .parse()
        .map_err(|e| format!("{text:?} is not a number: {e}"))?;
    if s.is_finite() && s > 0.0 && s <= 86_400.0 {
        Ok(s)
    } else {
        Err(format!(
            "{text} s: must be more than 0 and at most 86400 (a day)"
        ))
    }
}

/// `--junction-noise`: a factor on the DART noise in [0, 10].
pub(crate) fn parse_noise_factor(text: &str) -> std::result::Result<f64, String> {
    let f: f64 = text
        .parse()
        .map_err(|e| format!("{text:?} is not a number: {e}"))?;
    let max = crate::sim::DartNoise::JUNCTION_SCALE_MAX;
    if f.is_finite() && (0.0..=max).contains(&f) {
        Ok(f)
    } else {
        Err(format!("{text}: a factor from 0 to {max}"))
    }
}
