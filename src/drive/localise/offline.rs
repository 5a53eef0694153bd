//! Localising recorded drives: the network's (or a lane-pose model's) evidence for candidate
//! poses, the run over an episode and the statistics of its errors.

use super::filter::{LocaliseOptions, Localiser, ParticleFilter, TickEstimates};
use super::online::lane_offset_log_likelihood;
use crate::error::{Error, Result};
use crate::nn::Model;
use crate::nn::data::dataset::{frames_to_tensor, maps_to_tensor};
use crate::record::EpisodeReader;
use crate::sim::Frame;
use crate::sim::built::BuiltWorld;
use crate::sim::map_input::Pose;
use crate::sim::map_input::{MapSpec, MapView};
use crate::sim::math::fnv1a;
use candle_core::Tensor;
use serde::Serialize;

/// The network's log-density of a driven curvature for many candidate poses.
pub struct NetworkLikelihood<'a> {
    model: &'a Model,
    view: &'a MapView,
    spec: MapSpec,
    channels: usize,
}

/// Candidates sent through the network at once.
const BATCH: usize = 256;

impl<'a> NetworkLikelihood<'a> {
    /// For `model` (which must read a map without commands) in the world whose map is `view`.
    pub fn new(model: &'a Model, view: &'a MapView) -> Result<Self> {
        let config = &model.config;
        let Some(map) = &config.map else {
            return Err(Error::InvalidArgument(
                "localise needs a model that reads a map (trained with --map unrouted or \
                 routed, e.g. --preset navnet) or a lane-pose model (--preset lanepose); this \
                 one reads the camera alone"
                    .into(),
            ));
        };
        if config.reads_commands() {
            return Err(Error::InvalidArgument(
                "localise scores map patches; this model reads navigation commands (cil) \
                 instead: use a navnet model"
                    .into(),
            ));
        }
        Ok(Self {
            model,
            view,
            spec: map.spec,
            channels: config.map_channels(),
        })
    }

    /// ln p(`curvature_per_m` | camera `frame`, map at each candidate), the route drawn from
    /// `route_s_m` for a routed map.
    pub fn log_likelihood(
        &self,
        frame: &Frame,
        curvature_per_m: f64,
        route_s_m: f64,
        candidates: &[Pose],
    ) -> Result<Vec<f64>> {
        let image = frames_to_tensor(&[frame])?;
        let net = &self.model.net;
        let camera = net.camera_features(&image)?;
        let mut out = Vec::with_capacity(candidates.len());
        for chunk in candidates.chunks(BATCH) {
            let patches: Vec<Frame> = chunk
                .iter()
                .map(|p| {
                    self.view
                        .patch(&self.spec, p.position, p.heading, route_s_m)
                })
                .collect();
            let refs: Vec<&Frame> = patches.iter().collect();
            let maps = maps_to_tensor(&refs, self.channels)?;
            let mixtures = net.forward_features(&camera, Some(&maps), None)?;
            let targets = Tensor::full(curvature_per_m as f32, chunk.len(), image.device())?;
            let l = mixtures.log_prob(&targets)?.to_vec1::<f32>()?;
            out.extend(l.iter().map(|&x| x as f64));
        }
        Ok(out)
    }
}

/// A drive localised.
#[derive(Clone, Debug, Serialize)]
pub struct Localisation {
    pub episode: String,
    pub points: Vec<TickEstimates>,
    /// Network evaluations and the seconds they and the filters took.
    pub updates: u64,
    pub wall_s: f64,
    /// What the episode file lost at its end, if it was cut.
    pub cut: Option<String>,
}

/// Position (metres) and heading (degrees) errors of one estimate over many ticks: the mean,
/// the median and the 95th percentile of each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ErrorStats {
    pub mean_m: f64,
    pub median_m: f64,
    pub p95_m: f64,
    pub mean_deg: f64,
    pub median_deg: f64,
    pub p95_deg: f64,
}

impl ErrorStats {
    /// The statistics of (position m, heading °) errors.
    pub fn of(errors: &[(f64, f64)]) -> ErrorStats {
        let stats = |mut v: Vec<f64>| -> (f64, f64, f64) {
            if v.is_empty() {
                return (0.0, 0.0, 0.0);
            }
            v.sort_by(f64::total_cmp);
            let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
            (v.iter().sum::<f64>() / v.len() as f64, at(0.5), at(0.95))
        };
        let (mean_m, median_m, p95_m) = stats(errors.iter().map(|e| e.0).collect());
        let (mean_deg, median_deg, p95_deg) = stats(errors.iter().map(|e| e.1).collect());
        ErrorStats {
            mean_m,
            median_m,
            p95_m,
            mean_deg,
            median_deg,
            p95_deg,
        }
    }

    /// The mean position and heading errors.
    pub fn mean(&self) -> (f64, f64) {
        (self.mean_m, self.mean_deg)
    }
}

/// The errors over the points from `settle_s` on of the raw fix, the filter without the
/// network and the filter with it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ErrorSummary {
    pub points: usize,
    pub fix: ErrorStats,
    pub without_network: ErrorStats,
    pub with_network: ErrorStats,
}

/// The errors of `points` from `settle_s` seconds on.
pub fn summarise<'a>(
    points: impl IntoIterator<Item = &'a TickEstimates>,
    settle_s: f64,
) -> ErrorSummary {
    let (mut fix, mut without, mut with) = (Vec::new(), Vec::new(), Vec::new());
    for p in points.into_iter().filter(|p| p.t_s >= settle_s) {
        fix.push(p.fix.error(&p.truth));
        without.push(p.without_network.error(&p.truth));
        with.push(p.with_network.error(&p.truth));
    }
    ErrorSummary {
        points: fix.len(),
        fix: ErrorStats::of(&fix),
        without_network: ErrorStats::of(&without),
        with_network: ErrorStats::of(&with),
    }
}

/// The seed of the localisation of one recorded drive: from the options' seed, the drive's
/// seed and episode number and its file name, so that every drive of a run gets errors of its
/// own even where drives share a seed.
pub fn drive_seed(episode: &EpisodeReader) -> u64 {
    let name = episode
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    fnv1a(&[
        &episode.meta.seed.to_le_bytes(),
        &episode.meta.episode.to_le_bytes(),
        name.as_bytes(),
    ])
}

/// Localises the car of a recorded `episode` with `model`; `each` sees every tick's point,
/// the network filter and the map (for drawing).
pub fn localise(
    episode: &EpisodeReader,
    model: &Model,
    options: &LocaliseOptions,
    each: &mut dyn FnMut(&TickEstimates, &ParticleFilter, &MapView) -> Result<()>,
) -> Result<Localisation> {
    let started = std::time::Instant::now();
    let world = BuiltWorld::build(&episode.scenario)?;
    // A lane-pose model reads the camera alone (whoever drove); a steering model weighs the
    // action a driver other than itself took.
    let lane_pose = model.config.target == crate::nn::models::steering::config::Target::LaneOffset;
    let view = MapView::of_world(&world, episode.scenario.road.width_m);
    let likelihood = match lane_pose {
        true => None,
        false => Some(NetworkLikelihood::new(model, &view)?),
    };
    let fingerprint = model.fingerprint()?;
    let options = &LocaliseOptions {
        network_weight: match lane_pose {
            true => options.lane_pose_weight,
            false => options.network_weight,
        },
        ..options.clone()
    };
    let mut localiser = Localiser::new(options, episode.scenario.dt_s, drive_seed(episode))?;
    let mut steps = episode.steps(true)?;
    let (mut points, mut updates) = (Vec::new(), 0u64);
    // The route progress the car's navigation system tracks from the filter's last estimate.
    let mut progress: Option<f64> = None;
    let mut belief: Option<Pose> = None;
    for step in steps.by_ref() {
        if !lane_pose {
            check_driver(episode, &step, &fingerprint)?;
        }
        let s = &step.state;
        let truth = Pose::new(s.x_m, s.y_m, s.heading_rad);
        let curvature = step.action.unwrap_or(step.expert_action).curvature_per_m;
        let point = localiser.tick(truth, &mut |candidates| match &step.frame {
            Some(frame) => {
                updates += 1;
                let at = belief.unwrap_or(candidates[0]);
                let route_s = view.match_progress(progress, at, 0.0);
                progress = Some(route_s);
                match &likelihood {
                    Some(l) => l.log_likelihood(frame, curvature, route_s, candidates),
                    None => lane_offset_log_likelihood(model, &view, frame, route_s, candidates),
                }
                .map(Some)
            }
            None => Ok(None),
        })?;
        belief = Some(point.with_network);
        if let Some(filter) = localiser.filter() {
            each(&point, filter, &view)?;
        }
        points.push(point);
    }
    if updates == 0 {
        return Err(Error::InvalidArgument(format!(
            "{}: the episode holds no camera frames (recorded with --no-frames?); localise \
             reads what the camera saw",
            episode.path.display()
        )));
    }
    Ok(Localisation {
        episode: episode.path.display().to_string(),
        points,
        updates,
        wall_s: started.elapsed().as_secs_f64(),
        cut: steps.outcome().cut.clone(),
    })
}

/// The network's evidence is the action a driver took: it must not be the network's own
/// choice, or the filter would weigh poses by how well the model agrees with itself. Ticks
/// driven by the same model, or by a policy the episode does not name, are refused.
fn check_driver(
    episode: &EpisodeReader,
    step: &crate::record::reader::Step,
    fingerprint: &str,
) -> Result<()> {
    if step.driver != "policy" {
        return Ok(());
    }
    let path = episode.path.display();
    match step.driver_model.as_deref() {
        Some(m) if m == fingerprint => Err(Error::InvalidArgument(format!(
            "{path}: tick {} was driven by this model (fingerprint {m}): its own action is no \
             evidence of where the car is. Localise drives of the expert, of a person or of \
             another model",
            step.tick
        ))),
        Some(_) => Ok(()),
        None => Err(Error::InvalidArgument(format!(
            "{path}: tick {} was driven by a policy the episode does not name (recorded before \
             episodes named their models, or by a script): localise cannot tell that its \
             actions are independent of this model. Localise drives of the expert, of a person \
             or of a named other model",
            step.tick
        ))),
    }
}
