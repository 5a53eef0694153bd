//! Spawns a scenario's static world (road, paint, ground, props, sun, sky) and the agents'
//! cars and hood cameras into a Bevy `World`.

use crate::sim::camera::CameraPose;
use crate::sim::scenario::{Placement, Scenario};
use crate::sim::track::Track;
use crate::sim::vehicle::VehicleState;
use crate::world::meshes::{PropPart, car_parts, ground_mesh, marking_mesh, prop_parts, road_mesh};
use bevy::camera::RenderTarget;
use bevy::camera::visibility::RenderLayers;
use bevy::core_pipeline::tonemapping::{DebandDither, Tonemapping};
use bevy::light::GlobalAmbientLight;
use bevy::prelude::*;
use bevy::render::render_resource::{TextureFormat, TextureUsages};
use bevy::render::view::NoIndirectDrawing;

/// Render layer of the static world, seen by every camera.
pub const WORLD_LAYER: usize = 0;
/// Render layer of the driven cars: hood cameras do not see it, so cars sharing a world
/// stay independent episodes (a chase camera adds this layer to see them).
pub const CAR_LAYER: usize = 1;

/// Marks the root entity of agent `0`'s car.
#[derive(Component, Clone, Copy, Debug)]
pub struct AgentCar(pub usize);

/// Marks agent `0`'s hood camera.
#[derive(Component, Clone, Copy, Debug)]
pub struct AgentCamera(pub usize);

fn srgb(c: [f64; 3]) -> Color {
    Color::srgb(c[0] as f32, c[1] as f32, c[2] as f32)
}

fn matte(world: &mut World, colour: Color) -> Handle<StandardMaterial> {
    world
        .resource_mut::<Assets<StandardMaterial>>()
        .add(StandardMaterial {
            base_color: colour,
            perceptual_roughness: 0.95,
            metallic: 0.0,
            reflectance: 0.2,
            ..default()
        })
}

fn add_mesh(world: &mut World, mesh: Mesh) -> Handle<Mesh> {
    world.resource_mut::<Assets<Mesh>>().add(mesh)
}

/// Spawns the parts of an object at `root`, each on `layers`.
fn spawn_parts(
    world: &mut World,
    parts: Vec<PropPart>,
    root: Transform,
    layers: &RenderLayers,
    parent: Option<Entity>,
) {
    for part in parts {
        let mesh = add_mesh(world, part.mesh);
        let material = matte(world, srgb(part.colour.map(f64::from)));
        let transform = if parent.is_some() {
            part.transform
        } else {
            root.mul_transform(part.transform)
        };
        let mut e = world.spawn((
            Mesh3d(mesh),
            MeshMaterial3d(material),
            transform,
            layers.clone(),
        ));
        if let Some(p) = parent {
            e.insert(ChildOf(p));
        }
    }
}

/// Bevy transform of a ground pose (`heading` counter-clockwise from east).
pub fn ground_transform(position: crate::sim::Vec2, height_m: f64, heading: f64) -> Transform {
    Transform::from_translation(Vec3::from_array(position.to_world(height_m)))
        .with_rotation(Quat::from_rotation_y(heading as f32))
}

/// Spawns everything that does not move.
pub fn spawn_static_world(world: &mut World, scenario: &Scenario, track: &Track) {
    let layers = RenderLayers::layer(WORLD_LAYER);
    let lighting = &scenario.lighting;
    world.insert_resource(ClearColor(srgb(lighting.sky_colour)));
    world.insert_resource(GlobalAmbientLight {
        color: Color::WHITE,
        brightness: lighting.ambient_brightness as f32,
        affects_lightmapped_meshes: true,
    });
    let elevation = lighting.sun_elevation_deg.clamp(0.5, 89.5).to_radians();
    let azimuth = lighting.sun_azimuth_deg.to_radians();
    let towards_sun = Vec3::new(
        (elevation.cos() * azimuth.cos()) as f32,
        elevation.sin() as f32,
        -(elevation.cos() * azimuth.sin()) as f32,
    );
    world.spawn((
        DirectionalLight {
            color: Color::WHITE,
            illuminance: lighting.sun_illuminance_lux as f32,
            shadow_maps_enabled: lighting.shadows,
            ..default()
        },
        Transform::from_translation(towards_sun * 100.0).looking_at(Vec3::ZERO, Vec3::Y),
        RenderLayers::from_layers(&[WORLD_LAYER, CAR_LAYER]),
    ));

    let ground = add_mesh(world, ground_mesh(track, 400.0));
    let ground_material = matte(world, srgb(lighting.ground_colour));
    world.spawn((
        Mesh3d(ground),
        MeshMaterial3d(ground_material),
        Transform::IDENTITY,
        layers.clone(),
    ));
    let road = add_mesh(world, road_mesh(track, &scenario.road));
    let asphalt = matte(world, Color::srgb(0.24, 0.24, 0.26));
    world.spawn((
        Mesh3d(road),
        MeshMaterial3d(asphalt),
        Transform::IDENTITY,
        layers.clone(),
    ));
    if let Some(paint) = marking_mesh(track, &scenario.road) {
        let paint = add_mesh(world, paint);
        let white = matte(world, Color::srgb(0.95, 0.95, 0.92));
        world.spawn((
            Mesh3d(paint),
            MeshMaterial3d(white),
            Transform::IDENTITY,
            layers.clone(),
        ));
    }

    for prop in &scenario.props {
        let count = prop.repeat.as_ref().map_or(1, |r| r.count);
        let spacing = prop.repeat.as_ref().map_or(0.0, |r| r.spacing_m);
        for k in 0..count {
            let (position, heading) = match prop.at {
                Placement::Track { s_m, offset_m } => {
                    let s = s_m + k as f64 * spacing;
                    (track.offset_point(s, offset_m), track.at(s).heading)
                }
                Placement::Absolute { x, y } => (crate::sim::Vec2::new(x, y), 0.0),
            };
            let root = ground_transform(position, 0.0, heading + prop.yaw_deg.to_radians());
            spawn_parts(world, prop_parts(prop.kind), root, &layers, None);
        }
    }
}

/// Entities of one agent.
#[derive(Clone, Debug)]
pub struct AgentEntities {
    pub car: Entity,
    pub camera: Entity,
    pub target: Handle<Image>,
}

/// Spawns agent `index`'s car and its hood camera rendering into a new image.
pub fn spawn_agent(world: &mut World, scenario: &Scenario, index: usize) -> AgentEntities {
    let rig = &scenario.camera;
    let mut image = Image::new_target_texture(
        rig.width_px,
        rig.height_px,
        TextureFormat::Rgba8UnormSrgb,
        None,
    );
    image.texture_descriptor.usage |= TextureUsages::COPY_SRC;
    let target = world.resource_mut::<Assets<Image>>().add(image);

    let car = world
        .spawn((AgentCar(index), Transform::IDENTITY, Visibility::default()))
        .id();
    let v = &scenario.vehicle;
    spawn_parts(
        world,
        car_parts(v.length_m, v.width_m),
        Transform::IDENTITY,
        &RenderLayers::layer(CAR_LAYER),
        Some(car),
    );

    let mut camera = world.spawn((
        AgentCamera(index),
        Camera3d::default(),
        Camera {
            order: index as isize,
            ..default()
        },
        RenderTarget::Image(target.clone().into()),
        Projection::Perspective(PerspectiveProjection {
            fov: rig.vertical_fov_rad() as f32,
            near: 0.1,
            far: 1000.0,
            ..default()
        }),
        Tonemapping::None,
        DebandDither::Disabled,
        Msaa::Off,
        NoIndirectDrawing,
        RenderLayers::layer(WORLD_LAYER),
        Transform::IDENTITY,
    ));
    if let Some(fog) = &scenario.lighting.fog {
        camera.insert(DistanceFog {
            color: srgb(fog.colour),
            falloff: FogFalloff::Linear {
                start: fog.start_m as f32,
                end: fog.end_m as f32,
            },
            ..default()
        });
    }
    let camera = camera.id();
    AgentEntities {
        car,
        camera,
        target,
    }
}

/// Bevy transform of a camera pose.
pub fn camera_transform(pose: &CameraPose) -> Transform {
    let (sp, cp) = pose.pitch.sin_cos();
    let (sy, cy) = pose.yaw.sin_cos();
    let forward = Vec3::new((cp * cy) as f32, sp as f32, -(cp * sy) as f32);
    Transform::from_translation(Vec3::from_array(pose.ground.to_world(pose.height_m)))
        .looking_to(forward, Vec3::Y)
}

/// Moves agent `entities` to `vehicle`'s pose.
pub fn place_agent(
    world: &mut World,
    scenario: &Scenario,
    entities: &AgentEntities,
    vehicle: &VehicleState,
) {
    let centre = vehicle.position
        + crate::sim::Vec2::from_heading(vehicle.heading) * (scenario.vehicle.wheelbase_m / 2.0);
    if let Some(mut t) = world.get_mut::<Transform>(entities.car) {
        *t = ground_transform(centre, 0.0, vehicle.heading);
    }
    let pose = scenario.camera.pose(vehicle);
    if let Some(mut t) = world.get_mut::<Transform>(entities.camera) {
        *t = camera_transform(&pose);
    }
}
