//! The renderer behind [`crate::world::Env`]: a Bevy app built from plugins (the headless
//! render plugins, the simulator's material and the synchronous capture), the static world
//! spawned once per car into tiled atlases, and every car's camera placed and rendered each
//! tick. Frames come back for the very tick the simulation is at, or an error says which camera
//! did not deliver.

use crate::error::{Error, Result};
use crate::sim::Frame;
use crate::sim::labels::{LabelFrame, LabelTable};
use crate::sim::simulation::Simulation;
use crate::world::capture::{CapturePlugin, CaptureReceiver, CaptureRequest, CapturedFrame};
use crate::world::material::SimMaterialPlugin;
use crate::world::plugins::{
    cpu_preprocessing, create_render_device, headless_plugins, single_threaded,
};
use crate::world::tiles::{Atlas, TiledViews, spawn_tiled_world};
use bevy::app::PluginsState;
use bevy::prelude::*;
use bevy::render::renderer::RenderDevice;
use std::sync::Arc;
use std::time::Instant;

/// One Bevy app rendering every car's camera (and label camera) of a simulation into atlases,
/// read back synchronously.
pub(crate) struct Renderer {
    app: App,
    views: TiledViews,
    /// The class of every label id.
    table: Arc<LabelTable>,
    pub(crate) last_timing: FrameTiming,
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

/// Updates allowed before the first complete frame; shaders load asynchronously.
const MAX_WARMUP_UPDATES: usize = 400;

impl Renderer {
    pub(crate) fn new(sim: &Simulation, labels: bool) -> Result<Renderer> {
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
    pub(crate) fn warm_up(&mut self, sim: &Simulation) -> Result<()> {
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
    pub(crate) fn render(
        &mut self,
        sim: &Simulation,
    ) -> Result<(Vec<Frame>, Vec<Option<LabelFrame>>)> {
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
