//! Synchronous camera capture: the cameras render into tiles of an atlas image, and right
//! after the frame's render graph has been submitted a render-world system copies each atlas
//! into a staging buffer (one copy for all its cameras), waits for the GPU and sends each
//! tile's RGB pixels to the main world tagged with the tick they show. When `App::update`
//! returns, the frames of that tick are in the channel.

use bevy::camera::NormalizedRenderTarget;
use bevy::prelude::*;
use bevy::render::camera::ExtractedCamera;
use bevy::render::extract_resource::{ExtractResource, ExtractResourcePlugin};
use bevy::render::render_asset::RenderAssets;
use bevy::render::render_resource::{
    Buffer, BufferDescriptor, BufferUsages, CommandEncoderDescriptor, MapMode, PipelineCache,
    PollType, TexelCopyBufferInfo, TexelCopyBufferLayout,
};
use bevy::render::renderer::{RenderDevice, RenderQueue};
use bevy::render::texture::GpuImage;
use bevy::render::view::ViewTarget;
use bevy::render::{Render, RenderApp, RenderSystems};
use crossbeam_channel::{Receiver, Sender};
use std::time::{Duration, Instant};

/// What the render world should capture this frame. Changing it (a new tick) is what makes
/// Bevy extract it again.
#[derive(Resource, Clone, Default, ExtractResource)]
pub struct CaptureRequest {
    /// Id stamped on the frames rendered this update (the simulation tick they show).
    pub tick: u64,
    /// The atlases to read; their tiles are numbered on from one atlas to the next (the
    /// `agent` of each captured frame).
    pub atlases: Vec<crate::world::tiles::Atlas>,
}

/// One captured camera image.
#[derive(Clone, Debug)]
pub struct CapturedFrame {
    pub agent: usize,
    pub tick: u64,
    pub width: u32,
    pub height: u32,
    /// RGB8, row-major, sRGB-encoded.
    pub rgb: Vec<u8>,
    /// Some render pipelines were still compiling: the image may miss objects.
    pub pipelines_pending: bool,
    pub timings: RenderTimings,
}

/// Where the render world spent this frame's time (shared by all cameras of the frame).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RenderTimings {
    /// Running Bevy's render graph: recording and submitting the passes, seconds.
    pub graph_s: f64,
    /// Waiting for the GPU (lavapipe rasterises here) and the copy to finish, seconds.
    pub gpu_wait_s: f64,
}

/// When the render graph of this frame started.
#[derive(Resource, Default)]
struct RenderStart(Option<Instant>);

fn mark_render_start(mut start: ResMut<RenderStart>) {
    start.0 = Some(Instant::now());
}

/// Main-world end of the frame channel.
#[derive(Resource)]
pub struct CaptureReceiver(pub Receiver<std::result::Result<CapturedFrame, String>>);

#[derive(Resource)]
struct CaptureSender(Sender<std::result::Result<CapturedFrame, String>>);

/// Adds the capture system; add after `DefaultPlugins`.
pub struct CapturePlugin;

impl Plugin for CapturePlugin {
    fn build(&self, app: &mut App) {
        let (tx, rx) = crossbeam_channel::unbounded();
        app.insert_resource(CaptureReceiver(rx))
            .init_resource::<CaptureRequest>()
            .add_plugins(ExtractResourcePlugin::<CaptureRequest>::default());
        let Some(render_app) = app.get_sub_app_mut(RenderApp) else {
            return;
        };
        render_app
            .insert_resource(CaptureSender(tx))
            .init_resource::<RenderStart>()
            .add_systems(
                Render,
                mark_render_start
                    .after(RenderSystems::Prepare)
                    .before(RenderSystems::Render),
            )
            .add_systems(
                Render,
                capture_frames
                    .after(RenderSystems::Render)
                    .before(RenderSystems::Cleanup),
            );
    }
}

/// Staging buffer per atlas, reused while the image size stays the same.
#[derive(Default)]
struct Staging {
    buffers: Vec<Option<(Buffer, u64)>>,
}

#[allow(clippy::too_many_arguments)] // a Bevy system: one parameter per resource it reads
fn capture_frames(
    request: Option<Res<CaptureRequest>>,
    gpu_images: Res<RenderAssets<GpuImage>>,
    device: Res<RenderDevice>,
    queue: Res<RenderQueue>,
    pipeline_cache: Res<PipelineCache>,
    sender: Res<CaptureSender>,
    render_start: Res<RenderStart>,
    views: Query<(&ExtractedCamera, &ViewTarget)>,
    mut staging: Local<Staging>,
) {
    let graph_done = Instant::now();
    let Some(request) = request else { return };
    if request.atlases.is_empty() {
        return;
    }
    staging.buffers.resize_with(request.atlases.len(), || None);
    let mut encoder = device.create_command_encoder(&CommandEncoderDescriptor {
        label: Some("steerlab capture"),
    });
    // (atlas, first frame index, padded row bytes)
    let mut copies = Vec::with_capacity(request.atlases.len());
    let mut first = 0;
    for (index, atlas) in request.atlases.iter().enumerate() {
        let atlas_first = first;
        first += atlas.tiles as usize;
        // The image is uploaded in the first frame(s); until then there is nothing to read.
        let Some(gpu) = gpu_images.get(&atlas.image) else {
            continue;
        };
        // The cameras of the atlas draw into the main texture they share (their output to
        // the image itself is skipped); it has the image's size and format.
        let Some(texture) = views
            .iter()
            .find_map(|(camera, view)| match &camera.target {
                Some(NormalizedRenderTarget::Image(t)) if t.handle == atlas.image => {
                    Some(view.main_texture())
                }
                _ => None,
            })
        else {
            continue;
        };
        let size = gpu.texture_descriptor.size;
        let padded = RenderDevice::align_copy_bytes_per_row(size.width as usize * 4);
        let bytes = (padded * size.height as usize) as u64;
        if staging.buffers[index].as_ref().map(|b| b.1) != Some(bytes) {
            let buffer = device.create_buffer(&BufferDescriptor {
                label: Some("steerlab capture staging"),
                size: bytes,
                usage: BufferUsages::MAP_READ | BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            staging.buffers[index] = Some((buffer, bytes));
        }
        let Some((buffer, _)) = staging.buffers[index].as_ref() else {
            continue;
        };
        encoder.copy_texture_to_buffer(
            texture.as_image_copy(),
            TexelCopyBufferInfo {
                buffer,
                layout: TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(padded as u32),
                    rows_per_image: None,
                },
            },
            size,
        );
        copies.push((index, atlas_first, padded));
    }
    if copies.is_empty() {
        return;
    }
    let submission = queue.submit([encoder.finish()]);
    let (map_tx, map_rx) = crossbeam_channel::bounded(copies.len());
    for &(index, ..) in &copies {
        if let Some((buffer, _)) = &staging.buffers[index] {
            let tx = map_tx.clone();
            buffer.slice(..).map_async(MapMode::Read, move |r| {
                let _ = tx.send((index, r.is_ok()));
            });
        }
    }
    let poll = device.poll(PollType::Wait {
        submission_index: Some(submission),
        timeout: Some(Duration::from_secs(60)),
    });
    if let Err(e) = poll {
        let _ = sender
            .0
            .send(Err(format!("waiting for the GPU copy failed: {e}")));
        return;
    }
    let timings = RenderTimings {
        graph_s: render_start
            .0
            .map_or(0.0, |t| graph_done.duration_since(t).as_secs_f64()),
        gpu_wait_s: graph_done.elapsed().as_secs_f64(),
    };
    let mapped: Vec<(usize, bool)> = map_rx.try_iter().collect();
    let pipelines_pending = pipeline_cache.waiting_pipelines().next().is_some();
    for (index, first, padded) in copies {
        let atlas = &request.atlases[index];
        let Some((buffer, _)) = &staging.buffers[index] else {
            continue;
        };
        if !mapped.iter().any(|&(a, ok)| a == index && ok) {
            let _ = sender.0.send(Err(format!(
                "mapping the capture buffer of atlas {index} failed"
            )));
            continue;
        }
        let (width, height) = (atlas.tile.x, atlas.tile.y);
        {
            let view = buffer.slice(..).get_mapped_range();
            for tile in 0..atlas.tiles {
                let origin = atlas.origin(tile);
                let mut rgb = Vec::with_capacity(width as usize * height as usize * 3);
                for y in origin.y..origin.y + height {
                    let start = y as usize * padded + origin.x as usize * 4;
                    for px in view[start..start + width as usize * 4].chunks_exact(4) {
                        rgb.extend_from_slice(&px[..3]);
                    }
                }
                let _ = sender.0.send(Ok(CapturedFrame {
                    agent: first + tile as usize,
                    tick: request.tick,
                    width,
                    height,
                    rgb,
                    pipelines_pending,
                    timings,
                }));
            }
        }
        buffer.unmap();
    }
}
