//! The headless environment: the one way the rest of the project drives the world.
//!
//! `Env` is a thin driver: it owns a [`Simulation`] (pure Rust), each car's sensors (odometry,
//! the map sensor), the expert labeller and, when rendering, the [`crate::world::renderer`] (a
//! Bevy app of plugins with one hood camera per car). `step` advances the simulation by one
//! tick, moves the cars, runs one Bevy update and returns the frames of that very tick:
//! pipelined rendering is off and frames are read back synchronously, so there is no frame of
//! lag; each frame carries the tick it shows and `Env` refuses any other.

use crate::error::{Error, Result};
use crate::sim::built::BuiltWorld;
use crate::sim::expert::Expert;
use crate::sim::labels::LabelFrame;
use crate::sim::map_input::{MapObservation, MapOptions, MapSensor};
use crate::sim::math::fnv1a;
use crate::sim::odometry::{Odometry, OdometryNoise, OdometryReading};
use crate::sim::scenario::Scenario;
use crate::sim::simulation::{AgentState, Simulation};
use crate::sim::track::Track;
use crate::sim::vehicle::Action;
use crate::sim::{ExpertConfig, Frame};
pub use crate::world::plugins::window_plugins;
use crate::world::renderer::{FrameTiming, Renderer};
use std::sync::Arc;

/// How an [`Env`] is built.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvOptions {
    /// Independent cars in the world, each with its own camera.
    pub agents: usize,
    /// Render camera frames; without it `step` returns states only (no Bevy at all).
    pub render: bool,
    /// Also render each camera's label frame (ids of sky, road, marking, ground and every
    /// prop instance), for class masks and object boxes. Costs a second render per camera.
    pub labels: bool,
    /// Also cut each car's map patch (the navigation network's second input) every tick.
    pub map: Option<MapOptions>,
}

impl Default for EnvOptions {
    fn default() -> Self {
        Self {
            agents: 1,
            render: true,
            labels: false,
            map: None,
        }
    }
}

/// Extra facts about a step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepInfo {
    /// The privileged expert's clean action for the state reached (the imitation label).
    pub expert_action: Action,
    /// The expert's target speed for that state (a speed policy's label,
    /// [`crate::sim::Expert::labels`]), m/s.
    pub expert_target_speed_m_s: f64,
    /// The car is off the road (|lateral offset| > half the road width).
    pub off_road: bool,
}

/// What one car sees and is after a tick.
#[derive(Clone, Debug)]
pub struct Observation {
    /// The hood camera's frame of this tick (`None` when rendering is off).
    pub frame: Option<Frame>,
    /// The label frame of the same view (`None` unless `EnvOptions::labels`).
    pub labels: Option<LabelFrame>,
    pub state: AgentState,
    /// The map patch at the car's believed pose (`None` unless `EnvOptions::map`).
    pub map: Option<MapObservation>,
    /// What the car's odometry measured over the last tick: its wheel speed (the speedometer
    /// a policy may read), distance and heading change, with the sensors' errors.
    pub odometry: OdometryReading,
    pub done: bool,
    pub info: StepInfo,
}

/// A driving world with N cars.
pub struct Env {
    sim: Simulation,
    expert: Expert,
    renderer: Option<Renderer>,
    map: Option<MapSensor>,
    /// Every car's wheel-speed sensors and gyro, and what they read last.
    odometry: Vec<(Odometry, OdometryReading)>,
}

impl Env {
    /// Builds the world of `scenario`. Fails with [`Error::NoVulkanAdapter`] when rendering is
    /// requested and no Vulkan driver is installed.
    pub fn new(scenario: Scenario, options: EnvOptions) -> Result<Env> {
        let world = BuiltWorld::validated(&scenario)?;
        Self::assemble(scenario, world, options)
    }

    /// Drives in `world`, the world of `scenario` built before ([`BuiltWorld::validated`], or a
    /// randomised draw's): every environment of one scenario can share one build, whatever
    /// else differs between them (traffic, episode length). The scenario's checks besides its
    /// track run again (they build nothing).
    pub fn in_world(
        scenario: Scenario,
        world: Arc<BuiltWorld>,
        options: EnvOptions,
    ) -> Result<Env> {
        let problems = scenario.problems_besides_the_track();
        if !problems.is_empty() {
            return Err(Error::ScenarioInvalid {
                file: scenario.name.clone(),
                problems,
            });
        }
        Self::assemble(scenario, world, options)
    }

    /// The environment of a validated `scenario` in its `world`.
    fn assemble(scenario: Scenario, world: Arc<BuiltWorld>, options: EnvOptions) -> Result<Env> {
        let sim = Simulation::in_world(scenario, world, options.agents)?;
        let expert = Expert::new(ExpertConfig::default(), sim.scenario.seed);
        let renderer = if options.render {
            Some(Renderer::new(&sim, options.labels)?)
        } else {
            None
        };
        let map = options.map.map(|o| MapSensor::new(&sim, o));
        let mut env = Env {
            sim,
            expert,
            renderer,
            map,
            odometry: Vec::new(),
        };
        if let Some(r) = env.renderer.as_mut() {
            r.warm_up(&env.sim)?;
        }
        Ok(env)
    }

    pub fn scenario(&self) -> &Scenario {
        &self.sim.scenario
    }

    pub fn track(&self) -> &Track {
        &self.sim.track
    }

    pub fn agent_count(&self) -> usize {
        self.sim.agent_count()
    }

    pub fn simulation(&self) -> &Simulation {
        &self.sim
    }

    /// The map sensor, when the world cuts map patches.
    pub fn map_sensor(&self) -> Option<&MapSensor> {
        self.map.as_ref()
    }

    /// Timing of the last rendered tick (`None` when rendering is off).
    pub fn last_frame_timing(&self) -> Option<FrameTiming> {
        self.renderer.as_ref().map(|r| r.last_timing)
    }

    /// Starts a new episode for every car and returns what they see at tick 0.
    pub fn reset(&mut self, seed: u64) -> Result<Vec<Observation>> {
        self.reset_drive(seed, seed)
    }

    /// [`Env::reset`] with the cars' sensor errors (GPS, odometry, dropouts) drawn from
    /// `sensor_seed`: drives of one run that share a world seed still get errors of their own.
    pub fn reset_drive(&mut self, seed: u64, sensor_seed: u64) -> Result<Vec<Observation>> {
        self.sim.reset(seed);
        let agents = self.sim.agent_count();
        if let Some(map) = self.map.as_mut() {
            map.reset(sensor_seed, agents);
        }
        let noise = self
            .map
            .as_ref()
            .map_or(OdometryNoise::default(), |m| m.options.odometry);
        self.odometry = (0..agents)
            .map(|i| {
                let seed = fnv1a(&[&sensor_seed.to_le_bytes(), &i.to_le_bytes()]);
                (Odometry::new(noise, seed), OdometryReading::default())
            })
            .collect();
        self.sense(0.0, None);
        self.observe()
    }

    /// The cars' sensors read the state reached after `dt_s` seconds; `moved` names the one
    /// car put somewhere else (only it reads again, its navigation system matching afresh).
    fn sense(&mut self, dt_s: f64, moved: Option<usize>) {
        let states = self.sim.states();
        for (agent, (odometry, last)) in self.odometry.iter_mut().enumerate() {
            let Some(state) = states.get(agent) else {
                break;
            };
            match moved {
                Some(m) if m != agent => continue,
                Some(_) => {
                    odometry.restart();
                    if let Some(map) = self.map.as_mut() {
                        map.relocate(agent);
                    }
                }
                None => {}
            }
            *last = odometry.measure(&state.vehicle, dt_s);
            if let Some(map) = self.map.as_mut() {
                map.sense(agent, &state.vehicle, *last, dt_s);
            }
        }
    }

    /// Car `agent`'s own localisation puts it at `belief` this tick: its map patch, route
    /// progress and command are cut there instead of at the GPS fix. Returns the new map.
    pub fn believe(
        &mut self,
        agent: usize,
        belief: crate::sim::map_input::Pose,
    ) -> Option<MapObservation> {
        let map = self.map.as_mut()?;
        map.believe(agent, belief);
        map.observe(agent, self.sim.states().get(agent)?.tick)
    }

    /// One tick of a single-car environment.
    pub fn step(&mut self, action: Action) -> Result<Observation> {
        if self.agent_count() != 1 {
            return Err(Error::InvalidArgument(format!(
                "step takes one action but this world has {} cars; use step_all",
                self.agent_count()
            )));
        }
        let mut obs = self.step_all(&[action])?;
        Ok(obs.remove(0))
    }

    /// One tick for every car (one action each, in agent order).
    pub fn step_all(&mut self, actions: &[Action]) -> Result<Vec<Observation>> {
        self.sim.step(actions)?;
        self.sense(self.sim.scenario.dt_s, None);
        self.observe()
    }

    /// In a town: the cars take `turn` at the next junction (see
    /// [`Simulation::choose_turn`]); what they see is unchanged until the next tick.
    pub fn choose_turn(&mut self, turn: crate::sim::network::Turn) -> Result<()> {
        self.sim.choose_turn(turn)?;
        // A routed map draws the new route.
        if let Some(map) = self.map.as_mut() {
            map.follow_route(&self.sim);
        }
        Ok(())
    }

    /// Puts car `agent` back on the centreline (an intervention) and re-renders its view.
    pub fn recentre(&mut self, agent: usize) -> Result<Vec<Observation>> {
        self.sim.recentre(agent)?;
        self.sense(0.0, Some(agent));
        self.observe()
    }

    /// Starts a new episode for car `agent` alone (see [`Simulation::respawn`]) and
    /// re-renders every view.
    pub fn respawn(&mut self, agent: usize, seed: u64) -> Result<Vec<Observation>> {
        self.sim.respawn(agent, seed)?;
        self.sense(0.0, Some(agent));
        self.observe()
    }

    /// Puts car `agent` at `state` (see [`Simulation::place`]) and re-renders every view.
    pub fn place(
        &mut self,
        agent: usize,
        state: crate::sim::vehicle::VehicleState,
    ) -> Result<Vec<Observation>> {
        self.sim.place(agent, state)?;
        self.sense(0.0, Some(agent));
        self.observe()
    }

    fn observe(&mut self) -> Result<Vec<Observation>> {
        let states = self.sim.states().to_vec();
        let (mut frames, mut labels): (Vec<Option<Frame>>, Vec<Option<LabelFrame>>) =
            match self.renderer.as_mut() {
                Some(r) => {
                    let (frames, labels) = r.render(&self.sim)?;
                    (frames.into_iter().map(Some).collect(), labels)
                }
                None => (vec![None; states.len()], vec![None; states.len()]),
            };
        let cruise = self.sim.scenario.vehicle.speed_m_s;
        let half_width = self.sim.scenario.road.width_m / 2.0;
        Ok(states
            .into_iter()
            .zip(frames.drain(..).zip(labels.drain(..)))
            .enumerate()
            .map(|(agent, (state, (frame, labels)))| {
                let (expert_action, expert_target_speed_m_s) =
                    self.expert.labels(&self.sim.track, &state, cruise);
                Observation {
                    frame,
                    labels,
                    map: self.map.as_ref().and_then(|m| m.observe(agent, state.tick)),
                    odometry: self.odometry.get(agent).map(|o| o.1).unwrap_or_default(),
                    done: state.done,
                    info: StepInfo {
                        expert_action,
                        expert_target_speed_m_s,
                        off_road: state.lateral_offset_m.abs() > half_width,
                    },
                    state,
                }
            })
            .collect())
    }
}
