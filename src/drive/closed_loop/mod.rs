//! One closed-loop drive: a pilot (expert, policy, or the DAgger mixture of both) steers the
//! car from what the world shows; every tick is scored, a safety driver intervenes when the car
//! strays, and the drive can be recorded for replay and for training (the expert's label is
//! recorded at every tick, whoever drove).

pub mod each;
pub mod observers;
mod pilot;

pub use observers::PathPoint;
pub use pilot::Pilot;

use crate::drive::junctions::JunctionEntry;
use crate::drive::localise::{OnlineLocaliser, OwnLocalisation};
use crate::drive::metrics::{Metrics, Supervision, Verdict};
use crate::drive::policy::SpeedSource;
use crate::error::{Error, Result};
use crate::record::EpisodeMeta;
use crate::sim::map_input::Pose;
use crate::sim::{DartNoise, Expert, ExpertConfig, Vec2};
use crate::world::{Env, Observation};
use observers::{JunctionWatch, Recording, RouteWatch, Score, StallWatch};
use pilot::decide;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;
use std::path::PathBuf;

/// How long to drive, where to record, when to intervene.
#[derive(Clone, Debug)]
pub struct DriveOptions {
    /// Stop after this distance, metres.
    pub distance_m: f64,
    /// Stop after this many ticks whatever the distance.
    pub max_ticks: u64,
    pub seed: u64,
    /// A safety driver (PilotNet's interventions) or none (the drive ends at the first crash).
    pub supervision: Supervision,
    /// Record the drive into this episode file.
    pub record: Option<PathBuf>,
    /// Episode number written into the recording's metadata.
    pub episode: u32,
    /// The car drives on its own localisation: a filter it runs as it drives places it, and
    /// its map is cut there (the world must cut map patches).
    pub localise: Option<OwnLocalisation>,
}

/// What a drive produced.
#[derive(Clone, Debug, Serialize)]
pub struct Drive {
    pub scenario: String,
    pub metrics: Metrics,
    #[serde(skip)]
    pub path: Vec<PathPoint>,
    /// Where the safety driver took over.
    #[serde(skip)]
    pub interventions: Vec<Vec2>,
    /// Where the car was at each crash.
    #[serde(skip)]
    pub crashes: Vec<Vec2>,
    /// Ticks the policy steered (the rest the expert did).
    pub policy_ticks: u64,
    /// Where the speed of the ticks the policy drove came from.
    pub speed: SpeedSource,
    pub recording: Option<PathBuf>,
    /// Camera frames written into the recording.
    pub frames: u64,
    /// In a town: the policy's mixture at each entry into a junction, beside its exits.
    pub junction_entries: Vec<JunctionEntry>,
    /// Driving on its own localisation: the error of the car's estimate at each tick,
    /// (position m, heading °).
    #[serde(skip)]
    pub localisation_errors: Vec<(f64, f64)>,
}

/// Drives `env`'s single car as `options` say; `progress(ticks, metres)` is called every tick.
/// The loop only senses, decides and steps; what a drive records and scores is kept by its
/// observers ([`observers`]): the recording, the scores and interventions, the junctions, the
/// route and the stall watch.
pub fn drive(
    env: &mut Env,
    pilot: &mut Pilot,
    options: &DriveOptions,
    progress: &mut dyn FnMut(u64, f64),
) -> Result<Drive> {
    let scenario = env.scenario().clone();
    let dt = scenario.dt_s;
    let noise = match pilot {
        Pilot::Expert(noise) => *noise,
        _ => DartNoise::NONE,
    };
    let speed = match pilot {
        Pilot::Policy(p) | Pilot::Mixture { policy: p, .. } => p.speed,
        Pilot::Expert(_) => SpeedSource::Expert,
        Pilot::Custom(_) => SpeedSource::Controller,
    };
    let mut expert = Expert::new(ExpertConfig::default(), options.seed).with_noise(noise, dt);
    let mut coin = StdRng::seed_from_u64(options.seed ^ 0xDA66_E200_0000_0001);
    let mut recording = match &options.record {
        Some(path) => {
            let meta = EpisodeMeta::new(&scenario, options.seed, options.episode, noise)?;
            Some(Recording::start(path, &scenario, &meta)?)
        }
        None => None,
    };
    let mut score = Score::new(options.supervision);
    let mut junctions = JunctionWatch::default();
    let mut route = RouteWatch::new(
        env.simulation().town().map(|t| t.network.lane_width_m),
        options.supervision,
    );
    let mut stall = StallWatch::default();
    let mut policy_ticks = 0;
    // The car's sensor errors are the drive's own: drives of one run share a world seed.
    let sensor_seed = crate::sim::math::fnv1a(&[
        b"sensors",
        &options.seed.to_le_bytes(),
        scenario.name.as_bytes(),
        &options.episode.to_le_bytes(),
    ]);
    let mut obs = env.reset_drive(options.seed, sensor_seed)?.remove(0);
    let mut localiser = match &options.localise {
        Some(own) => {
            let view = env.map_sensor().map(|m| m.view().clone()).ok_or_else(|| {
                Error::InvalidArgument(
                    "driving on its own localisation needs a world that cuts map patches".into(),
                )
            })?;
            Some(OnlineLocaliser::new(own, view, dt, sensor_seed))
        }
        None => None,
    };
    let mut localisation_errors = Vec::new();
    if let Some(l) = localiser.as_mut() {
        own_localisation(env, &mut obs, l, &mut localisation_errors)?;
    }
    let (mut ticks, mut metres) = (0u64, 0.0f64);
    let mut over = false;
    loop {
        let label = obs.info.expert_action;
        let stop = over || obs.done || metres >= options.distance_m || ticks >= options.max_ticks;
        let decision = if stop {
            None
        } else {
            Some(decide(pilot, &mut expert, &mut coin, &obs)?)
        };
        junctions.sensed(&obs, decision.as_ref());
        if let Some(r) = recording.as_mut() {
            r.record(env, &mut obs, decision.as_ref())?;
        }
        let Some(decision) = decision else { break };
        policy_ticks += decision.by_policy as u64;
        let before = obs.state.stats.distance_m;
        obs = env.step(decision.action)?;
        if let Some(l) = localiser.as_mut() {
            own_localisation(env, &mut obs, l, &mut localisation_errors)?;
        }
        let moved = obs.state.stats.distance_m - before;
        ticks += 1;
        metres += moved;
        let verdict = score.tick(&obs.state, dt, moved, &decision, label);
        over |= route.tick(&obs.state, moved, verdict, &mut junctions);
        over |= stall.tick(&obs.state, dt);
        match verdict {
            Verdict::Continue => {}
            Verdict::Intervene => {
                score.intervened(&obs.state);
                obs = env.recentre(0)?.remove(0);
                if let Some(l) = localiser.as_mut() {
                    // The car knows it was put back: its localisation starts again.
                    l.restart();
                    own_localisation(env, &mut obs, l, &mut localisation_errors)?;
                }
            }
            // The crashed state is recorded as the episode's last tick.
            Verdict::Stop => over = true,
        }
        progress(ticks, metres);
    }
    let (recording, frames) = match recording {
        Some(r) => (options.record.clone(), r.finish()?),
        None => (None, 0),
    };
    let (mut metrics, scored) = score.finish();
    let (passages, junction_entries) = junctions.finish(over && obs.state.crash.is_some());
    metrics.junctions = passages;
    stall.finish(&mut metrics);
    // Out of time: the drive's ticks ran out before its distance (a car that crawls, or one
    // kept waiting), not a completed route.
    let out_of_time = ticks >= options.max_ticks || obs.state.tick >= scenario.episode_steps as u64;
    metrics.timed_out =
        (options.distance_m.is_finite() && metres < options.distance_m && out_of_time) as u32;
    route.finish(&mut metrics, metres, options.distance_m);
    Ok(Drive {
        scenario: scenario.name.clone(),
        metrics,
        path: scored.path,
        interventions: scored.interventions,
        crashes: scored.crashes,
        policy_ticks,
        speed,
        recording,
        frames,
        junction_entries,
        localisation_errors,
    })
}

/// One tick of the car's own localisation: the filter reads the tick's sensors and camera, the
/// map is cut at its estimate, and its error against the true pose is logged.
fn own_localisation(
    env: &mut Env,
    obs: &mut Observation,
    localiser: &mut OnlineLocaliser,
    errors: &mut Vec<(f64, f64)>,
) -> Result<()> {
    let (Some(map), Some(frame)) = (&obs.map, &obs.frame) else {
        return Err(Error::InvalidArgument(
            "driving on its own localisation needs camera frames and map patches".into(),
        ));
    };
    let belief = localiser.step(map, frame)?;
    errors.push(belief.error(&Pose::of(&obs.state.vehicle)));
    obs.map = env.believe(0, belief);
    Ok(())
}
