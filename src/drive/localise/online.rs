//! The localisation a car runs as it drives (`eval --localise`).

use super::filter::{LocaliseOptions, ParticleFilter};
use crate::error::{Error, Result};
use crate::nn::Model;
use crate::nn::data::dataset::frames_to_tensor;
use crate::sim::Frame;
use crate::sim::map_input::MapView;
use crate::sim::map_input::Pose;
use crate::sim::math::fnv1a;

/// The lane-pose exponent of the filter a car runs as it drives: it restarts at every
/// intervention and must settle within seconds (0.25 drove better than 0.01 on the main job's
/// held-out towns at σ 10 m, where recorded expert drives localised better with 0.01).
pub const ONLINE_LANE_POSE_WEIGHT: f64 = 0.25;

/// The car's own localisation for `eval --localise`: a lane-pose model and the filter's
/// options.
#[derive(Clone)]
pub struct OwnLocalisation {
    /// A model trained with `--preset lanepose` (its mixture over the lane offset).
    pub model: std::sync::Arc<Model>,
    pub options: LocaliseOptions,
}

impl std::fmt::Debug for OwnLocalisation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnLocalisation")
            .field("model", &self.model.config.preset)
            .field("options", &self.options)
            .finish()
    }
}

impl OwnLocalisation {
    /// Loads the lane-pose model in `dir`, refusing a model of another kind.
    pub fn load(dir: &std::path::Path, options: LocaliseOptions) -> Result<Self> {
        use crate::nn::ModelDir;
        let model = Model::load(dir)?;
        if model.config.target != crate::nn::models::steering::config::Target::LaneOffset {
            return Err(Error::InvalidArgument(format!(
                "{}: the car's localisation reads a lane-pose model (trained with --preset \
                 lanepose), whose mixture is over the lane offset; this one is a {} policy",
                dir.display(),
                model.config.preset
            )));
        }
        let problems = options.problems();
        if !problems.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "localise: {}",
                problems.join("; ")
            )));
        }
        Ok(Self {
            model: std::sync::Arc::new(model),
            options,
        })
    }
}

/// A log-density floor for a candidate the lane-pose reading cannot place on the route (no
/// route lane near it points its way).
const OFF_ROUTE_LOG_DENSITY: f64 = -20.0;

/// ln p(lane-pose reading of the camera `frame` | candidate pose) for each candidate: the
/// lane-pose `model`'s mixture over the lane offset, evaluated at each candidate's offset from
/// the route's lane near route progress `progress_m` in the map `view`.
pub fn lane_offset_log_likelihood(
    model: &Model,
    view: &MapView,
    frame: &Frame,
    progress_m: f64,
    candidates: &[Pose],
) -> Result<Vec<f64>> {
    let images = frames_to_tensor(&[frame])?;
    let reading = model
        .predict(&crate::nn::models::steering::Inputs::camera(images))?
        .remove(0);
    Ok(candidates
        .iter()
        .map(|p| match view.lane_offset(*p, progress_m) {
            Some(offset) => reading.pdf(offset).max(1e-12).ln(),
            None => OFF_ROUTE_LOG_DENSITY,
        })
        .collect())
}

/// The localisation a car runs as it drives (no peer simulator has it): a particle filter
/// over its pose, moved by the car's noisy odometry, weighted by the GPS fix once per
/// correlation time and, every few ticks, by a lane-pose model's reading of the camera (its
/// mixture over the car's offset from its lane's centre, evaluated at each candidate's offset
/// from the route's lane in the map). The camera's evidence is not the policy's action, so the
/// filter and the driving policy stay independent. The map the policy reads is cut at the
/// filter's estimate.
pub struct OnlineLocaliser {
    own: OwnLocalisation,
    view: MapView,
    filter: Option<ParticleFilter>,
    progress_m: Option<f64>,
    tick: u64,
    gps_every: u64,
    seed: u64,
    sigma: (f64, f64),
}

impl OnlineLocaliser {
    /// The localisation of one drive in the world whose map is `view`, ticking every `dt_s`;
    /// `seed` draws its particles.
    pub fn new(own: &OwnLocalisation, view: MapView, dt_s: f64, seed: u64) -> OnlineLocaliser {
        let g = own.options.gps;
        OnlineLocaliser {
            view,
            filter: None,
            progress_m: None,
            tick: 0,
            gps_every: ((g.correlation_s / dt_s).round() as u64).max(1),
            seed: fnv1a(&[b"own localisation", &seed.to_le_bytes()]),
            sigma: (g.position_m.max(0.5), g.heading_deg.max(1.0).to_radians()),
            own: own.clone(),
        }
    }

    /// The car was put somewhere else (a safety driver): start again from the next fix.
    pub fn restart(&mut self) {
        self.filter = None;
        self.progress_m = None;
    }

    /// One tick: the navigation system's readings `map` (the GPS fix, when there is one, and
    /// the odometry) and the camera `frame`; returns the pose the car believes it has.
    pub fn step(
        &mut self,
        map: &crate::sim::map_input::MapObservation,
        frame: &Frame,
    ) -> Result<Pose> {
        let fix = Pose {
            position: map.position,
            heading: map.heading,
        };
        let options = &self.own.options;
        let (seed, tick, sigma) = (self.seed, self.tick, self.sigma);
        let fresh = self.filter.is_none();
        let filter = self
            .filter
            .get_or_insert_with(|| ParticleFilter::new(fix, sigma, options, seed ^ tick));
        if !fresh {
            filter.predict(&map.odometry);
            if map.fix_available && tick.is_multiple_of(self.gps_every) {
                filter.weigh_by_fix(fix, sigma);
            }
        }
        let progress = self
            .progress_m
            .unwrap_or_else(|| self.view.match_progress(None, filter.mean(), 0.0));
        if tick.is_multiple_of(options.every_ticks) {
            let weight = options.lane_pose_weight;
            let l = lane_offset_log_likelihood(
                &self.own.model,
                &self.view,
                frame,
                progress,
                &filter.particles,
            )?;
            filter.update(&l.iter().map(|x| weight * x).collect::<Vec<_>>());
        }
        let belief = filter.mean();
        self.progress_m = Some(self.view.match_progress(
            Some(progress),
            belief,
            map.odometry.distance_m,
        ));
        self.tick += 1;
        Ok(belief)
    }
}
