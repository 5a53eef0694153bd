//! The headless environment: the one way the rest of the project drives the world.
//!
//! `Env` owns a [`Simulation`] (pure Rust) and, when rendering, a Bevy `App` with one hood
//! camera per car. `step` advances the simulation by one tick, moves the cars, runs one Bevy
//! update and returns the frames of that very tick: pipelined rendering is off and frames
//! are read back synchronously, so there is no frame of lag; each frame carries the tick it
//! shows and `Env` refuses any other.

use crate::error::{Error, Result};
use crate::sim::expert::Expert;
use crate::sim::labels::{LabelFrame, LabelTable};
use crate::sim::map_input::{MapObservation, MapOptions, MapSensor};
use crate::sim::math::fnv1a;
use crate::sim::odometry::{Odometry, OdometryNoise, OdometryReading};
use crate::sim::scenario::Scenario;
use crate::sim::simulation::{AgentState, Simulation};
use crate::sim::track::Track;
use crate::sim::vehicle::Action;
use crate::sim::{ExpertConfig, Frame};
use crate::world::capture::{CapturePlugin, CaptureReceiver, CaptureRequest, CapturedFrame};
use crate::world::material::SimMaterialPlugin;
pub use crate::world::plugins::window_plugins;
use crate::world::plugins::{
    cpu_preprocessing, create_render_device, headless_plugins, single_threaded,
};
use crate::world::tiles::{Atlas, TiledViews, spawn_tiled_world};
use bevy::app::PluginsState;
use bevy::prelude::*;
use bevy::render::renderer::RenderDevice;
use std::sync::Arc;
use std::time::Instant;

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

struct Renderer {
    app: App,
    views: TiledViews,
    /// The class of every label id.
    table: Arc<LabelTable>,
    last_timing: FrameTiming,
}

/// Where the last rendered tick spent its time, seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FrameTiming {
    /// The whole Bevy update: main schedule, extraction, render schedule and readback.
    pub update_s: f64,
    /// Bevy's render graph (recording and submitting passes).
    pub graph_s: f64,
    /// Waiting for the GPU (lavapipe's rasterisation) and the copy to host memory.
    pub gpu_wait_s: f64,
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

/// Updates allowed before the first complete frame; shaders load asynchronously.
const MAX_WARMUP_UPDATES: usize = 400;

impl Env {
    /// Builds the world of `scenario`. Fails with [`Error::NoVulkanAdapter`] when rendering is
    /// requested and no Vulkan driver is installed.
    pub fn new(scenario: Scenario, options: EnvOptions) -> Result<Env> {
        let problems = scenario.validate();
        if !problems.is_empty() {
            return Err(Error::ScenarioInvalid {
                file: scenario.name.clone(),
                problems,
            });
        }
        let sim = Simulation::new(scenario, options.agents)?;
        let expert = Expert::new(ExpertConfig::default(), 0.0, sim.scenario.seed);
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

impl Renderer {
    fn new(sim: &Simulation, labels: bool) -> Result<Renderer> {
        let (render_creation, cpu_renderer) = create_render_device()?;
        let mut app = App::new();
        app.add_plugins(headless_plugins(render_creation))
            .add_plugins((SimMaterialPlugin, CapturePlugin));
        while app.plugins_state() == PluginsState::Adding {
            bevy::tasks::tick_global_task_pools_on_main_thread();
        }
        if cpu_renderer {
            cpu_preprocessing(&mut app);
        }
        app.finish();
        app.cleanup();
        // On a CPU renderer the rasteriser's threads need the cores; Bevy's systems are tiny
        // here, and running them on one thread was 10 % faster per frame (bench sim, 2 cores).
        if cpu_renderer {
            single_threaded(app.world_mut());
            if let Some(render) = app.get_sub_app_mut(bevy::render::RenderApp) {
                single_threaded(render.world_mut());
            }
        }
        let world = app.world_mut();
        let rig = &sim.scenario.camera;
        let tile = UVec2::new(rig.width_px, rig.height_px);
        let (_, width, height) = Atlas::layout(tile, sim.agent_count() as u32);
        let max = world
            .resource::<RenderDevice>()
            .limits()
            .max_texture_dimension_2d as u64;
        if width.max(height) > max {
            return Err(Error::InvalidArgument(format!(
                "{} cars with {}×{} cameras render into a {width}×{height} atlas, and this \
                 Vulkan device allows {max} pixels a side: put fewer cars in one world (run \
                 several worlds, e.g. `record --jobs N`) or use a smaller camera",
                sim.agent_count(),
                rig.width_px,
                rig.height_px
            )));
        }
        let (table, views) =
            spawn_tiled_world(world, &sim.scenario, sim.world(), sim.agent_count(), labels);
        // Colour frames first (capture index = agent), then label frames (n + agent).
        world.insert_resource(CaptureRequest {
            tick: 0,
            atlases: views.atlases(),
        });
        let table = Arc::new(table);
        Ok(Renderer {
            app,
            views,
            table,
            last_timing: FrameTiming::default(),
        })
    }

    /// Renders until every pipeline is compiled and two complete frames in a row arrived, so
    /// that no empty or partial warm-up frame ever reaches a caller.
    fn warm_up(&mut self, sim: &Simulation) -> Result<()> {
        let mut complete_in_a_row = 0;
        for _ in 0..MAX_WARMUP_UPDATES {
            let frames = self.update(sim)?;
            if frames.len() == self.cameras() && frames.iter().all(|f| !f.pipelines_pending) {
                complete_in_a_row += 1;
                if complete_in_a_row >= 2 {
                    return Ok(());
                }
            } else {
                complete_in_a_row = 0;
                // Shaders load on IO threads; give them a moment.
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        Err(Error::Render(format!(
            "no complete frame after {MAX_WARMUP_UPDATES} warm-up updates"
        )))
    }

    /// Places the cars at the simulation's states, runs one update and collects its frames.
    fn update(&mut self, sim: &Simulation) -> Result<Vec<CapturedFrame>> {
        let world = self.app.world_mut();
        for (agent, state) in sim.states().iter().enumerate() {
            let pose = sim.scenario.camera.pose(&state.vehicle);
            self.views.place(world, agent, &pose);
        }
        if sim.scenario.traffic.cars > 0 {
            let bodies: Vec<Transform> = sim
                .traffic_states()
                .iter()
                .map(|state| crate::world::scene::car_transform(&sim.scenario, state))
                .collect();
            self.views.place_traffic(world, &bodies);
        }
        world.resource_mut::<CaptureRequest>().tick = sim.tick();
        let started = Instant::now();
        self.app.update();
        let update_s = started.elapsed().as_secs_f64();
        if let Some(exit) = self.app.should_exit() {
            return Err(Error::Render(format!(
                "the renderer stopped ({exit:?}); see the log above"
            )));
        }
        let receiver = &self.app.world().resource::<CaptureReceiver>().0;
        let frames: Vec<CapturedFrame> = receiver
            .try_iter()
            .map(|r| r.map_err(Error::Render))
            .collect::<Result<_>>()?;
        let t = frames.first().map(|f| f.timings).unwrap_or_default();
        self.last_timing = FrameTiming {
            update_s,
            graph_s: t.graph_s,
            gpu_wait_s: t.gpu_wait_s,
        };
        Ok(frames)
    }

    /// Cameras rendered per frame: one per car, and a label camera per car with labels.
    fn cameras(&self) -> usize {
        let n = self.views.colour.tiles as usize;
        if self.views.label.is_some() { 2 * n } else { n }
    }

    /// One frame per car, all showing the simulation's current tick, and each car's label
    /// frame when labels are rendered.
    fn render(&mut self, sim: &Simulation) -> Result<(Vec<Frame>, Vec<Option<LabelFrame>>)> {
        let tick = sim.tick();
        let n = self.views.colour.tiles as usize;
        let captured = self.update(sim)?;
        let mut frames: Vec<Option<Frame>> = vec![None; n];
        let mut labels: Vec<Option<LabelFrame>> = vec![None; n];
        for c in captured {
            if c.tick != tick {
                return Err(Error::Render(format!(
                    "camera {} delivered tick {} while tick {tick} was due",
                    c.agent, c.tick
                )));
            }
            if c.agent < n {
                frames[c.agent] = Some(Frame {
                    tick: c.tick,
                    agent: c.agent,
                    width: c.width,
                    height: c.height,
                    rgb: c.rgb,
                });
            } else if let Some(slot) = labels.get_mut(c.agent - n) {
                *slot = Some(LabelFrame::from_rgb(
                    c.tick,
                    c.width,
                    c.height,
                    &c.rgb,
                    self.table.clone(),
                ));
            }
        }
        for (i, label) in labels.iter().enumerate() {
            if self.views.label.is_some() && label.is_none() {
                return Err(Error::Render(format!(
                    "label camera {i} delivered no frame for tick {tick}"
                )));
            }
        }
        let frames = frames
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                f.ok_or_else(|| {
                    Error::Render(format!("camera {i} delivered no frame for tick {tick}"))
                })
            })
            .collect::<Result<_>>()?;
        Ok((frames, labels))
    }
}
