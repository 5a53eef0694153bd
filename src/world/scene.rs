//! Spawns a scenario's static world (road, paint, ground, props, sky) and the agents'
//! cars and hood cameras into a Bevy `World`.

use crate::sim::camera::CameraPose;
use crate::sim::labels::{LabelClass, LabelTable, id_colour};
use crate::sim::scenario::{Lighting, Scenario};
use crate::sim::track::Track;
use crate::sim::vehicle::VehicleState;
use crate::world::material::SimMaterial;
use crate::world::meshes::{PropPart, car_parts, ground_mesh, marking_mesh, prop_parts, road_mesh};
use bevy::camera::visibility::RenderLayers;
use bevy::camera::{CameraOutputMode, RenderTarget, Viewport};
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

/// One object of the static world: its label class and its coloured parts, placed in the
/// world.
pub struct StaticObject {
    pub class: LabelClass,
    /// Surfaces (ground, road, paint) share their class's label id; each prop gets its own.
    pub is_prop: bool,
    pub parts: Vec<PropPart>,
}

/// Everything that does not move: ground, road, paint and props, in world coordinates.
pub fn static_objects(scenario: &Scenario, track: &Track) -> Vec<StaticObject> {
    let surface = |mesh, colour: [f64; 3], class| StaticObject {
        class,
        is_prop: false,
        parts: vec![PropPart {
            mesh,
            colour: colour.map(|c| c as f32),
            transform: Transform::IDENTITY,
        }],
    };
    let mut objects = vec![
        surface(
            ground_mesh(track, 400.0),
            scenario.lighting.ground_colour,
            LabelClass::Ground,
        ),
        surface(road_mesh(track, &scenario.road), ASPHALT, LabelClass::Road),
    ];
    if let Some(paint) = marking_mesh(track, &scenario.road) {
        objects.push(surface(paint, PAINT, LabelClass::LaneMarking));
    }
    for prop in scenario.placed_props(track) {
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
    track: &Track,
    labels: bool,
) -> LabelTable {
    let mut table = LabelTable::new();
    let layers = RenderLayers::layer(WORLD_LAYER);
    let lighting = &scenario.lighting;
    world.insert_resource(ClearColor(srgb(lighting.sky_colour)));
    for object in static_objects(scenario, track) {
        let id = if object.is_prop {
            table.add(object.class)
        } else {
            Some(table.id_of(object.class))
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

/// Entities of one agent.
#[derive(Clone, Debug)]
pub struct AgentEntities {
    pub car: Entity,
    pub camera: Entity,
    /// The label camera, when labels are rendered.
    pub label: Option<Entity>,
}

/// One image holding the frames of every camera of a kind, each in its own tile: the cameras
/// share one main texture and one copy back instead of one of each per camera. Tiles fill
/// rows of `columns`, camera `i` in tile `i`.
#[derive(Clone, Debug)]
pub struct Atlas {
    pub image: Handle<Image>,
    /// Tile (camera frame) size in pixels.
    pub tile: UVec2,
    pub columns: u32,
    pub tiles: u32,
}

impl Atlas {
    /// A new atlas image of `tiles` tiles of the scenario's camera size.
    pub fn new(world: &mut World, scenario: &Scenario, tiles: u32) -> Atlas {
        let tile = UVec2::new(scenario.camera.width_px, scenario.camera.height_px);
        // Close to square: lavapipe bins in 64×64 tiles, and a long strip pads more of them.
        let columns = ((tiles as f64).sqrt().ceil() as u32).max(1);
        let rows = tiles.div_ceil(columns).max(1);
        let mut image = Image::new_target_texture(
            tile.x * columns,
            tile.y * rows,
            TextureFormat::Rgba8UnormSrgb,
            None,
        );
        image.texture_descriptor.usage |= TextureUsages::COPY_SRC;
        let image = world.resource_mut::<Assets<Image>>().add(image);
        Atlas {
            image,
            tile,
            columns,
            tiles,
        }
    }

    /// Top-left pixel of tile `i`.
    pub fn origin(&self, i: u32) -> UVec2 {
        UVec2::new(i % self.columns, i / self.columns) * self.tile
    }
}

/// A camera of the rig `scenario.camera` rendering `layer` into tile `tile` of `atlas`;
/// `order` sorts the cameras of a frame. The first camera of an atlas clears it with `clear`
/// (the sky), the others keep what is there: each draws only inside its own tile.
fn spawn_camera(
    world: &mut World,
    scenario: &Scenario,
    order: isize,
    layer: usize,
    clear: ClearColorConfig,
    atlas: &Atlas,
    tile: u32,
) -> Entity {
    let rig = &scenario.camera;
    world
        .spawn((
            Camera3d::default(),
            Camera {
                order,
                clear_color: if tile == 0 {
                    clear
                } else {
                    ClearColorConfig::None
                },
                viewport: Some(Viewport {
                    physical_position: atlas.origin(tile),
                    physical_size: atlas.tile,
                    depth: 0.0..1.0,
                }),
                // The cameras of an atlas share one main texture, which the capture copies
                // from directly: no per-camera pass copying it into the image. Bevy renders
                // only for targets some camera writes to: the last one does, its own tile.
                output_mode: if tile + 1 == atlas.tiles {
                    CameraOutputMode::Write {
                        blend_state: None,
                        clear_color: ClearColorConfig::None,
                    }
                } else {
                    CameraOutputMode::Skip
                },
                ..default()
            },
            RenderTarget::Image(atlas.image.clone().into()),
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
        .id()
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

/// Spawns agent `index`'s car and its hood camera, rendering into tile `index` of `colour`;
/// with a `label` atlas, also its label camera there (same pose, label twins only, sky in
/// id 0's colour).
pub fn spawn_agent(
    world: &mut World,
    scenario: &Scenario,
    index: usize,
    colour: &Atlas,
    label: Option<&Atlas>,
) -> AgentEntities {
    let car = spawn_car(world, scenario, index);
    let tile = index as u32;
    let camera = spawn_camera(
        world,
        scenario,
        index as isize,
        WORLD_LAYER,
        ClearColorConfig::Default,
        colour,
        tile,
    );
    world.entity_mut(camera).insert(AgentCamera(index));
    let label = label.map(|atlas| {
        spawn_camera(
            world,
            scenario,
            (colour.tiles + tile) as isize,
            LABEL_LAYER,
            ClearColorConfig::Custom(srgb(id_colour(0))),
            atlas,
            tile,
        )
    });
    AgentEntities { car, camera, label }
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
    let cameras = std::iter::once(entities.camera).chain(entities.label);
    for camera in cameras {
        if let Some(mut t) = world.get_mut::<Transform>(camera) {
            *t = camera_transform(&pose);
        }
    }
}
