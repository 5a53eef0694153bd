//! The driving world drawn through wgpu alone, without Bevy: the same meshes, the same
//! shading (`raw.wgsl` mirrors `sim_material.wgsl`), the same camera projection. It measures
//! what the Vulkan driver itself costs per frame and per camera (`steerlab bench sim`), the
//! limit against which the Bevy world's frame rate is read.

use crate::error::{Error, Result};
use crate::sim::simulation::Simulation;
use crate::world::material::SimMaterial;
use crate::world::scene::{camera_transform, static_objects};
use bevy::math::{Mat4, Vec3};
use bevy::mesh::{Indices, Mesh, VertexAttributeValues};
use std::time::Duration;

const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8UnormSrgb;
const DEPTH: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
/// Dynamic uniform offsets are aligned to this (the largest minimum alignment Vulkan allows).
const ALIGN: u64 = 256;

/// How the cameras of one tick are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One render pass, one texture and one copy per camera (what a render graph per camera
    /// does).
    PassPerCamera,
    /// One render pass into one atlas texture, each camera in its own viewport, one copy.
    Atlas,
}

struct Object {
    vertices: wgpu::Buffer,
    indices: wgpu::Buffer,
    count: u32,
}

/// Uniforms of one drawn object: model matrix then the material block.
#[repr(C)]
#[derive(Clone, Copy)]
struct ObjectUniform {
    model: [f32; 16],
    params: [[f32; 4]; 5],
}

/// A world of `cameras` hood cameras drawn with wgpu on the first Vulkan adapter.
pub struct RawWorld {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipeline: wgpu::RenderPipeline,
    objects: Vec<Object>,
    object_bind: wgpu::BindGroup,
    view_buffer: wgpu::Buffer,
    view_bind: wgpu::BindGroup,
    sky: wgpu::Color,
    width: u32,
    height: u32,
    cameras: usize,
    layout: Layout,
    /// Colour and depth targets: one pair per camera, or the atlas's pair.
    targets: Vec<(wgpu::Texture, wgpu::TextureView, wgpu::TextureView)>,
    staging: Vec<(wgpu::Buffer, u32)>,
    /// Atlas columns.
    columns: u32,
}

fn bytes<T: Copy>(values: &[T]) -> &[u8] {
    // SAFETY: plain-old-data (f32 arrays and u32s) viewed as bytes, same length in bytes.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast(), std::mem::size_of_val(values)) }
}

/// Positions, normals and triangle indices of a mesh.
type Geometry = (Vec<[f32; 3]>, Vec<[f32; 3]>, Vec<u32>);

fn positions_normals(mesh: &Mesh) -> Option<Geometry> {
    let attribute = |id| match mesh.attribute(id)? {
        VertexAttributeValues::Float32x3(v) => Some(v.clone()),
        _ => None,
    };
    let positions = attribute(Mesh::ATTRIBUTE_POSITION)?;
    let normals = attribute(Mesh::ATTRIBUTE_NORMAL)?;
    let indices = match mesh.indices()? {
        Indices::U32(i) => i.clone(),
        Indices::U16(i) => i.iter().map(|&v| v as u32).collect(),
    };
    Some((positions, normals, indices))
}

impl RawWorld {
    /// The world of `sim` with a hood camera per car.
    pub fn new(sim: &Simulation, layout: Layout) -> Result<Self> {
        let (scenario, cameras) = (&sim.scenario, sim.agent_count());
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::VULKAN,
            ..wgpu::InstanceDescriptor::new_without_display_handle_from_env()
        });
        let adapter = bevy::tasks::block_on(instance.request_adapter(&Default::default()))
            .map_err(|e| Error::NoVulkanAdapter {
                detail: e.to_string(),
            })?;
        let (device, queue) = bevy::tasks::block_on(adapter.request_device(&Default::default()))
            .map_err(|e| Error::Render(format!("the Vulkan adapter refused a device: {e}")))?;
        let (width, height) = (scenario.camera.width_px, scenario.camera.height_px);

        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("raw"),
            source: wgpu::ShaderSource::Wgsl(include_str!("raw.wgsl").into()),
        });
        let uniform_layout = |size: u64| {
            device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: None,
                entries: &[wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: true,
                        min_binding_size: std::num::NonZeroU64::new(size),
                    },
                    count: None,
                }],
            })
        };
        let view_layout = uniform_layout(80);
        let object_layout = uniform_layout(std::mem::size_of::<ObjectUniform>() as u64);
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: None,
            bind_group_layouts: &[Some(&view_layout), Some(&object_layout)],
            immediate_size: 0,
        });
        let stride = 24;
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("raw"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: &shader,
                entry_point: Some("vertex"),
                compilation_options: Default::default(),
                buffers: &[wgpu::VertexBufferLayout {
                    array_stride: stride,
                    step_mode: wgpu::VertexStepMode::Vertex,
                    attributes: &wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3],
                }],
            },
            primitive: wgpu::PrimitiveState {
                cull_mode: Some(wgpu::Face::Back),
                ..Default::default()
            },
            depth_stencil: Some(wgpu::DepthStencilState {
                format: DEPTH,
                depth_write_enabled: Some(true),
                // Reverse Z, as Bevy's perspective projection.
                depth_compare: Some(wgpu::CompareFunction::Greater),
                stencil: Default::default(),
                bias: Default::default(),
            }),
            multisample: Default::default(),
            fragment: Some(wgpu::FragmentState {
                module: &shader,
                entry_point: Some("fragment"),
                compilation_options: Default::default(),
                targets: &[Some(FORMAT.into())],
            }),
            multiview_mask: None,
            cache: None,
        });

        let mut objects = Vec::new();
        let mut uniforms: Vec<u8> = Vec::new();
        for object in static_objects(scenario, sim.world()) {
            for part in object.parts {
                let Some((positions, normals, indices)) = positions_normals(&part.mesh) else {
                    continue;
                };
                let vertices: Vec<f32> = positions
                    .iter()
                    .zip(&normals)
                    .flat_map(|(p, n)| p.iter().chain(n).copied())
                    .collect();
                let buffer = |data: &[u8], usage| {
                    let b = device.create_buffer(&wgpu::BufferDescriptor {
                        label: None,
                        size: data.len() as u64,
                        usage: usage | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    });
                    queue.write_buffer(&b, 0, data);
                    b
                };
                objects.push(Object {
                    vertices: buffer(bytes(&vertices), wgpu::BufferUsages::VERTEX),
                    indices: buffer(bytes(&indices), wgpu::BufferUsages::INDEX),
                    count: indices.len() as u32,
                });
                let m = SimMaterial::lit(part.colour.map(f64::from), &scenario.lighting).params;
                let uniform = ObjectUniform {
                    model: part.transform.to_matrix().to_cols_array(),
                    params: [m.albedo, m.sun_direction, m.light, m.fog_colour, m.fog]
                        .map(|v| v.to_array()),
                };
                uniforms.extend_from_slice(bytes(std::slice::from_ref(&uniform)));
                uniforms.resize(objects.len() * ALIGN as usize, 0);
            }
        }
        let uniform_buffer = |data_len: u64| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: None,
                size: data_len.max(ALIGN),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let object_buffer = uniform_buffer(uniforms.len() as u64);
        queue.write_buffer(&object_buffer, 0, &uniforms);
        let view_buffer = uniform_buffer(cameras as u64 * ALIGN);
        let bind = |layout: &wgpu::BindGroupLayout, buffer: &wgpu::Buffer, size: u64| {
            device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout,
                entries: &[wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer,
                        offset: 0,
                        size: std::num::NonZeroU64::new(size),
                    }),
                }],
            })
        };
        let object_bind = bind(
            &object_layout,
            &object_buffer,
            std::mem::size_of::<ObjectUniform>() as u64,
        );
        let view_bind = bind(&view_layout, &view_buffer, 80);

        let columns = (cameras as f64).sqrt().ceil() as u32;
        let sizes: Vec<(u32, u32)> = match layout {
            Layout::PassPerCamera => vec![(width, height); cameras],
            Layout::Atlas => vec![(width * columns, height * (cameras as u32).div_ceil(columns))],
        };
        let mut targets = Vec::new();
        let mut staging = Vec::new();
        for (w, h) in sizes {
            let texture = |format, usage| {
                device.create_texture(&wgpu::TextureDescriptor {
                    label: None,
                    size: wgpu::Extent3d {
                        width: w,
                        height: h,
                        depth_or_array_layers: 1,
                    },
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format,
                    usage,
                    view_formats: &[],
                })
            };
            let colour = texture(
                FORMAT,
                wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            );
            let depth = texture(DEPTH, wgpu::TextureUsages::RENDER_ATTACHMENT);
            let padded = (w * 4).div_ceil(256) * 256;
            staging.push((
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: None,
                    size: (padded * h) as u64,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                padded,
            ));
            let colour_view = colour.create_view(&Default::default());
            let depth_view = depth.create_view(&Default::default());
            targets.push((colour, colour_view, depth_view));
        }
        let sky =
            bevy::color::Color::srgb_from_array(scenario.lighting.sky_colour.map(|c| c as f32))
                .to_linear();
        Ok(Self {
            device,
            queue,
            pipeline,
            objects,
            object_bind,
            view_buffer,
            view_bind,
            sky: wgpu::Color {
                r: sky.red as f64,
                g: sky.green as f64,
                b: sky.blue as f64,
                a: 1.0,
            },
            width,
            height,
            cameras,
            layout,
            targets,
            staging,
            columns,
        })
    }

    /// Draws every car's camera where `sim` has it and reads the frames back: RGBA8 rows of
    /// each camera.
    pub fn render(&mut self, sim: &Simulation) -> Result<Vec<Vec<u8>>> {
        let scenario = &sim.scenario;
        let poses: Vec<_> = sim
            .states()
            .iter()
            .map(|s| scenario.camera.pose(&s.vehicle))
            .collect();
        let aspect = self.width as f32 / self.height as f32;
        let projection = Mat4::perspective_infinite_reverse_rh(
            scenario.camera.vertical_fov_rad() as f32,
            aspect,
            0.1,
        );
        let mut views = vec![0u8; self.cameras * ALIGN as usize];
        for (i, pose) in poses.iter().enumerate().take(self.cameras) {
            let transform = camera_transform(pose);
            let view_proj = projection * transform.to_matrix().inverse();
            let position: Vec3 = transform.translation;
            let mut block = view_proj.to_cols_array().to_vec();
            block.extend_from_slice(&[position.x, position.y, position.z, 1.0]);
            views[i * ALIGN as usize..][..80].copy_from_slice(bytes(&block));
        }
        self.queue.write_buffer(&self.view_buffer, 0, &views);
        let mut encoder = self.device.create_command_encoder(&Default::default());
        let passes = match self.layout {
            Layout::PassPerCamera => self.cameras,
            Layout::Atlas => 1,
        };
        for pass_index in 0..passes {
            let (_, colour, depth) = &self.targets[pass_index];
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: None,
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: colour,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(self.sky),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: depth,
                    depth_ops: Some(wgpu::Operations {
                        load: wgpu::LoadOp::Clear(0.0),
                        store: wgpu::StoreOp::Discard,
                    }),
                    stencil_ops: None,
                }),
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            pass.set_pipeline(&self.pipeline);
            let cameras = match self.layout {
                Layout::PassPerCamera => pass_index..pass_index + 1,
                Layout::Atlas => 0..self.cameras,
            };
            for camera in cameras {
                if self.layout == Layout::Atlas {
                    let (x, y) = (
                        (camera as u32 % self.columns) * self.width,
                        (camera as u32 / self.columns) * self.height,
                    );
                    let (w, h) = (self.width as f32, self.height as f32);
                    pass.set_viewport(x as f32, y as f32, w, h, 0.0, 1.0);
                    pass.set_scissor_rect(x, y, self.width, self.height);
                }
                pass.set_bind_group(0, &self.view_bind, &[(camera as u64 * ALIGN) as u32]);
                for (i, object) in self.objects.iter().enumerate() {
                    pass.set_bind_group(1, &self.object_bind, &[(i as u64 * ALIGN) as u32]);
                    pass.set_vertex_buffer(0, object.vertices.slice(..));
                    pass.set_index_buffer(object.indices.slice(..), wgpu::IndexFormat::Uint32);
                    pass.draw_indexed(0..object.count, 0, 0..1);
                }
            }
        }
        for ((texture, ..), (buffer, padded)) in self.targets.iter().zip(&self.staging) {
            encoder.copy_texture_to_buffer(
                texture.as_image_copy(),
                wgpu::TexelCopyBufferInfo {
                    buffer,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(*padded),
                        rows_per_image: None,
                    },
                },
                texture.size(),
            );
        }
        let submission = self.queue.submit([encoder.finish()]);
        for (buffer, _) in &self.staging {
            buffer.slice(..).map_async(wgpu::MapMode::Read, |_| {});
        }
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submission),
                timeout: Some(Duration::from_secs(60)),
            })
            .map_err(|e| Error::Render(format!("waiting for the GPU failed: {e}")))?;
        let row = self.width as usize * 4;
        let mut frames = Vec::with_capacity(self.cameras);
        for camera in 0..self.cameras {
            let (buffer, padded, x, y) = match self.layout {
                Layout::PassPerCamera => (&self.staging[camera].0, self.staging[camera].1, 0, 0),
                Layout::Atlas => (
                    &self.staging[0].0,
                    self.staging[0].1,
                    (camera as u32 % self.columns) * self.width,
                    (camera as u32 / self.columns) * self.height,
                ),
            };
            let data = buffer.slice(..).get_mapped_range();
            let mut frame = Vec::with_capacity(row * self.height as usize);
            for r in 0..self.height {
                let start = ((y + r) * padded + x * 4) as usize;
                frame.extend_from_slice(&data[start..start + row]);
            }
            frames.push(frame);
        }
        for (buffer, _) in &self.staging {
            buffer.unmap();
        }
        Ok(frames)
    }
}
