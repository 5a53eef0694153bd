//! The material of every object in the driving world: Lambertian sunlight, ambient light and
//! linear distance fog, in a small WGSL shader (`sim_material.wgsl`) run by Bevy's mesh
//! pipeline. Bevy's `StandardMaterial` shades each pixel through the full PBR path, which on
//! lavapipe cost most of the frame; this shader keeps what a driving policy sees (surface
//! colours, the sun's direction, fog) at a fraction of the cost.

use crate::sim::scenario::Lighting;
use bevy::asset::embedded_asset;
use bevy::pbr::{Material, MaterialPlugin};
use bevy::prelude::*;
use bevy::render::render_resource::{AsBindGroup, ShaderType};
use bevy::shader::ShaderRef;

/// Registers [`SimMaterial`] and its shader.
pub struct SimMaterialPlugin;

impl Plugin for SimMaterialPlugin {
    fn build(&self, app: &mut App) {
        embedded_asset!(app, "sim_material.wgsl");
        embedded_asset!(app, "tiled.wgsl");
        app.add_plugins((
            MaterialPlugin::<SimMaterial>::default(),
            MaterialPlugin::<TileMaterial>::default(),
        ));
    }
}

/// A surface colour under the scenario's lighting.
#[derive(Asset, TypePath, AsBindGroup, Clone, Debug)]
pub struct SimMaterial {
    #[uniform(0)]
    pub params: SimMaterialParams,
}

/// The uniform block of `sim_material.wgsl` (field meanings are documented there).
#[derive(Clone, Copy, Debug, ShaderType)]
pub struct SimMaterialParams {
    pub albedo: Vec4,
    pub sun_direction: Vec4,
    pub light: Vec4,
    pub fog_colour: Vec4,
    pub fog: Vec4,
}

impl Material for SimMaterial {
    fn fragment_shader() -> ShaderRef {
        "embedded://steerlab/world/sim_material.wgsl".into()
    }
}

/// Linear RGB of an sRGB triple in [0, 1].
pub fn linear(srgb: [f64; 3]) -> Vec4 {
    let c = Color::srgb(srgb[0] as f32, srgb[1] as f32, srgb[2] as f32).to_linear();
    Vec4::new(c.red, c.green, c.blue, 1.0)
}

/// Unit vector towards the sun in Bevy's world (Y up), from the scenario's angles.
pub fn sun_direction(lighting: &Lighting) -> Vec3 {
    let elevation = lighting.sun_elevation_deg.to_radians();
    let azimuth = lighting.sun_azimuth_deg.to_radians();
    Vec3::new(
        (elevation.cos() * azimuth.cos()) as f32,
        elevation.sin() as f32,
        -(elevation.cos() * azimuth.sin()) as f32,
    )
}

impl SimMaterial {
    /// A flat, unlit colour (sRGB `srgb`): what the label camera draws ids in.
    pub fn flat(srgb: [f64; 3]) -> Self {
        Self {
            params: SimMaterialParams {
                albedo: linear(srgb),
                sun_direction: Vec4::ZERO,
                light: Vec4::new(0.0, 1.0, 0.0, 0.0),
                fog_colour: Vec4::ZERO,
                fog: Vec4::ZERO,
            },
        }
    }

    /// A material of sRGB colour `srgb` lit as `lighting` says.
    pub fn lit(srgb: [f64; 3], lighting: &Lighting) -> Self {
        let (fog_colour, fog) = match &lighting.fog {
            Some(f) => (
                linear(f.colour),
                Vec4::new(f.start_m as f32, f.end_m as f32, 1.0, 0.0),
            ),
            None => (Vec4::ZERO, Vec4::ZERO),
        };
        Self {
            params: SimMaterialParams {
                albedo: linear(srgb),
                sun_direction: sun_direction(lighting).extend(0.0),
                light: Vec4::new(
                    lighting.sun_intensity as f32,
                    lighting.ambient_intensity as f32,
                    0.0,
                    0.0,
                ),
                fog_colour,
                fog,
            },
        }
    }
}

/// The material of one car's copy of the world in an atlas (`tiled.wgsl`): that car's camera
/// and tile, and the scenario's lighting; surface colours come with the meshes' vertices.
#[derive(Asset, TypePath, AsBindGroup, Clone, Debug)]
pub struct TileMaterial {
    #[uniform(0)]
    pub view: TileView,
}

/// The uniform block of `tiled.wgsl` (field meanings are documented there).
#[derive(Clone, Copy, Debug, Default, ShaderType)]
pub struct TileView {
    pub clip_from_world: Mat4,
    pub tile_map: Vec4,
    pub camera: Vec4,
    pub sun_direction: Vec4,
    pub light: Vec4,
    pub fog_colour: Vec4,
    pub fog: Vec4,
}

impl TileView {
    /// Lit as `lighting` says, or flat (the vertex colour as it is) for label frames.
    pub fn new(lighting: Option<&Lighting>) -> Self {
        let lit = lighting.map(|l| SimMaterial::lit([0.0; 3], l).params);
        let flat = SimMaterial::flat([0.0; 3]).params;
        let p = lit.unwrap_or(flat);
        Self {
            sun_direction: p.sun_direction,
            light: p.light,
            fog_colour: p.fog_colour,
            fog: p.fog,
            ..Self::default()
        }
    }
}

impl Material for TileMaterial {
    fn vertex_shader() -> ShaderRef {
        "embedded://steerlab/world/tiled.wgsl".into()
    }

    fn fragment_shader() -> ShaderRef {
        "embedded://steerlab/world/tiled.wgsl".into()
    }
}
