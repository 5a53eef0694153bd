//! Localisation from the steering posterior, as in Amini et al. 2019: a particle filter over
//! the car's pose (x, y, heading) started around a noisy GPS fix. Every tick each particle
//! moves by the car's odometry (distance and heading change since the last tick, with noise);
//! every few ticks it is weighted by the network's density of the curvature the car actually
//! drove, computed from the camera frame and the map patch cut at that particle's pose (the
//! camera features once, all candidates' patches in batches): a pose whose map explains what
//! the car did, given what it saw, gains weight. A fix one GPS correlation time after the last
//! one used (so roughly independent of it) weights the particles too. A second filter with
//! odometry and GPS alone runs beside it on the same draws, so what the network adds is
//! measured rather than assumed.

use crate::error::{Error, Result};
use crate::nn::Model;
use crate::nn::dataset::{frames_to_tensor, maps_to_tensor};
use crate::record::EpisodeReader;
use crate::sim::expert::standard_normal;
use crate::sim::map_input::{GpsFix, GpsNoise, MapSpec, MapView};
use crate::sim::math::{fnv1a, wrap_angle};
use crate::sim::odometry::{Odometry, OdometryNoise, OdometryReading};
use crate::sim::{Frame, Simulation, Vec2, VehicleState};
use candle_core::Tensor;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde::Serialize;

pub use crate::sim::map_input::Pose;

/// How the filters run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LocaliseOptions {
    /// Particles (candidate poses) per filter.
    pub particles: usize,
    /// The GPS receiver's error; the fix the filters start from and are weighted by.
    pub gps: GpsNoise,
    /// Ticks between the network's updates (1: every tick).
    pub every_ticks: u64,
    /// The exponent on the network's likelihood: successive frames are far from independent
    /// evidence, so each update counts for this fraction of one.
    pub network_weight: f64,
    /// The same exponent for a lane-pose model's reading: each reading pins the car's offset
    /// from its lane sharply and successive readings are closely correlated, so each counts
    /// for far less.
    pub lane_pose_weight: f64,
    /// The errors of the car's odometry (wheel-speed scale, gyro bias and noise) that both
    /// filters are fed.
    pub odometry: OdometryNoise,
    /// The filters' model of that odometry's error per tick: relative distance error and
    /// heading-change error (radians).
    pub odometry_distance: f64,
    pub odometry_heading_rad: f64,
    /// Jitter given to particles after resampling: metres and radians.
    pub roughen_m: f64,
    pub roughen_rad: f64,
    pub seed: u64,
}

impl Default for LocaliseOptions {
    fn default() -> Self {
        Self {
            particles: 256,
            gps: GpsNoise {
                position_m: 10.0,
                heading_deg: 5.0,
                correlation_s: crate::sim::map_input::GPS_CORRELATION_S,
            },
            every_ticks: 2,
            network_weight: 0.25,
            lane_pose_weight: 0.01,
            odometry: OdometryNoise::default(),
            odometry_distance: 0.02,
            odometry_heading_rad: 0.002,
            roughen_m: 0.3,
            roughen_rad: 0.004,
            seed: 0,
        }
    }
}

impl LocaliseOptions {
    /// Every value out of range, named.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.particles < 2 || self.particles > 100_000 {
            p.push(format!(
                "particles: {} must be in 2..=100000",
                self.particles
            ));
        }
        p.extend(self.odometry.problems());
        if self.every_ticks == 0 {
            p.push("every: must be at least 1 tick".into());
        }
        let g = &self.gps;
        if !(g.position_m.is_finite() && g.position_m > 0.0 && g.position_m <= 1000.0) {
            p.push(format!(
                "gps-noise: σ_pos {} must be in (0, 1000] metres",
                g.position_m
            ));
        }
        if !(g.heading_deg.is_finite() && (0.0..=90.0).contains(&g.heading_deg)) {
            p.push(format!(
                "gps-noise: σ_heading {} must be in [0, 90] degrees",
                g.heading_deg
            ));
        }
        for (name, v) in [
            ("network-weight", self.network_weight),
            ("lane-pose-weight", self.lane_pose_weight),
            ("odometry_distance", self.odometry_distance),
            ("odometry_heading_rad", self.odometry_heading_rad),
            ("roughen_m", self.roughen_m),
            ("roughen_rad", self.roughen_rad),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                p.push(format!("{name}: {v} must be a finite number ≥ 0"));
            }
        }
        p
    }
}

/// Weighted candidate poses.
#[derive(Debug)]
pub struct ParticleFilter {
    pub particles: Vec<Pose>,
    log_weights: Vec<f64>,
    rng: StdRng,
    roughen: (f64, f64),
    odometry: (f64, f64),
}

impl ParticleFilter {
    /// `n` particles drawn around `around` with standard deviations `sigma_m` per axis and
    /// `sigma_rad` in heading, seeded.
    pub fn new(
        around: Pose,
        (sigma_m, sigma_rad): (f64, f64),
        options: &LocaliseOptions,
        seed: u64,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let particles = (0..options.particles)
            .map(|_| Pose {
                position: around.position
                    + Vec2::new(
                        sigma_m * standard_normal(&mut rng),
                        sigma_m * standard_normal(&mut rng),
                    ),
                heading: wrap_angle(around.heading + sigma_rad * standard_normal(&mut rng)),
            })
            .collect();
        Self {
            particles,
            log_weights: vec![0.0; options.particles],
            rng,
            roughen: (options.roughen_m, options.roughen_rad),
            odometry: (options.odometry_distance, options.odometry_heading_rad),
        }
    }

    /// Moves every particle by the odometry `reading` ([`Pose::moved`]), each with its own
    /// noise.
    pub fn predict(&mut self, reading: &OdometryReading) {
        let (sd, sh) = self.odometry;
        for p in &mut self.particles {
            *p = p.moved(&OdometryReading {
                distance_m: reading.distance_m * (1.0 + sd * standard_normal(&mut self.rng)),
                heading_change_rad: reading.heading_change_rad
                    + sh * standard_normal(&mut self.rng),
                speed_m_s: reading.speed_m_s,
            });
        }
    }

    /// Multiplies the weights by `exp(log_likelihood)` (non-finite values count as
    /// impossible); resamples when fewer than half the particles carry the weight.
    pub fn update(&mut self, log_likelihood: &[f64]) {
        for (w, l) in self.log_weights.iter_mut().zip(log_likelihood) {
            *w += if l.is_finite() { *l } else { -1e6 };
        }
        let max = self.log_weights.iter().copied().fold(f64::MIN, f64::max);
        self.log_weights.iter_mut().for_each(|w| *w -= max);
        if self.effective_size() < self.particles.len() as f64 / 2.0 {
            self.resample();
        }
    }

    /// Weighs the particles by a GPS fix whose error has standard deviations `sigma` (metres
    /// per axis, radians in heading).
    pub fn weigh_by_fix(&mut self, fix: Pose, (sigma_m, sigma_rad): (f64, f64)) {
        let l: Vec<f64> = self
            .particles
            .iter()
            .map(|p| {
                let d = p.position - fix.position;
                let h = wrap_angle(p.heading - fix.heading);
                -0.5 * (d.dot(d) / (sigma_m * sigma_m) + (h / sigma_rad).powi(2))
            })
            .collect();
        self.update(&l);
    }

    /// Normalised weights.
    pub fn weights(&self) -> Vec<f64> {
        let w: Vec<f64> = self.log_weights.iter().map(|l| l.exp()).collect();
        let sum: f64 = w.iter().sum();
        w.iter().map(|x| x / sum).collect()
    }

    /// `1 / Σ wᵢ²`: how many particles effectively carry the weight.
    pub fn effective_size(&self) -> f64 {
        1.0 / self.weights().iter().map(|w| w * w).sum::<f64>()
    }

    /// Systematic resampling, then jitter so that copies of one particle spread again.
    fn resample(&mut self) {
        let w = self.weights();
        let n = self.particles.len();
        let start: f64 = self.rng.random_range(0.0..1.0) / n as f64;
        let mut out = Vec::with_capacity(n);
        let (mut i, mut cumulative) = (0, w[0]);
        for k in 0..n {
            let u = start + k as f64 / n as f64;
            while u > cumulative && i + 1 < n {
                i += 1;
                cumulative += w[i];
            }
            out.push(self.particles[i]);
        }
        let (rm, rr) = self.roughen;
        for p in &mut out {
            p.position = p.position
                + Vec2::new(
                    rm * standard_normal(&mut self.rng),
                    rm * standard_normal(&mut self.rng),
                );
            p.heading = wrap_angle(p.heading + rr * standard_normal(&mut self.rng));
        }
        self.particles = out;
        self.log_weights = vec![0.0; n];
    }

    /// The weighted mean pose (circular mean for the heading).
    pub fn mean(&self) -> Pose {
        let w = self.weights();
        let (mut x, mut y, mut c, mut s) = (0.0, 0.0, 0.0, 0.0);
        for (p, w) in self.particles.iter().zip(&w) {
            x += w * p.position.x;
            y += w * p.position.y;
            c += w * p.heading.cos();
            s += w * p.heading.sin();
        }
        Pose::new(x, y, s.atan2(c))
    }

    /// Weighted RMS distance of the particles from their mean, metres.
    pub fn spread_m(&self) -> f64 {
        let m = self.mean().position;
        let w = self.weights();
        self.particles
            .iter()
            .zip(&w)
            .map(|(p, w)| w * (p.position - m).dot(p.position - m))
            .sum::<f64>()
            .sqrt()
    }
}

/// One tick of localisation: the truth, the raw fix and both filters' posterior means.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct TrackPoint {
    pub t_s: f64,
    pub truth: Pose,
    pub fix: Pose,
    /// The filter with the network's likelihood.
    pub with_network: Pose,
    /// The filter with odometry and GPS alone.
    pub without_network: Pose,
    pub spread_m: f64,
}

/// A move longer than this in one tick is no drive but a reset of the car, metres.
const TELEPORT_M: f64 = 5.0;

/// The GPS receiver and the two filters of one drive.
pub struct Localiser {
    options: LocaliseOptions,
    dt_s: f64,
    gps: GpsFix,
    odometry: Odometry,
    filters: Option<(ParticleFilter, ParticleFilter)>,
    last: Option<Pose>,
    tick: u64,
    /// Ticks between the GPS fixes the filters use (one correlation time).
    gps_every: u64,
}

impl Localiser {
    /// A localiser for a drive ticking every `dt_s` seconds; `drive_seed` (with the options'
    /// seed) draws its GPS error and particles, so that different drives get different ones.
    pub fn new(options: &LocaliseOptions, dt_s: f64, drive_seed: u64) -> Result<Localiser> {
        let problems = options.problems();
        if !problems.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "localise: {}",
                problems.join("; ")
            )));
        }
        let mut options = options.clone();
        options.seed = fnv1a(&[&options.seed.to_le_bytes(), &drive_seed.to_le_bytes()]);
        Ok(Localiser {
            dt_s,
            gps: GpsFix::new(
                options.gps,
                fnv1a(&[b"localise", &options.seed.to_le_bytes()]),
            ),
            odometry: Odometry::new(
                options.odometry,
                fnv1a(&[b"localise odometry", &options.seed.to_le_bytes()]),
            ),
            filters: None,
            last: None,
            tick: 0,
            gps_every: ((options.gps.correlation_s / dt_s).round() as u64).max(1),
            options,
        })
    }

    /// The filter that uses the network (after the first tick).
    pub fn filter(&self) -> Option<&ParticleFilter> {
        self.filters.as_ref().map(|f| &f.0)
    }

    /// Whether the network is asked at this tick.
    pub fn wants_network(&self) -> bool {
        self.tick % self.options.every_ticks == 0
    }

    /// Advances by one tick at the true pose `truth`; `likelihood` gives ln p(observation |
    /// pose) for candidate poses (`None`: no evidence this tick). It is only called when
    /// [`Localiser::wants_network`] says so.
    pub fn tick(
        &mut self,
        truth: Pose,
        likelihood: &mut dyn FnMut(&[Pose]) -> Result<Option<Vec<f64>>>,
    ) -> Result<TrackPoint> {
        if self.tick > 0 {
            self.gps.step(self.dt_s);
        }
        let state = VehicleState {
            position: truth.position,
            heading: truth.heading,
            ..VehicleState::default()
        };
        let (position, heading) = self.gps.fix(&state);
        let fix = Pose { position, heading };
        let sigma = (
            self.options.gps.position_m,
            self.options.gps.heading_deg.max(1.0).to_radians(),
        );
        let seed = fnv1a(&[b"particles", &self.options.seed.to_le_bytes()]);
        let (with, without) = self.filters.get_or_insert_with(|| {
            (
                ParticleFilter::new(fix, sigma, &self.options, seed),
                ParticleFilter::new(fix, sigma, &self.options, seed),
            )
        });
        if let Some(last) = self.last {
            if truth.position.distance(last.position) > TELEPORT_M {
                // The car was put somewhere else (a safety driver's reset, which the car is
                // told of): start again from the fix.
                self.odometry.restart();
                self.odometry.measure(&state, self.dt_s);
                *with = ParticleFilter::new(fix, sigma, &self.options, seed ^ self.tick);
                *without = ParticleFilter::new(fix, sigma, &self.options, seed ^ self.tick);
            } else {
                // The filters read the odometry, errors and all; never the true motion.
                let reading = self.odometry.measure(&state, self.dt_s);
                with.predict(&reading);
                without.predict(&reading);
            }
        } else {
            self.odometry.measure(&state, self.dt_s);
        }
        if self.tick > 0 && self.tick % self.gps_every == 0 {
            for f in [&mut *with, &mut *without] {
                f.weigh_by_fix(fix, sigma);
            }
        }
        if self.tick % self.options.every_ticks == 0
            && let Some(l) = likelihood(&with.particles)?
        {
            let scaled: Vec<f64> = l.iter().map(|x| x * self.options.network_weight).collect();
            with.update(&scaled);
        }
        let point = TrackPoint {
            t_s: self.tick as f64 * self.dt_s,
            truth,
            fix,
            with_network: with.mean(),
            without_network: without.mean(),
            spread_m: with.spread_m(),
        };
        self.last = Some(truth);
        self.tick += 1;
        Ok(point)
    }
}

/// The network's log-density of a driven curvature for many candidate poses.
pub struct NetworkLikelihood<'a> {
    model: &'a Model,
    view: MapView,
    spec: MapSpec,
    channels: usize,
}

/// Candidates sent through the network at once.
const BATCH: usize = 256;

impl<'a> NetworkLikelihood<'a> {
    /// For `model` (which must read a map without commands) in the world of `sim`.
    pub fn new(model: &'a Model, sim: &Simulation) -> Result<Self> {
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
            view: MapView::new(sim),
            spec: map.spec,
            channels: config.map_channels(),
        })
    }

    pub fn view(&self) -> &MapView {
        &self.view
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
    pub points: Vec<TrackPoint>,
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
    points: impl IntoIterator<Item = &'a TrackPoint>,
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
    each: &mut dyn FnMut(&TrackPoint, &ParticleFilter, &MapView) -> Result<()>,
) -> Result<Localisation> {
    let started = std::time::Instant::now();
    let sim = Simulation::new(episode.scenario.clone(), 1)?;
    // A lane-pose model reads the camera alone (whoever drove); a steering model weighs the
    // action a driver other than itself took.
    let lane_pose = model.config.target == crate::nn::config::Target::LaneOffset;
    let view = MapView::new(&sim);
    let likelihood = match lane_pose {
        true => None,
        false => Some(NetworkLikelihood::new(model, &sim)?),
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
        if model.config.target != crate::nn::config::Target::LaneOffset {
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
        .predict(&crate::nn::steering::Inputs::camera(images))?
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
