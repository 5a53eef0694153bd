//! Who steers a drive and how each tick's action is chosen: the expert (with DART noise), the
//! learned policy from what the car senses, DAgger's mixture of both, or any controller.

use crate::drive::policy::{Policy, PolicyInputs, command_of};
use crate::error::{Error, Result};
use crate::nn::{SpeedDistribution, SteeringDistribution};
use crate::sim::{Action, DartNoise, Expert};
use crate::world::Observation;
use rand::RngExt;
use rand::rngs::StdRng;

/// Who steers.
pub enum Pilot<'a> {
    /// The privileged expert, with DART noise on what it applies ([`Expert::with_noise`]).
    Expert(DartNoise),
    /// The learned policy alone.
    Policy(&'a mut Policy),
    /// DAgger's mixture: each tick the expert steers with probability `beta`, else the policy.
    Mixture { policy: &'a mut Policy, beta: f64 },
    /// Any other controller: the action for each observation (scripted tests, keyboards).
    Custom(&'a mut dyn FnMut(&Observation) -> Action),
}

/// What the pilot chose at a tick, and from what.
pub(crate) struct Decision {
    pub(crate) action: Action,
    pub(crate) distribution: Option<SteeringDistribution>,
    /// The policy's mixture over target speed, when it set the speed.
    pub(crate) speed: Option<SpeedDistribution>,
    pub(crate) by_policy: bool,
    /// The fingerprint of the model that chose the action.
    pub(crate) model: Option<String>,
}

pub(crate) fn decide(
    pilot: &mut Pilot,
    expert: &mut Expert,
    coin: &mut StdRng,
    obs: &Observation,
) -> Result<Decision> {
    let label = obs.info.expert_action;
    let by_expert = |expert: &mut Expert| Decision {
        action: expert.perturb(label, &obs.state).applied,
        distribution: None,
        speed: None,
        by_policy: false,
        model: None,
    };
    let policy = match pilot {
        Pilot::Expert(_) => return Ok(by_expert(expert)),
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
    let seen = PolicyInputs {
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
