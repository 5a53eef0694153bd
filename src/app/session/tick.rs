//! One tick of the live session: the driver's action, the inference and detector threads
//! offered the frame, the recording, the step of the world with the safety driver's
//! interventions, and the [`Snapshot`] published for the window.

use super::{
    DetectionsView, Driver, LiveInference, MANUAL_ACCEL, MANUAL_MAX_CURVATURE, MANUAL_MAX_SPEED,
    PolicyView, Session, Snapshot,
};
use crate::app::inference::Sight;
use crate::drive::{TickOutcome, Verdict};
use crate::record::StepRecord;
use crate::record::schema::{ActionMsg, DriverMsg};
use crate::sim::Action;
use anyhow::Result;
use crossbeam_channel::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Session {
    /// The action of the current driver for the current observation.
    fn action(&mut self) -> Action {
        let expert = self.obs.info.expert_action;
        let dt = self.scenario.dt_s;
        match self.driver {
            Driver::Expert => expert,
            Driver::Manual => {
                let (steer, throttle) = self.manual;
                self.manual_speed =
                    (self.manual_speed + throttle * MANUAL_ACCEL * dt).clamp(0.0, MANUAL_MAX_SPEED);
                Action::new(steer * MANUAL_MAX_CURVATURE, self.manual_speed)
            }
            // The newest answer, whatever frame it came from (a car cannot wait either); straight
            // ahead until the first arrives. Speed is the policy's when it sets it, else the
            // expert's profile, as in `drive`.
            Driver::Policy => Action::new(
                self.last.as_ref().map_or(0.0, |l| l.value.curvature_per_m),
                self.last
                    .as_ref()
                    .and_then(|l| l.value.speed.as_ref())
                    .map_or(expert.speed_m_s, |(_, v)| *v),
            ),
        }
    }

    pub(super) fn tick(&mut self) -> Result<()> {
        let tick = self.obs.state.tick;
        if let (Some(worker), Some(frame)) = (self.worker.as_mut(), &self.frame) {
            worker.offer(
                tick,
                Sight {
                    frame: frame.clone(),
                    map: self.obs.map.as_ref().map(|m| Arc::new(m.patch.clone())),
                    command: crate::drive::policy::command_of(self.obs.map.as_ref()),
                    wheel_speed_m_s: self.obs.odometry.speed_m_s,
                },
            );
            // The policy acts on this frame when its answer comes within half a tick (it does
            // at a few ms per frame), else on the newest answer it has: a late answer costs a
            // tick of lag, never a stall.
            let deadline = Instant::now() + Duration::from_secs_f64(self.scenario.dt_s / 2.0);
            for answer in worker.answers_until(tick, deadline) {
                match answer {
                    Ok(a) => self.last = Some(a),
                    Err(e) => self.message = Some(format!("inference failed: {e}")),
                }
            }
        }
        if let Some((detector, _)) = self.detector.as_mut()
            && let Some(frame) = &self.frame
        {
            // Boxes are drawn, not acted on: the newest ready is enough.
            detector.offer(tick, Sight::camera(frame.clone()));
            for answer in detector.answers() {
                match answer {
                    Ok(a) => self.boxes = Some(a),
                    Err(e) => self.message = Some(format!("detection failed: {e}")),
                }
            }
        }
        if let Some(last) = &self.last {
            self.lag = tick.saturating_sub(last.frame_id);
        }
        let action = self.action();
        let label = self.obs.info.expert_action;
        let by_policy = self.driver == Driver::Policy;
        let distribution = self
            .last
            .as_ref()
            .filter(|_| by_policy)
            .map(|l| l.value.distribution.clone());
        let speed_distribution = self
            .last
            .as_ref()
            .filter(|_| by_policy)
            .and_then(|l| l.value.speed.as_ref())
            .map(|(d, _)| d.to_msg(tick));
        if let Some((recorder, _, frames)) = self.recorder.as_mut() {
            let record = StepRecord {
                tick,
                route: self
                    .obs
                    .state
                    .route
                    .as_ref()
                    .map(|r| crate::record::schema::RouteMsg::new(tick, r)),
                traffic: crate::record::schema::TrafficMsg::new(
                    tick,
                    &self.env.simulation().traffic_states(),
                ),
                frame: self.frame.as_deref().cloned(),
                state: (&self.obs.state).into(),
                action: Some(ActionMsg::new(tick, action)),
                expert_action: ActionMsg::expert(
                    tick,
                    label,
                    self.obs.info.expert_target_speed_m_s,
                ),
                driver: DriverMsg {
                    tick,
                    driver: self.driver.recorded().into(),
                    model: match self.driver {
                        Driver::Policy => self.fingerprint.clone(),
                        _ => None,
                    },
                },
                distribution: distribution.as_ref().map(|d| d.to_msg(tick)),
                speed_distribution,
                labels: None,
                map: self.obs.map.clone(),
                odometry: Some(self.obs.odometry),
            };
            if let Err(e) = recorder.record(record) {
                self.message = Some(format!("recording failed: {e}"));
                self.recorder = None;
            } else {
                *frames += 1;
            }
        }
        let before = self.obs.state.stats.distance_m;
        let obs = self.env.step(action)?;
        self.observe(obs);
        let s = &self.obs.state;
        // Autonomy is the policy's: ticks driven by the keyboard or the expert are not scored.
        let intervene = by_policy
            && self.tally.tick(&TickOutcome {
                dt_s: self.scenario.dt_s,
                distance_m: s.stats.distance_m - before,
                lateral_offset_m: s.lateral_offset_m,
                heading_error_rad: s.heading_error_rad,
                crash: s.crash,
                applied_curvature_per_m: action.curvature_per_m,
                expert_curvature_per_m: label.curvature_per_m,
                distribution: distribution.as_ref(),
                speed: self
                    .last
                    .as_ref()
                    .filter(|_| by_policy)
                    .and_then(|l| l.value.speed.as_ref())
                    .map(|(d, _)| crate::drive::metrics::SpeedOutcome {
                        distribution: d,
                        applied_m_s: action.speed_m_s,
                        expert_m_s: label.speed_m_s,
                    }),
            }) == Verdict::Intervene;
        // The safety driver takes over from the policy only; a person at the keyboard may
        // leave the lane.
        if intervene && by_policy {
            let obs = self.env.recentre(0)?.remove(0);
            self.observe(obs);
        }
        if self.obs.done {
            let obs = self.env.reset(self.options.seed)?.remove(0);
            self.observe(obs);
            self.message = Some("end of the episode: started again".into());
        }
        self.applied = Some(action);
        Ok(())
    }

    pub(super) fn publish(&mut self, snapshots: &Sender<Snapshot>) {
        let Some(frame) = self.frame.clone() else {
            return;
        };
        let policy = match (&self.worker, &self.last) {
            (Some(worker), Some(last)) => {
                let (offered, skipped) = worker.counts();
                Some(PolicyView {
                    distribution: last.value.distribution.clone(),
                    chosen_per_m: last.value.curvature_per_m,
                    speed: last.value.speed.clone(),
                    live: Some(LiveInference {
                        frame_lag: self.lag,
                        latency_ms: last.latency.as_secs_f64() * 1e3,
                        offered,
                        skipped,
                    }),
                })
            }
            _ => None,
        };
        let detections = match (&self.detector, &self.boxes) {
            (Some((_, classes)), Some(b)) => Some(DetectionsView {
                boxes: b
                    .value
                    .iter()
                    .map(|d| (*d, classes[d.class].clone()))
                    .collect(),
                classes: classes.clone(),
                latency_ms: b.latency.as_secs_f64() * 1e3,
                frame_lag: self.obs.state.tick.saturating_sub(b.frame_id),
            }),
            _ => None,
        };
        let snapshot = Snapshot {
            world_id: self.world_id,
            scenario: self.scenario.clone(),
            built: Ok(self.env.simulation().world().clone()),
            state: self.obs.state.clone(),
            traffic: std::sync::Arc::new(self.env.simulation().traffic_states()),
            frame,
            map: self.obs.map.as_ref().map(|m| Arc::new(m.patch.clone())),
            expert: self.obs.info.expert_action,
            applied: self.applied,
            driver: self.driver,
            policy,
            detections,
            // Only once the policy has driven: autonomy is the policy's.
            metrics: Some(self.tally.metrics()).filter(|m| m.ticks > 0),
            paused: self.paused,
            recording: self.recorder.as_ref().map(|(_, p, n)| (p.clone(), *n)),
            message: self.message.clone(),
            playback: None,
        };
        // A window that is behind gets the next one.
        let _ = snapshots.try_send(snapshot);
    }
}
