//! A scenario's static world (road, paint, ground, props, sky) and the cars, spawned into a
//! Bevy `World`; the car cameras of a headless world are in [`crate::world::tiles`].

use crate::sim::built::BuiltWorld;
use crate::sim::camera::CameraPose;
use crate::sim::labels::{LabelClass, LabelTable, id_colour};
use crate::sim::network::buildings::FACADES;
use crate::sim::scenario::{Lighting, Scenario};
use crate::sim::vehicle::VehicleState;
use crate::world::material::SimMaterial;
use crate::world::meshes::{
    PropPart, car_parts, ground_mesh, marking_mesh, pieces, prop_parts, road_mesh,
};
use crate::world::network_meshes::{building_meshes, network_marking_meshes, network_road_meshes};
use bevy::camera::visibility::RenderLayers;
use bevy::prelude::*;

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

pub(crate) fn srgb(c: [f64; 3]) -> Color {
    Color::srgb(c[0] as f32, c[1] as f32, c[2] as f32)
}

/// Adds the material of sRGB colour `colour` under the scenario's lighting.
fn material(world: &mut World, colour: [f64; 3], lighting: &Lighting) -> Handle<SimMaterial> {
    world
        .resource_mut::<Assets<SimMaterial>>()
        .add(SimMaterial::lit(colour, lighting))
}

pub(crate) fn add_mesh(world: &mut World, mesh: Mesh) -> Handle<Mesh> {
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

/// One object of the static world: its label class and its coloured parts, placed in the
/// world.
pub struct StaticObject {
    pub class: LabelClass,
    /// Surfaces (ground, road, paint) share their class's label id; each prop gets its own.
    pub is_prop: bool,
    pub parts: Vec<PropPart>,
}

/// Everything that does not move: ground, road, paint, buildings and props of the built
/// world, in world coordinates.
pub fn static_objects(scenario: &Scenario, built: &BuiltWorld) -> Vec<StaticObject> {
    let track = &built.track;
    let surface = |meshes: Vec<Mesh>, colour: [f64; 3], class| StaticObject {
        class,
        is_prop: false,
        parts: meshes
            .into_iter()
            .map(|mesh| PropPart {
                mesh,
                colour: colour.map(|c| c as f32),
                transform: Transform::IDENTITY,
            })
            .collect(),
    };
    // Road and paint in pieces, so that cameras skip the pieces out of view.
    let built_up = building_meshes(&built.buildings);
    let (road, paint): (Vec<Mesh>, Vec<Mesh>) = match built.network() {
        Some(network) => (
            network_road_meshes(network),
            network_marking_meshes(network, &scenario.road.lane_markings),
        ),
        None => {
            let pieces = pieces(track.length_m());
            (
                pieces
                    .iter()
                    .map(|&p| road_mesh(track, &scenario.road, p))
                    .collect(),
                pieces
                    .iter()
                    .filter_map(|&p| marking_mesh(track, &scenario.road, p))
                    .collect(),
            )
        }
    };
    let mut objects = vec![
        surface(
            vec![ground_mesh(track, 400.0)],
            scenario.lighting.ground_colour,
            LabelClass::Ground,
        ),
        surface(road, ASPHALT, LabelClass::Road),
    ];
    if !paint.is_empty() {
        objects.push(surface(paint, PAINT, LabelClass::LaneMarking));
    }
    for (facade, mesh) in built_up {
        objects.push(surface(vec![mesh], FACADES[facade], LabelClass::Building));
    }
    for prop in &built.props {
        let root = ground_transform(prop.position, 0.0, prop.heading);
        let parts = prop_parts(prop.kind)
            .into_iter()
            .map(|p| PropPart {
                transform: root.mul_transform(p.transform),
                ..p
            })
            .collect();
        objects.push(StaticObject {
            class: LabelClass::Prop(prop.kind),
            is_prop: true,
            parts,
        });
    }
    objects
}

/// Spawns everything that does not move; with `labels`, also its label twins. Returns the
/// class of every label id (props numbered in spawn order).
pub fn spawn_static_world(
    world: &mut World,
    scenario: &Scenario,
    built: &BuiltWorld,
    labels: bool,
) -> LabelTable {
    let mut table = LabelTable::new();
    let layers = RenderLayers::layer(WORLD_LAYER);
    let lighting = &scenario.lighting;
    world.insert_resource(ClearColor(srgb(lighting.sky_colour)));
    for object in static_objects(scenario, built) {
        let id = if object.is_prop {
            table.add(object.class)
        } else {
            table.surface(object.class)
        };
        let meshes = spawn_parts(
            world,
            object.parts,
            Transform::IDENTITY,
            lighting,
            &layers,
            None,
        );
        if let (true, Some(id)) = (labels, id) {
            for (mesh, transform) in meshes {
                spawn_label_twin(world, mesh, transform, id);
            }
        }
    }
    table
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

/// Spawns traffic car `index` (counted from 1) in the world every camera sees, painted from
/// `paint` (sRGB), hidden until placed.
pub fn spawn_traffic_car(
    world: &mut World,
    scenario: &Scenario,
    index: usize,
    paint: [f64; 3],
) -> Entity {
    let car = world
        .spawn((AgentCar(index), Transform::IDENTITY, Visibility::Hidden))
        .id();
    let v = &scenario.vehicle;
    let mut parts = car_parts(v.length_m, v.width_m);
    parts[0].colour = paint.map(|c| c as f32);
    spawn_parts(
        world,
        parts,
        Transform::IDENTITY,
        &scenario.lighting,
        &RenderLayers::layer(WORLD_LAYER),
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

/// Bevy transform of a camera pose.
pub fn camera_transform(pose: &CameraPose) -> Transform {
    let (sp, cp) = pose.pitch.sin_cos();
    let (sy, cy) = pose.yaw.sin_cos();
    let forward = Vec3::new((cp * cy) as f32, sp as f32, -(cp * sy) as f32);
    Transform::from_translation(Vec3::from_array(pose.ground.to_world(pose.height_m)))
        .looking_to(forward, Vec3::Y)
}
