//! One closed-loop drive: a pilot (expert, policy, or the DAgger mixture of both) steers the
//! car from what the world shows; every tick is scored, a safety driver intervenes when the car
//! strays, and the drive can be recorded for replay and for training (the expert's label is
//! recorded at every tick, whoever drove).

use crate::drive::junctions::{JunctionEntry, JunctionTally};
use crate::drive::localise::{OnlineLocaliser, OwnLocalisation};
use crate::drive::metrics::{
    InterventionPlaces, Metrics, STALL_S, STANDING_M_S, SpeedOutcome, Supervision, Tally,
    TickOutcome, Verdict,
};
use crate::drive::policy::{Policy, Seen, SpeedSource, command_of};
use crate::drive::workers::Driver;
use crate::error::{Error, Result};
use crate::nn::{SpeedDistribution, SteeringDistribution};
use crate::record::schema::{ActionMsg, DriverMsg, RouteMsg, TrafficMsg};
use crate::record::{EpisodeMeta, Recorder, StepRecord};
use crate::sim::Scenario;
use crate::sim::map_input::{MapOptions, Pose};
use crate::sim::randomise::Randomisation;
use crate::sim::{Action, Expert, ExpertConfig, Vec2};
use crate::world::{Env, EnvOptions, Observation};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Who steers.
pub enum Pilot<'a> {
    /// The privileged expert, with DART noise of this standard deviation (1/m), correlated
    /// over `noise_correlation_s` (0: white noise), and on its speed DART noise of
    /// `speed_noise_m_s` with the same correlation ([`Expert::with_speed_noise`]).
    Expert {
        noise_std_per_m: f64,
        noise_correlation_s: f64,
        speed_noise_m_s: f64,
    },
    /// The learned policy alone.
    Policy(&'a mut Policy),
    /// DAgger's mixture: each tick the expert steers with probability `beta`, else the policy.
    Mixture { policy: &'a mut Policy, beta: f64 },
    /// Any other controller: the action for each observation (scripted tests, keyboards).
    Custom(&'a mut dyn FnMut(&Observation) -> Action),
}

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

/// One point of the driven path.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct PathPoint {
    pub x: f64,
    pub y: f64,
    pub lateral_offset_m: f64,
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

/// Off its route's lane for this far, a car driving without a safety driver has left the
/// route, metres: a car length or two of a wrong exit is a mistake it may still mend (it is
/// off-route for the scores from the first metre), three is a route it has left.
pub const LEAVE_ROUTE_M: f64 = 15.0;

struct Decision {
    action: Action,
    distribution: Option<SteeringDistribution>,
    /// The policy's mixture over target speed, when it set the speed.
    speed: Option<SpeedDistribution>,
    by_policy: bool,
    /// The fingerprint of the model that chose the action.
    model: Option<String>,
}

/// Drives `env`'s single car as `options` say; `progress(ticks, metres)` is called every tick.
pub fn drive(
    env: &mut Env,
    pilot: &mut Pilot,
    options: &DriveOptions,
    progress: &mut dyn FnMut(u64, f64),
) -> Result<Drive> {
    let scenario = env.scenario().clone();
    let dt = scenario.dt_s;
    let (noise, correlation_s, speed_noise) = match pilot {
        Pilot::Expert {
            noise_std_per_m,
            noise_correlation_s,
            speed_noise_m_s,
        } => (*noise_std_per_m, *noise_correlation_s, *speed_noise_m_s),
        _ => (0.0, 0.0, 0.0),
    };
    let speed = match pilot {
        Pilot::Policy(p) | Pilot::Mixture { policy: p, .. } => p.speed,
        Pilot::Expert { .. } => SpeedSource::Expert,
        Pilot::Custom(_) => SpeedSource::Controller,
    };
    let mut expert = Expert::new(ExpertConfig::default(), noise, options.seed)
        .with_noise_correlation(correlation_s, dt)
        .with_speed_noise(speed_noise);
    let mut coin = StdRng::seed_from_u64(options.seed ^ 0xDA66_E200_0000_0001);
    let mut recorder = match &options.record {
        Some(path) => {
            let mut meta = EpisodeMeta::new(&scenario, options.seed, options.episode, noise)?;
            meta.noise_correlation_s = correlation_s;
            meta.speed_noise_m_s = speed_noise;
            Some(Recorder::start(path, &scenario, &meta)?)
        }
        None => None,
    };
    let mut tally = Tally::new(options.supervision);
    let mut junctions = JunctionTally::default();
    let (mut junction_entries, mut was_in_junction) = (Vec::new(), false);
    // Further than half a lane from the route's path, the car is on another lane or road.
    let off_route_m = env
        .simulation()
        .town()
        .map_or(f64::INFINITY, |t| t.network.lane_width_m / 2.0);
    // Without a safety driver in a town, a drive also ends when the car has left its route.
    let free_in_town = options.supervision == Supervision::Free && off_route_m.is_finite();
    let (mut off_route_for_m, mut left_route) = (0.0, false);
    // How long the car has stood still, and why its drive stalled.
    let (mut standing_s, mut stall) = (0.0, None);
    let mut path = Vec::new();
    let mut interventions = Vec::new();
    let mut places = InterventionPlaces::default();
    let mut crashes = Vec::new();
    let mut crashed = false;
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
        let tick = obs.state.tick;
        let label = obs.info.expert_action;
        let stop = over || obs.done || metres >= options.distance_m || ticks >= options.max_ticks;
        let decision = if stop {
            None
        } else {
            Some(decide(pilot, &mut expert, &mut coin, &obs)?)
        };
        let in_junction = obs.state.route.as_ref().is_some_and(|r| r.in_junction);
        if in_junction
            && !was_in_junction
            && let (Some(route), Some(d)) = (
                &obs.state.route,
                decision.as_ref().and_then(|d| d.distribution.as_ref()),
            )
        {
            junction_entries.extend(JunctionEntry::at(route, d));
        }
        was_in_junction = in_junction;
        if let Some(recorder) = recorder.as_mut() {
            recorder.record(StepRecord {
                tick,
                route: obs.state.route.as_ref().map(|r| RouteMsg::new(tick, r)),
                traffic: TrafficMsg::new(tick, &env.simulation().traffic_states()),
                frame: obs.frame.take(),
                state: (&obs.state).into(),
                action: decision.as_ref().map(|d| ActionMsg::new(tick, d.action)),
                expert_action: ActionMsg::expert(tick, label, obs.info.expert_target_speed_m_s),
                driver: DriverMsg {
                    tick,
                    driver: match &decision {
                        Some(d) if d.by_policy => "policy".into(),
                        _ => "expert".into(),
                    },
                    model: decision.as_ref().and_then(|d| d.model.clone()),
                },
                distribution: decision
                    .as_ref()
                    .and_then(|d| d.distribution.as_ref())
                    .map(|d| d.to_msg(tick)),
                speed_distribution: decision
                    .as_ref()
                    .and_then(|d| d.speed.as_ref())
                    .map(|d| d.to_msg(tick)),
                labels: obs.labels.take(),
                map: obs.map.take(),
                odometry: Some(obs.odometry),
            })?;
        }
        let Some(decision) = decision else { break };
        policy_ticks += decision.by_policy as u64;
        let before = obs.state.stats.distance_m;
        obs = env.step(decision.action)?;
        if let Some(l) = localiser.as_mut() {
            own_localisation(env, &mut obs, l, &mut localisation_errors)?;
        }
        let s = &obs.state;
        let moved = s.stats.distance_m - before;
        ticks += 1;
        metres += moved;
        path.push(PathPoint {
            x: s.vehicle.position.x,
            y: s.vehicle.position.y,
            lateral_offset_m: s.lateral_offset_m,
        });
        let verdict = tally.tick(&TickOutcome {
            dt_s: dt,
            distance_m: moved,
            lateral_offset_m: s.lateral_offset_m,
            heading_error_rad: s.heading_error_rad,
            crash: s.crash,
            applied_curvature_per_m: decision.action.curvature_per_m,
            expert_curvature_per_m: label.curvature_per_m,
            distribution: decision.distribution.as_ref(),
            speed: decision.speed.as_ref().map(|d| SpeedOutcome {
                distribution: d,
                applied_m_s: decision.action.speed_m_s,
                expert_m_s: label.speed_m_s,
            }),
        });
        if let Some(route) = &s.route {
            let off = s.lateral_offset_m.abs() > off_route_m || verdict == Verdict::Intervene;
            junctions.tick(route, moved, off);
            off_route_for_m = if s.lateral_offset_m.abs() > off_route_m {
                off_route_for_m + moved
            } else {
                0.0
            };
            if free_in_town && off_route_for_m > LEAVE_ROUTE_M && s.crash.is_none() {
                left_route = true;
                over = true;
            }
        }
        standing_s = if s.vehicle.speed_m_s < STANDING_M_S {
            standing_s + dt
        } else {
            0.0
        };
        if standing_s >= STALL_S && stall.is_none() {
            stall = Some(stall_place(s, standing_s));
            over = true;
        }
        if s.crash.is_some() && !crashed {
            crashes.push(s.vehicle.position);
        }
        crashed = s.crash.is_some();
        match verdict {
            Verdict::Continue => {}
            Verdict::Intervene => {
                interventions.push(s.vehicle.position);
                if let Some(route) = &s.route {
                    places.count(route);
                }
                obs = env.recentre(0)?.remove(0);
                if let Some(l) = localiser.as_mut() {
                    // The car knows it was put back: its localisation starts again.
                    l.restart();
                    own_localisation(env, &mut obs, l, &mut localisation_errors)?;
                }
                crashed = false;
            }
            // The crashed state is recorded as the episode's last tick.
            Verdict::Stop => over = true,
        }
        progress(ticks, metres);
    }
    let (recording, frames) = match recorder {
        Some(r) => (options.record.clone(), r.finish()?),
        None => (None, 0),
    };
    let mut metrics = tally.metrics();
    metrics.junctions = junctions.finish(over && obs.state.crash.is_some());
    metrics.intervention_places = places;
    metrics.stalls = stall.is_some() as u32;
    metrics.stall = stall;
    // Out of time: the drive's ticks ran out before its distance (a car that crawls, or one
    // kept waiting), not a completed route.
    let out_of_time = ticks >= options.max_ticks || obs.state.tick >= scenario.episode_steps as u64;
    metrics.timed_out =
        (options.distance_m.is_finite() && metres < options.distance_m && out_of_time) as u32;
    if free_in_town {
        // A drive with a distance was planned to all of it, however it ended; one without
        // (collection) had no more route than it drove.
        metrics.route_completed_km = metres / 1000.0;
        metrics.route_planned_km = if options.distance_m.is_finite() {
            options.distance_m.max(metres) / 1000.0
        } else {
            metres / 1000.0
        };
        metrics.left_route = left_route as u32;
    }
    Ok(Drive {
        scenario: scenario.name.clone(),
        metrics,
        path,
        interventions,
        crashes,
        policy_ticks,
        speed,
        recording,
        frames,
        junction_entries,
        localisation_errors,
    })
}

/// Where a car that stood still for `standing_s` stood: before or inside which junction of
/// its route, or how far along its track.
fn stall_place(state: &crate::sim::AgentState, standing_s: f64) -> String {
    let place = match &state.route {
        Some(r) if r.in_junction => format!("inside junction {}", r.junction),
        Some(r) if r.distance_to_junction_m.is_finite() => {
            format!(
                "{:.0} m before junction {}",
                r.distance_to_junction_m, r.junction
            )
        }
        _ => format!("{:.0} m along the track", state.s_m),
    };
    format!("stood still for {standing_s:.0} s, {place}")
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

/// Drives each scenario once for `ticks` (its episode cut to that length) with the same pilot,
/// recording `<dir>/<scenario name>.mcap`; `seed(name)` seeds each drive. Data collection,
/// validation and calibration drives all go this way. With `randomise = Some((ranges, n))`
/// each scenario is instead driven `n` times for `ticks / n`, each drive in a scenario drawn
/// from `ranges` with the drive's seed, recorded as `<name>_<k>.mcap`. With `map`, every tick
/// also cuts (and records) the car's map patch; a randomised drive then draws its localisation
/// error from `ranges` too, unless `map` gives a GPS error.
#[allow(clippy::too_many_arguments)]
pub fn drive_each(
    scenarios: &[Scenario],
    ticks: u64,
    dir: &Path,
    driver: Driver,
    supervision: Supervision,
    seed: &(dyn Fn(&str) -> u64 + Sync),
    randomise: Option<(&Randomisation, u32)>,
    map: Option<MapOptions>,
    progress: &mut dyn FnMut(&str, u64, f64),
) -> Result<Vec<Drive>> {
    crate::files::create_dir_all(dir)?;
    let draws = randomise.map_or(1, |(_, n)| n.max(1));
    let ticks = (ticks / draws as u64).max(1);
    // Every drive's world, seed and file, drawn here in order; then driven side by side.
    let mut jobs = Vec::with_capacity(scenarios.len() * draws as usize);
    for (k, base) in scenarios.iter().enumerate() {
        let name = base.name.clone();
        for draw in 0..draws {
            let (mut scenario, drive_seed, file) = match randomise {
                None => (base.clone(), seed(&name), format!("{name}.mcap")),
                Some((ranges, _)) => {
                    let drive_seed = seed(&format!("{name}/{draw}"));
                    let drawn = ranges.draw(base, drive_seed)?;
                    (drawn, drive_seed, format!("{name}_{draw}.mcap"))
                }
            };
            scenario.episode_steps = ticks.min(u32::MAX as u64) as u32;
            // A randomised drive draws its localisation error too, unless one was given.
            let map = match (map, randomise) {
                (Some(m), Some((ranges, _))) if m.gps.is_none() => {
                    let (gps, dropouts) = ranges.draw_localisation(drive_seed);
                    Some(MapOptions {
                        gps: Some(gps),
                        dropouts,
                        ..m
                    })
                }
                (m, _) => m,
            };
            let run = DriveOptions {
                distance_m: f64::INFINITY,
                max_ticks: ticks,
                seed: drive_seed,
                supervision,
                record: Some(dir.join(file)),
                episode: k as u32 * draws + draw,
                localise: None,
            };
            jobs.push((scenario, map, run));
        }
    }
    crate::drive::workers::run(
        jobs.len(),
        &|j, progress| {
            let (scenario, map, run) = &jobs[j];
            let name = scenario.name.clone();
            let options = EnvOptions {
                map: *map,
                ..EnvOptions::default()
            };
            let mut env = Env::new(scenario.clone(), options)
                .map_err(|e| e.context(format!("scenario {name}")))?;
            // Each drive gets a fresh copy of the policy, so that it depends on nothing before.
            let mut policy;
            let mut pilot = match driver {
                Driver::Expert {
                    noise_std_per_m,
                    noise_correlation_s,
                    speed_noise_m_s,
                } => Pilot::Expert {
                    noise_std_per_m,
                    noise_correlation_s,
                    speed_noise_m_s,
                },
                Driver::Policy(p) => {
                    policy = p.fresh()?;
                    Pilot::Policy(&mut policy)
                }
                Driver::Mixture { policy: p, beta } => {
                    policy = p.fresh()?;
                    Pilot::Mixture {
                        policy: &mut policy,
                        beta,
                    }
                }
            };
            drive(&mut env, &mut pilot, run, progress)
        },
        &mut |j, t, m| progress(&scenarios[j / draws as usize].name, t, m),
    )
}

fn decide(
    pilot: &mut Pilot,
    expert: &mut Expert,
    coin: &mut StdRng,
    obs: &Observation,
) -> Result<Decision> {
    let label = obs.info.expert_action;
    let by_expert = |expert: &mut Expert| Decision {
        action: expert.perturb(label, obs.state.vehicle.speed_m_s).applied,
        distribution: None,
        speed: None,
        by_policy: false,
        model: None,
    };
    let policy = match pilot {
        Pilot::Expert { .. } => return Ok(by_expert(expert)),
        Pilot::Custom(control) => {
            return Ok(Decision {
                action: control(obs),
                distribution: None,
                speed: None,
                by_policy: true,
                model: None,
            });
        }
        Pilot::Policy(policy) => &mut **policy,
        Pilot::Mixture { policy, beta } => {
            if coin.random_range(0.0..1.0) < *beta {
                return Ok(by_expert(expert));
            }
            &mut **policy
        }
    };
    let Some(frame) = &obs.frame else {
        return Err(Error::InvalidArgument(
            "a policy drives from camera frames, but this world renders none".into(),
        ));
    };
    let seen = Seen {
        frame,
        map: obs.map.as_ref().map(|m| &m.patch),
        command: command_of(obs.map.as_ref()),
        wheel_speed_m_s: obs.odometry.speed_m_s,
    };
    let acted = policy
        .act(&seen, label.speed_m_s)
        .map_err(|e| e.context("the policy could not act"))?;
    Ok(Decision {
        action: acted.action,
        distribution: Some(acted.steering),
        speed: acted.speed,
        by_policy: true,
        model: Some(policy.fingerprint.clone()),
    })
}
