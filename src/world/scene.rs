//! Spawns a scenario's static world (road, paint, ground, props, sky) and the agents'
//! cars and hood cameras into a Bevy `World`.

use crate::sim::camera::CameraPose;
use crate::sim::labels::{LabelClass, LabelTable, id_colour};
use crate::sim::scenario::{Lighting, Scenario};
use crate::sim::track::Track;
use crate::sim::vehicle::VehicleState;
use crate::world::material::SimMaterial;
use crate::world::meshes::{PropPart, car_parts, ground_mesh, marking_mesh, prop_parts, road_mesh};
use bevy::camera::RenderTarget;
use bevy::camera::visibility::RenderLayers;
use bevy::core_pipeline::tonemapping::{DebandDither, Tonemapping};
use bevy::prelude::*;
use bevy::render::render_resource::{TextureFormat, TextureUsages};
use bevy::render::view::NoIndirectDrawing;

/// Render layer of the static world, seen by every camera.
pub const WORLD_LAYER: usize = 0;
/// Render layer of the label twins of the static world: each object again, in the flat colour
/// of its label id, seen only by label cameras.
pub const LABEL_LAYER: usize = 2;
/// Render layer of the driven cars: hood cameras do not see it, so cars sharing a world
/// stay independent episodes (a chase camera adds this layer to see them).
pub const CAR_LAYER: usize = 1;

/// sRGB colour of the asphalt and of the lane paint.
const ASPHALT: [f64; 3] = [0.24, 0.24, 0.26];
const PAINT: [f64; 3] = [0.95, 0.95, 0.92];

/// Marks the root entity of agent `0`'s car.
#[derive(Component, Clone, Copy, Debug)]
pub struct AgentCar(pub usize);

/// Marks every entity of the static world (ground, road, markings, props, their label twins),
/// so that a window can take a world down and build another.
#[derive(Component, Clone, Copy, Debug, Default)]
pub struct Scenery;

/// Marks agent `0`'s hood camera.
#[derive(Component, Clone, Copy, Debug)]
pub struct AgentCamera(pub usize);

fn srgb(c: [f64; 3]) -> Color {
    Color::srgb(c[0] as f32, c[1] as f32, c[2] as f32)
}

/// Adds the material of sRGB colour `colour` under the scenario's lighting.
fn material(world: &mut World, colour: [f64; 3], lighting: &Lighting) -> Handle<SimMaterial> {
    world
        .resource_mut::<Assets<SimMaterial>>()
        .add(SimMaterial::lit(colour, lighting))
}

fn add_mesh(world: &mut World, mesh: Mesh) -> Handle<Mesh> {
    world.resource_mut::<Assets<Mesh>>().add(mesh)
}

/// Spawns the parts of an object at `root`, each on `layers`; parts of a `parent` entity are
/// placed relative to it instead.
fn spawn_parts(
    world: &mut World,
    parts: Vec<PropPart>,
    root: Transform,
    lighting: &Lighting,
    layers: &RenderLayers,
    parent: Option<Entity>,
) -> Vec<(Handle<Mesh>, Transform)> {
    let mut spawned = Vec::new();
    for part in parts {
        let mesh = add_mesh(world, part.mesh);
        let material = material(world, part.colour.map(f64::from), lighting);
        let transform = if parent.is_some() {
            part.transform
        } else {
            root.mul_transform(part.transform)
        };
        let mut e = world.spawn((
            Mesh3d(mesh.clone()),
            MeshMaterial3d(material),
            transform,
            layers.clone(),
        ));
        match parent {
            Some(p) => e.insert(ChildOf(p)),
            None => e.insert(Scenery),
        };
        spawned.push((mesh, transform));
    }
    spawned
}

/// Bevy transform of a ground pose (`heading` counter-clockwise from east).
pub fn ground_transform(position: crate::sim::Vec2, height_m: f64, heading: f64) -> Transform {
    Transform::from_translation(Vec3::from_array(position.to_world(height_m)))
        .with_rotation(Quat::from_rotation_y(heading as f32))
}

/// Spawns the label twin of a mesh: the same geometry on [`LABEL_LAYER`] in id `id`'s colour.
fn spawn_label_twin(world: &mut World, mesh: Handle<Mesh>, transform: Transform, id: u16) {
    let material = world
        .resource_mut::<Assets<SimMaterial>>()
        .add(SimMaterial::flat(id_colour(id)));
    world.spawn((
        Mesh3d(mesh),
        MeshMaterial3d(material),
        transform,
        RenderLayers::layer(LABEL_LAYER),
        Scenery,
    ));
}

/// Spawns everything that does not move; with `labels`, also its label twins. Returns the
/// class of every label id (props numbered in spawn order).
pub fn spawn_static_world(
    world: &mut World,
    scenario: &Scenario,
    track: &Track,
    labels: bool,
) -> LabelTable {
    let mut table = LabelTable::new();
    let layers = RenderLayers::layer(WORLD_LAYER);
    let lighting = &scenario.lighting;
    world.insert_resource(ClearColor(srgb(lighting.sky_colour)));
    let surfaces = [
        (
            ground_mesh(track, 400.0),
            lighting.ground_colour,
            LabelClass::Ground,
        ),
        (road_mesh(track, &scenario.road), ASPHALT, LabelClass::Road),
    ];
    let paint = marking_mesh(track, &scenario.road).map(|m| (m, PAINT, LabelClass::LaneMarking));
    for (mesh, colour, class) in surfaces.into_iter().chain(paint) {
        let mesh = add_mesh(world, mesh);
        let material = material(world, colour, lighting);
        world.spawn((
            Mesh3d(mesh.clone()),
            MeshMaterial3d(material),
            Transform::IDENTITY,
            layers.clone(),
            Scenery,
        ));
        if labels {
            spawn_label_twin(world, mesh, Transform::IDENTITY, table.id_of(class));
        }
    }

    for prop in scenario.placed_props(track) {
        let root = ground_transform(prop.position, 0.0, prop.heading);
        let meshes = spawn_parts(world, prop_parts(prop.kind), root, lighting, &layers, None);
        let id = table.add(LabelClass::Prop(prop.kind));
        if let (true, Some(id)) = (labels, id) {
            for (mesh, transform) in meshes {
                spawn_label_twin(world, mesh, transform, id);
            }
        }
    }
    table
}

/// Entities of one agent.
#[derive(Clone, Debug)]
pub struct AgentEntities {
    pub car: Entity,
    pub camera: Entity,
    pub target: Handle<Image>,
    /// The label camera and its image, when labels are rendered.
    pub label: Option<(Entity, Handle<Image>)>,
}

/// A camera of the rig `scenario.camera` rendering `layer` into a new image; `order` sorts
/// the cameras of a frame.
fn spawn_camera(
    world: &mut World,
    scenario: &Scenario,
    order: isize,
    layer: usize,
    clear: ClearColorConfig,
) -> (Entity, Handle<Image>) {
    let rig = &scenario.camera;
    let mut image = Image::new_target_texture(
        rig.width_px,
        rig.height_px,
        TextureFormat::Rgba8UnormSrgb,
        None,
    );
    image.texture_descriptor.usage |= TextureUsages::COPY_SRC;
    let target = world.resource_mut::<Assets<Image>>().add(image);
    let camera = world
        .spawn((
            Camera3d::default(),
            Camera {
                order,
                clear_color: clear,
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
            RenderLayers::layer(layer),
            Transform::IDENTITY,
        ))
        .id();
    (camera, target)
}

/// Spawns agent `index`'s car body (on the car layer, which hood cameras do not see).
pub fn spawn_car(world: &mut World, scenario: &Scenario, index: usize) -> Entity {
    let car = world
        .spawn((AgentCar(index), Transform::IDENTITY, Visibility::default()))
        .id();
    let v = &scenario.vehicle;
    spawn_parts(
        world,
        car_parts(v.length_m, v.width_m),
        Transform::IDENTITY,
        &scenario.lighting,
        &RenderLayers::layer(CAR_LAYER),
        Some(car),
    );
    car
}

/// Where the car body of a vehicle in `state` goes (its centre, half a wheelbase ahead of the
/// rear axle the dynamics track).
pub fn car_transform(scenario: &Scenario, vehicle: &VehicleState) -> Transform {
    let centre = vehicle.body_centre(scenario.vehicle.wheelbase_m);
    ground_transform(centre, 0.0, vehicle.heading)
}

/// Spawns agent `index`'s car and its hood camera rendering into a new image; with
/// `labels`, also its label camera (same pose, label twins only, sky in id 0's colour).
pub fn spawn_agent(
    world: &mut World,
    scenario: &Scenario,
    index: usize,
    agents: usize,
    labels: bool,
) -> AgentEntities {
    let car = spawn_car(world, scenario, index);
    let (camera, target) = spawn_camera(
        world,
        scenario,
        index as isize,
        WORLD_LAYER,
        ClearColorConfig::Default,
    );
    world.entity_mut(camera).insert(AgentCamera(index));
    let label = labels.then(|| {
        let sky = id_colour(0);
        spawn_camera(
            world,
            scenario,
            (agents + index) as isize,
            LABEL_LAYER,
            ClearColorConfig::Custom(srgb(sky)),
        )
    });
    AgentEntities {
        car,
        camera,
        target,
        label,
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
    if let Some(mut t) = world.get_mut::<Transform>(entities.car) {
        *t = car_transform(scenario, vehicle);
    }
    let pose = scenario.camera.pose(vehicle);
    let cameras = std::iter::once(entities.camera).chain(entities.label.as_ref().map(|l| l.0));
    for camera in cameras {
        if let Some(mut t) = world.get_mut::<Transform>(camera) {
            *t = camera_transform(&pose);
        }
    }
}
