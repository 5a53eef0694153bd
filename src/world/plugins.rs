//! The Bevy side of a world: the render device (created here so that a missing Vulkan driver
//! is an error), the plugins of a headless or a windowed app, and the executors.

use crate::error::{Error, Result};
use bevy::app::TerminalCtrlCHandlerPlugin;
use bevy::log::{Level, LogPlugin};
use bevy::prelude::*;
use bevy::render::RenderPlugin;
use bevy::render::pipelined_rendering::PipelinedRenderingPlugin;
use bevy::render::renderer::{
    RenderAdapter, RenderAdapterInfo, RenderDevice, RenderInstance, RenderQueue, WgpuWrapper,
};
use bevy::render::settings::RenderCreation;
use bevy::window::ExitCondition;
use bevy::winit::WinitPlugin;
use std::sync::{Arc, Once};

/// Creates the Vulkan device ourselves so that a missing driver is an error, not a panic.
/// Also says whether the device is a CPU renderer (lavapipe).
pub(crate) fn create_render_device() -> Result<(RenderCreation, bool)> {
    bevy::tasks::block_on(async {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::VULKAN,
            ..wgpu::InstanceDescriptor::new_without_display_handle_from_env()
        });
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
            })
            .await
            .map_err(|e| Error::NoVulkanAdapter {
                detail: e.to_string(),
            })?;
        let info = adapter.get_info();
        let cpu_renderer = info.device_type == wgpu::DeviceType::Cpu;
        let mut features = adapter.features();
        if info.device_type == wgpu::DeviceType::DiscreteGpu {
            // Mappable primary buffers are slow on discrete GPUs (Bevy drops them too).
            features.remove(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS);
        }
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("steerlab"),
                required_features: features,
                required_limits: adapter.limits(),
                // SAFETY: the same request Bevy's own renderer initialisation makes.
                experimental_features: unsafe { wgpu::ExperimentalFeatures::enabled() },
                memory_hints: wgpu::MemoryHints::default(),
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| {
                Error::Render(format!(
                    "the Vulkan adapter {} refused a device: {e}",
                    info.name
                ))
            })?;
        let creation = RenderCreation::manual(
            RenderDevice::from(device),
            RenderQueue(Arc::new(WgpuWrapper::new(queue))),
            RenderAdapterInfo(WgpuWrapper::new(info)),
            RenderAdapter(Arc::new(WgpuWrapper::new(adapter))),
            RenderInstance(Arc::new(WgpuWrapper::new(instance))),
        );
        Ok((creation, cpu_renderer))
    })
}

/// Makes Bevy build mesh uniforms and draw lists on the CPU instead of in compute passes.
/// On a CPU renderer those passes ran for every camera and cost more than the few meshes of a
/// driving world do on the CPU. Bevy decides from `GpuPreprocessingSupport`: the mesh plugin
/// reads it while the app finishes, and the render world derives it again from the device at
/// start-up, so it is set before both and again right after the latter.
pub(crate) fn cpu_preprocessing(app: &mut App) {
    use bevy::render::batching::gpu_preprocessing::{
        GpuPreprocessingMode, GpuPreprocessingSupport,
    };
    fn none() -> GpuPreprocessingSupport {
        GpuPreprocessingSupport {
            max_supported_mode: GpuPreprocessingMode::None,
        }
    }
    let Some(render) = app.get_sub_app_mut(bevy::render::RenderApp) else {
        return;
    };
    render.insert_resource(none());
    render.add_systems(
        bevy::render::RenderStartup,
        (|mut commands: Commands| commands.insert_resource(none()))
            .after(bevy::render::init_gpu_resource::<GpuPreprocessingSupport>),
    );
}

static LOG_ONCE: Once = Once::new();

/// Bevy plugins for a windowless app whose `update` renders and finishes one frame.
pub fn headless_plugins(render_creation: RenderCreation) -> bevy::app::PluginGroupBuilder {
    with_logger(
        DefaultPlugins
            .build()
            .disable::<WinitPlugin>()
            .disable::<PipelinedRenderingPlugin>()
            .disable::<TerminalCtrlCHandlerPlugin>()
            // Nothing of a headless world is text, UI or sprites, and no one
            // reads its accessibility tree: each of these ran systems in every update.
            .disable::<bevy::ui_render::UiRenderPlugin>()
            .disable::<bevy::ui::UiPlugin>()
            .disable::<bevy::text::TextPlugin>()
            .disable::<bevy::a11y::AccessibilityPlugin>()
            .disable::<bevy::sprite_render::SpriteRenderPlugin>()
            .disable::<bevy::sprite::SpritePlugin>()
            .set(WindowPlugin {
                primary_window: None,
                primary_cursor_options: None,
                exit_condition: ExitCondition::DontExit,
                close_when_requested: false,
            })
            .set(RenderPlugin {
                render_creation,
                synchronous_pipeline_compilation: true,
                ..default()
            }),
    )
}

/// Bevy plugins for a desktop window of `width`×`height` pixels titled `title`; with
/// `any_thread`, its event loop may run off the main thread (X11 and Wayland only).
pub fn window_plugins(
    title: &str,
    (width, height): (u32, u32),
    any_thread: bool,
) -> bevy::app::PluginGroupBuilder {
    with_logger(
        DefaultPlugins
            .build()
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title: title.into(),
                    resolution: (width, height).into(),
                    ..default()
                }),
                ..default()
            })
            .set(WinitPlugin {
                run_on_any_thread: any_thread,
            }),
    )
}

/// Bevy's logger is global: the first app of the process installs it, later ones go without.
pub(crate) fn with_logger(plugins: bevy::app::PluginGroupBuilder) -> bevy::app::PluginGroupBuilder {
    let mut first = false;
    LOG_ONCE.call_once(|| first = true);
    if first {
        plugins.set(LogPlugin {
            level: Level::WARN,
            // winit's X11 notes and Bevy's "software rendering is slow" are expected on
            // lavapipe and Xvfb.
            filter: "wgpu=error,naga=warn,bevy_render=warn,bevy_render::renderer=error,winit=error"
                .into(),
            ..default()
        })
    } else {
        plugins.disable::<LogPlugin>()
    }
}

/// Runs every schedule of `world` on the calling thread.
pub(crate) fn single_threaded(world: &mut World) {
    let mut schedules = world.resource_mut::<Schedules>();
    for (_, schedule) in schedules.iter_mut() {
        schedule.set_executor(bevy::ecs::schedule::SingleThreadedExecutor::new());
    }
}
