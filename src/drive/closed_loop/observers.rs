//! What a drive keeps beside its loop, one observer each: the recording of every tick, the
//! scores (and where the safety driver took over and the car crashed), the junctions passed,
//! whether the car left its route, and whether it stalled. The loop in [`super::drive`] calls
//! them in order every tick; a new figure of a drive is a new observer here.

use crate::drive::closed_loop::pilot::Decision;
use crate::drive::junctions::{JunctionEntry, JunctionStats, JunctionTally};
use crate::drive::metrics::{
    DriveSums, InterventionPlaces, Metrics, STALL_S, STANDING_M_S, SpeedOutcome, SteeringGains,
    Supervision, TickOutcome, Verdict,
};
use crate::error::Result;
use crate::record::schema::{ActionMsg, DriverMsg, RouteMsg, TrafficMsg};
use crate::record::{EpisodeMeta, Recorder, StepRecord};
use crate::sim::{Action, AgentState, Scenario, Vec2};
use crate::world::{Env, Observation};
use serde::Serialize;
use std::path::Path;

/// Off its route's lane for this far, a car driving without a safety driver has left the
/// route, metres: a car length or two of a wrong exit is a mistake it may still mend (it is
/// off-route for the scores from the first metre), three is a route it has left.
pub const LEAVE_ROUTE_M: f64 = 15.0;

/// One point of the driven path.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct PathPoint {
    pub x: f64,
    pub y: f64,
    pub lateral_offset_m: f64,
}

/// Every tick into the episode file, with the expert's label whoever drove.
pub(crate) struct Recording {
    recorder: Recorder,
}

impl Recording {
    pub(crate) fn start(path: &Path, scenario: &Scenario, meta: &EpisodeMeta) -> Result<Self> {
        Ok(Self {
            recorder: Recorder::start(path, scenario, meta)?,
        })
    }

    /// Records the tick `obs` shows (its frame, labels and map are moved into the file) and
    /// what was decided on it (`None` on the drive's last tick).
    pub(crate) fn record(
        &mut self,
        env: &Env,
        obs: &mut Observation,
        decision: Option<&Decision>,
    ) -> Result<()> {
        let tick = obs.state.tick;
        self.recorder.record(StepRecord {
            tick,
            route: obs.state.route.as_ref().map(|r| RouteMsg::new(tick, r)),
            traffic: TrafficMsg::new(tick, &env.simulation().traffic_states()),
            frame: obs.frame.take(),
            state: (&obs.state).into(),
            action: decision.map(|d| ActionMsg::new(tick, d.action)),
            expert_action: ActionMsg::expert(
                tick,
                obs.info.expert_action,
                obs.info.expert_target_speed_m_s,
            ),
            driver: DriverMsg {
                tick,
                driver: match decision {
                    Some(d) if d.by_policy => "policy".into(),
                    _ => "expert".into(),
                },
                model: decision.and_then(|d| d.model.clone()),
            },
            distribution: decision
                .and_then(|d| d.distribution.as_ref())
                .map(|d| d.to_msg(tick)),
            speed_distribution: decision
                .and_then(|d| d.speed.as_ref())
                .map(|d| d.to_msg(tick)),
            labels: obs.labels.take(),
            map: obs.map.take(),
            odometry: Some(obs.odometry),
        })
    }

    /// Closes the file; the camera frames written.
    pub(crate) fn finish(self) -> Result<u64> {
        self.recorder.finish()
    }
}

/// What the scores leave beside the metrics: the path, and where the safety driver took over
/// and the car crashed.
pub(crate) struct Scored {
    pub(crate) path: Vec<PathPoint>,
    pub(crate) interventions: Vec<Vec2>,
    pub(crate) crashes: Vec<Vec2>,
}

/// The drive's running scores (PilotNet's interventions, offsets, the policy's distributions
/// against the expert), its path, and where it was put back or crashed.
pub(crate) struct Score {
    sums: DriveSums,
    places: InterventionPlaces,
    gains: SteeringGains,
    scored: Scored,
    crashed: bool,
}

impl Score {
    pub(crate) fn new(supervision: Supervision) -> Self {
        Self {
            sums: DriveSums::new(supervision),
            places: InterventionPlaces::default(),
            gains: SteeringGains::default(),
            scored: Scored {
                path: Vec::new(),
                interventions: Vec::new(),
                crashes: Vec::new(),
            },
            crashed: false,
        }
    }

    /// Scores the tick that `decision` led to (`state`, after `moved` metres); the verdict
    /// says whether the safety driver takes over or the drive ends.
    pub(crate) fn tick(
        &mut self,
        state: &AgentState,
        dt_s: f64,
        moved: f64,
        decision: &Decision,
        label: Action,
    ) -> Verdict {
        self.scored.path.push(PathPoint {
            x: state.vehicle.position.x,
            y: state.vehicle.position.y,
            lateral_offset_m: state.lateral_offset_m,
        });
        let verdict = self.sums.tick(&TickOutcome {
            dt_s,
            distance_m: moved,
            lateral_offset_m: state.lateral_offset_m,
            heading_error_rad: state.heading_error_rad,
            crash: state.crash,
            applied_curvature_per_m: decision.action.curvature_per_m,
            expert_curvature_per_m: label.curvature_per_m,
            distribution: decision.distribution.as_ref(),
            speed: decision.speed.as_ref().map(|d| SpeedOutcome {
                distribution: d,
                applied_m_s: decision.action.speed_m_s,
                expert_m_s: label.speed_m_s,
            }),
        });
        if let (Some(route), true) = (&state.route, decision.by_policy) {
            self.gains.count(
                route,
                state.lateral_offset_m,
                state.heading_error_rad,
                decision.action.curvature_per_m,
                label.curvature_per_m,
            );
        }
        if state.crash.is_some() && !self.crashed {
            self.scored.crashes.push(state.vehicle.position);
        }
        self.crashed = state.crash.is_some();
        verdict
    }

    /// The safety driver takes over at `state` (the car is put back on its lane).
    pub(crate) fn intervened(&mut self, state: &AgentState) {
        self.scored.interventions.push(state.vehicle.position);
        if let Some(route) = &state.route {
            self.places.count(route);
        }
        self.crashed = false;
    }

    pub(crate) fn finish(self) -> (Metrics, Scored) {
        let mut metrics = self.sums.metrics();
        metrics.intervention_places = self.places;
        metrics.steering_gains = self.gains;
        (metrics, self.scored)
    }
}

/// The junctions of the route: each passage's outcome, and the policy's mixture at each entry.
#[derive(Default)]
pub(crate) struct JunctionWatch {
    tally: JunctionTally,
    entries: Vec<JunctionEntry>,
    was_in: bool,
}

impl JunctionWatch {
    /// The tick `obs` shows, before the car moves: on entering a junction, the mixture the
    /// decision came from beside the junction's exits.
    pub(crate) fn sensed(&mut self, obs: &Observation, decision: Option<&Decision>) {
        let route = obs.state.route.as_ref();
        let inside = route.is_some_and(|r| r.in_junction);
        if inside
            && !self.was_in
            && let (Some(route), Some(d)) = (route, decision.and_then(|d| d.distribution.as_ref()))
        {
            self.entries.extend(JunctionEntry::at(route, d));
        }
        self.was_in = inside;
    }

    /// The passages' outcomes (`crashed`: the drive ended in a crash) and the entries.
    pub(crate) fn finish(self, crashed: bool) -> (JunctionStats, Vec<JunctionEntry>) {
        (self.tally.finish(crashed), self.entries)
    }
}

/// Whether the car keeps to its route in a town: off its route's lane (further than half a
/// lane from the route's path) for [`LEAVE_ROUTE_M`] without a safety driver, it has left the
/// route and the drive ends.
pub(crate) struct RouteWatch {
    /// Further than this from the route's path the car is on another lane or road (infinite
    /// off towns).
    off_route_m: f64,
    /// Without a safety driver, in a town.
    free_in_town: bool,
    off_route_for_m: f64,
    left_route: bool,
}

impl RouteWatch {
    /// For a town whose lanes are `lane_width_m` wide (`None` off towns).
    pub(crate) fn new(lane_width_m: Option<f64>, supervision: Supervision) -> Self {
        let off_route_m = lane_width_m.map_or(f64::INFINITY, |w| w / 2.0);
        Self {
            off_route_m,
            free_in_town: supervision == Supervision::Free && off_route_m.is_finite(),
            off_route_for_m: 0.0,
            left_route: false,
        }
    }

    /// The tick `state` (after `moved` metres, judged `verdict`) on the route and its
    /// junctions; true when the car has left its route and the drive ends.
    pub(crate) fn tick(
        &mut self,
        state: &AgentState,
        moved: f64,
        verdict: Verdict,
        junctions: &mut JunctionWatch,
    ) -> bool {
        let Some(route) = &state.route else {
            return false;
        };
        let off_lane = state.lateral_offset_m.abs() > self.off_route_m;
        junctions
            .tally
            .tick(route, moved, off_lane || verdict == Verdict::Intervene);
        self.off_route_for_m = if off_lane {
            self.off_route_for_m + moved
        } else {
            0.0
        };
        if self.free_in_town && self.off_route_for_m > LEAVE_ROUTE_M && state.crash.is_none() {
            self.left_route = true;
            return true;
        }
        false
    }

    /// Route completion, for a drive without a safety driver in a town: `metres` driven of
    /// `distance_m` planned (a drive with a distance was planned to all of it, however it
    /// ended; one without, collection, had no more route than it drove).
    pub(crate) fn finish(&self, metrics: &mut Metrics, metres: f64, distance_m: f64) {
        if !self.free_in_town {
            return;
        }
        metrics.route_completed_km = metres / 1000.0;
        metrics.route_planned_km = if distance_m.is_finite() {
            distance_m.max(metres) / 1000.0
        } else {
            metres / 1000.0
        };
        metrics.left_route = self.left_route as u32;
    }
}

/// A car that stands still for [`STALL_S`] has stalled, and its drive ends.
#[derive(Default)]
pub(crate) struct StallWatch {
    standing_s: f64,
    stall: Option<String>,
}

impl StallWatch {
    /// True when the car, at `state`, has just stalled.
    pub(crate) fn tick(&mut self, state: &AgentState, dt_s: f64) -> bool {
        self.standing_s = if state.vehicle.speed_m_s < STANDING_M_S {
            self.standing_s + dt_s
        } else {
            0.0
        };
        if self.standing_s >= STALL_S && self.stall.is_none() {
            self.stall = Some(stall_place(state, self.standing_s));
            return true;
        }
        false
    }

    pub(crate) fn finish(self, metrics: &mut Metrics) {
        metrics.stalls = self.stall.is_some() as u32;
        metrics.stall = self.stall;
    }
}

/// Where a car that stood still for `standing_s` stood: before or inside which junction of
/// its route, or how far along its track.
fn stall_place(state: &AgentState, standing_s: f64) -> String {
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
