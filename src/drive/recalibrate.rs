//! Recalibrating a policy's steering distribution on the states it drives into. A network
//! trained on the expert's noisy (DART) drives learns how uncertain the expert's action is
//! there; driving itself, the policy stays in easier states near the centreline, where those
//! standard deviations are too wide (measured on the main job: 68 % of the expert's actions
//! inside the central 68 % interval on the validation drives, 83–92 % on the policy's own).
//! So, as Kuleshov et al. (2018) recalibrate a regressor on held-out data of the distribution
//! it is used on, the policy drives held-out episodes of the training scenarios (seeds of
//! their own, never trained on), the expert labels every tick, and one factor on all standard
//! deviations is fitted to those labels ([`fit_std_scale`]) and written into the model's
//! config.

use crate::drive::closed_loop::each::drive_each;
use crate::drive::metrics::Supervision;
use crate::drive::policy::{Choice, Policy};
use crate::error::{Error, Result};
use crate::nn::metrics::calibration::{Calibration, fit_std_scale};
use crate::nn::models::checkpoint::{read_config, write_config};
use crate::nn::{ModelConfig, SteeringDistribution};
use crate::record::EpisodeReader;
use crate::sim::Scenario;
use crate::sim::randomise::Randomisation;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What a recalibration found.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Recalibration {
    /// The factor applied to the model's standard deviations (its `std_scale` was multiplied
    /// by it).
    pub factor: f64,
    pub std_scale: f64,
    /// Calibration on the fitting drives before and after.
    pub before: Calibration,
    pub after: Calibration,
}

/// The policy's distributions and the expert's labels of the ticks a policy steered in
/// recorded episodes.
pub fn policy_ticks(files: &[PathBuf]) -> Result<(Vec<SteeringDistribution>, Vec<f64>)> {
    let (mut distributions, mut labels) = (Vec::new(), Vec::new());
    for file in files {
        let episode = EpisodeReader::open(file)?;
        let mut steps = episode.steps(false)?;
        for step in steps.by_ref() {
            if let Some(msg) = &step.distribution {
                let d = SteeringDistribution::from_msg(msg)
                    .map_err(|e| e.context(format!("{}: tick {}", file.display(), step.tick)))?;
                distributions.push(d);
                labels.push(step.expert_action.curvature_per_m);
            }
        }
    }
    Ok((distributions, labels))
}

/// Fits the factor on `files` (episodes a policy of `model_dir` drove) and multiplies the
/// model's `std_scale` by it.
pub fn recalibrate_from(model_dir: &Path, files: &[PathBuf]) -> Result<Recalibration> {
    let (distributions, labels) = policy_ticks(files)?;
    if distributions.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "no tick of {} was steered by a policy (no /policy/distribution messages); record \
             drives of the model with `eval`",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let factor = fit_std_scale(&distributions, &labels);
    let (mut before, mut after) = (Calibration::default(), Calibration::default());
    for (d, &y) in distributions.iter().zip(&labels) {
        before.add(d, y);
        after.add(&d.with_std_scale(factor), y);
    }
    let (mut config, _) = read_config::<ModelConfig>(model_dir)?;
    config.steering.std_scale *= factor;
    write_config(model_dir, &config)?;
    Ok(Recalibration {
        factor,
        std_scale: config.steering.std_scale,
        before,
        after,
    })
}

/// The policy of `model_dir` drives each scenario alone for `ticks` (a safety driver
/// recovering it), recorded into `out`; then [`recalibrate_from`] those drives. With
/// `randomise`, each scenario's ticks are shared by drives in scenarios drawn from the ranges,
/// as training's were: the factor is fitted on the spread of conditions the policy serves in,
/// not on one look of the calibration tracks (fitted on clean daylight tracks it narrowed the
/// intervals to 52 % / 76 % on the robustness suite).
pub fn recalibrate(
    model_dir: &Path,
    scenarios: &[Scenario],
    ticks: u64,
    seed: u64,
    out: &Path,
    randomise: Option<(&Randomisation, u32)>,
    progress: &mut dyn FnMut(&str, u64, f64),
) -> Result<Recalibration> {
    let policy = Policy::load(model_dir, Choice::Mode, seed)?;
    let map = policy.map_options();
    let drives = drive_each(
        scenarios,
        ticks,
        out,
        crate::drive::workers::Driver::Policy(&policy),
        Supervision::default(),
        &|name| crate::sim::math::fnv1a(&[b"calibration", &seed.to_le_bytes(), name.as_bytes()]),
        randomise,
        map,
        progress,
    )?;
    let files: Vec<PathBuf> = drives.into_iter().filter_map(|d| d.recording).collect();
    recalibrate_from(model_dir, &files)
}
