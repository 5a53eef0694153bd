//! The car cameras of a world, all drawn in one render pass per atlas image: each car has its
//! own copy of the static world (sharing its meshes) whose material holds that car's camera
//! and tile (`tiled.wgsl`), one Bevy camera per atlas draws every copy, and the capture copies
//! each atlas back at once. Before every tick, each car's copy shows only the pieces its
//! camera may see.

use crate::sim::built::BuiltWorld;
use crate::sim::camera::CameraPose;
use crate::sim::labels::{LabelClass, LabelTable, id_colour};
use crate::sim::scenario::Scenario;
use crate::world::material::{TileMaterial, TileView, linear};
use crate::world::meshes::car_parts;
use crate::world::scene::{Scenery, add_mesh, camera_transform, srgb, static_objects};
use bevy::camera::RenderTarget;
use bevy::camera::primitives::MeshAabb;
use bevy::camera::visibility::{NoFrustumCulling, RenderLayers};
use bevy::core_pipeline::tonemapping::{DebandDither, Tonemapping};
use bevy::prelude::*;
use bevy::render::render_resource::{TextureFormat, TextureUsages};
use bevy::render::view::NoIndirectDrawing;

/// Render layers of the cars' copies of the world drawn into the colour and label atlases.
const TILE_LAYER: usize = 3;
const LABEL_TILE_LAYER: usize = 4;

/// One image holding the frames of every car camera of a kind, each in its own tile, drawn in
/// one pass and copied back at once. Tiles fill rows of `columns`, car `i` in tile `i`.
#[derive(Clone, Debug)]
pub struct Atlas {
    pub image: Handle<Image>,
    /// Tile (camera frame) size in pixels.
    pub tile: UVec2,
    pub columns: u32,
    pub tiles: u32,
}

impl Atlas {
    /// (columns, width, height) of an atlas of `tiles` tiles of `tile` pixels: as many columns
    /// as rows, which keeps it close to square for the usual cameras.
    pub fn layout(tile: UVec2, tiles: u32) -> (u32, u64, u64) {
        let columns = ((tiles as f64).sqrt().ceil() as u32).max(1);
        let rows = tiles.div_ceil(columns).max(1);
        (
            columns,
            tile.x as u64 * columns as u64,
            tile.y as u64 * rows as u64,
        )
    }

    /// A new atlas image of `tiles` tiles of the scenario's camera size (which must fit the
    /// device: see [`Atlas::layout`]).
    pub fn new(world: &mut World, scenario: &Scenario, tiles: u32) -> Atlas {
        let tile = UVec2::new(scenario.camera.width_px, scenario.camera.height_px);
        let (columns, width, height) = Atlas::layout(tile, tiles);
        let mut image = Image::new_target_texture(
            width as u32,
            height as u32,
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

    fn rows(&self) -> u32 {
        self.tiles.div_ceil(self.columns).max(1)
    }

    /// The map from a camera's clip space into tile `i`'s part of the atlas's clip space:
    /// (a, b, c, d) for x' = x·a + c·w, y' = y·b + d·w.
    fn tile_map(&self, i: u32) -> Vec4 {
        let (columns, rows) = (self.columns as f32, self.rows() as f32);
        let (c, r) = ((i % self.columns) as f32, (i / self.columns) as f32);
        Vec4::new(
            1.0 / columns,
            1.0 / rows,
            (2.0 * c + 1.0) / columns - 1.0,
            1.0 - (2.0 * r + 1.0) / rows,
        )
    }
}

/// Body colours of traffic cars (sRGB), in turn.
pub const TRAFFIC_PAINT: [[f64; 3]; 6] = [
    [0.75, 0.12, 0.10],
    [0.10, 0.30, 0.70],
    [0.90, 0.75, 0.15],
    [0.15, 0.50, 0.25],
    [0.85, 0.85, 0.88],
    [0.20, 0.20, 0.22],
];

/// The car cameras of a world, all drawn in one pass per atlas. Each car has its own copy of
/// the static world whose material holds that car's camera and tile (`tiled.wgsl`); one
/// camera per atlas draws every copy. The copies share their meshes.
pub struct TiledViews {
    pub colour: Atlas,
    pub label: Option<Atlas>,
    /// Each car's material in the colour atlas and in the label atlas.
    materials: Vec<(Handle<TileMaterial>, Option<Handle<TileMaterial>>)>,
    /// Each car's copies of the parts: colour entity, label entity, and whether shown.
    copies: Vec<Vec<(Entity, Option<Entity>, bool)>>,
    /// World-space bounds (min, max) of every part, in the order of each car's copies.
    bounds: Vec<(Vec3, Vec3)>,
    /// Each car's copies of the traffic cars' parts: colour entity, label entity, and the
    /// part's place on the car; `traffic_parts` parts per traffic car.
    traffic: Vec<Vec<(Entity, Option<Entity>, Transform)>>,
    traffic_parts: usize,
    projection: Mat4,
}

/// World-space bounds (min, max) of `mesh` placed by `transform`.
fn world_bounds(mesh: &Mesh, transform: &Transform) -> (Vec3, Vec3) {
    let Some(aabb) = mesh.compute_aabb() else {
        return (Vec3::splat(f32::NEG_INFINITY), Vec3::splat(f32::INFINITY));
    };
    let (c, h) = (Vec3::from(aabb.center), Vec3::from(aabb.half_extents));
    let matrix = transform.to_matrix();
    let mut bounds = (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY));
    for corner in 0..8 {
        let sign = Vec3::new(
            if corner & 1 == 0 { -1.0 } else { 1.0 },
            if corner & 2 == 0 { -1.0 } else { 1.0 },
            if corner & 4 == 0 { -1.0 } else { 1.0 },
        );
        let p = matrix.transform_point3(c + h * sign);
        bounds = (bounds.0.min(p), bounds.1.max(p));
    }
    bounds
}

/// Whether a box (min, max) may be seen through `clip_from_world` (a perspective projection
/// with reverse Z and no far plane): it is outside when wholly behind one of the four sides
/// or the near plane.
fn may_be_seen(clip_from_world: &Mat4, (min, max): (Vec3, Vec3)) -> bool {
    let (r0, r1, r2, r3) = (
        clip_from_world.row(0),
        clip_from_world.row(1),
        clip_from_world.row(2),
        clip_from_world.row(3),
    );
    [r3 + r0, r3 - r0, r3 + r1, r3 - r1, r3 - r2]
        .iter()
        .all(|plane| {
            let n = plane.truncate();
            // The corner farthest along the plane's normal.
            let far = Vec3::select(n.cmpge(Vec3::ZERO), max, min);
            n.dot(far) + plane.w >= 0.0
        })
}

/// `mesh` with every vertex in linear colour `linear`.
fn coloured(mesh: &Mesh, linear: Vec4) -> Mesh {
    let n = mesh.count_vertices();
    mesh.clone()
        .with_inserted_attribute(Mesh::ATTRIBUTE_COLOR, vec![linear.to_array(); n])
}

/// Spawns the static world once per car for `agents` cars (and once more per car into a label
/// atlas with `labels`), and the atlas cameras. Returns the class of every label id (props
/// numbered in spawn order) and the views to place every tick.
pub fn spawn_tiled_world(
    world: &mut World,
    scenario: &Scenario,
    built: &BuiltWorld,
    agents: usize,
    labels: bool,
) -> (LabelTable, TiledViews) {
    let traffic_cars = scenario.traffic.cars as usize;
    let mut table = LabelTable::new();
    let lighting = &scenario.lighting;
    world.insert_resource(ClearColor(srgb(lighting.sky_colour)));
    // (colour mesh, label mesh, transform) of every part, and its bounds.
    let mut parts = Vec::new();
    let mut bounds = Vec::new();
    for object in static_objects(scenario, built) {
        let id = if object.is_prop {
            table.add(object.class)
        } else {
            table.surface(object.class)
        };
        for part in object.parts {
            bounds.push(world_bounds(&part.mesh, &part.transform));
            let colour = coloured(&part.mesh, linear(part.colour.map(f64::from)));
            let label = match (labels, id) {
                (true, Some(id)) => Some(coloured(&part.mesh, linear(id_colour(id)))),
                _ => None,
            };
            parts.push((
                add_mesh(world, colour),
                label.map(|m| add_mesh(world, m)),
                part.transform,
            ));
        }
    }
    // Traffic cars: one label id each, painted from a palette; placed every tick.
    let v = &scenario.vehicle;
    let car = car_parts(v.length_m, v.width_m);
    let traffic_parts = car.len();
    let mut traffic_meshes = Vec::new();
    for i in 0..traffic_cars {
        let id = table.add(LabelClass::Car);
        let paint = TRAFFIC_PAINT[i % TRAFFIC_PAINT.len()];
        for (k, part) in car.iter().enumerate() {
            // The body takes the car's paint; the cabin stays dark.
            let c = if k == 0 {
                paint
            } else {
                part.colour.map(f64::from)
            };
            let colour = coloured(&part.mesh, linear(c));
            let label_mesh = match (labels, id) {
                (true, Some(id)) => Some(coloured(&part.mesh, linear(id_colour(id)))),
                _ => None,
            };
            traffic_meshes.push((
                add_mesh(world, colour),
                label_mesh.map(|m| add_mesh(world, m)),
                part.transform,
            ));
        }
    }
    let n = agents as u32;
    let colour = Atlas::new(world, scenario, n);
    let label = labels.then(|| Atlas::new(world, scenario, n));
    let mut materials = Vec::new();
    let mut copies = Vec::new();
    let mut traffic = Vec::new();
    for agent in 0..n {
        let mut add = |atlas: &Atlas, lit: bool| {
            let mut view = TileView::new(lit.then_some(lighting));
            view.tile_map = atlas.tile_map(agent);
            world
                .resource_mut::<Assets<TileMaterial>>()
                .add(TileMaterial { view })
        };
        let colour_material = add(&colour, true);
        let label_material = label.as_ref().map(|atlas| add(atlas, false));
        let mut agent_copies = Vec::new();
        for (mesh, label_mesh, transform) in &parts {
            // Bevy's own culling tests the atlas camera, whose view is not the car's: the
            // copies are culled by the car's camera in `place` instead.
            let (colour_copy, label_copy) = spawn_copies(
                world,
                (mesh, label_mesh.as_ref()),
                (&colour_material, label_material.as_ref()),
                *transform,
                Visibility::Inherited,
            );
            agent_copies.push((colour_copy, label_copy, true));
        }
        copies.push(agent_copies);
        let mut agent_traffic = Vec::new();
        for (mesh, label_mesh, local) in &traffic_meshes {
            let (colour_copy, label_copy) = spawn_copies(
                world,
                (mesh, label_mesh.as_ref()),
                (&colour_material, label_material.as_ref()),
                Transform::IDENTITY,
                Visibility::Hidden,
            );
            agent_traffic.push((colour_copy, label_copy, *local));
        }
        traffic.push(agent_traffic);
        materials.push((colour_material, label_material));
    }
    spawn_atlas_camera(world, &colour, 0, TILE_LAYER, ClearColorConfig::Default);
    if let Some(atlas) = &label {
        let sky = ClearColorConfig::Custom(srgb(id_colour(0)));
        spawn_atlas_camera(world, atlas, 1, LABEL_TILE_LAYER, sky);
    }
    let rig = &scenario.camera;
    // Bevy's perspective projection: reverse Z, infinite far plane.
    let projection = Mat4::perspective_infinite_reverse_rh(
        rig.vertical_fov_rad() as f32,
        rig.width_px as f32 / rig.height_px as f32,
        0.1,
    );
    let views = TiledViews {
        colour,
        label,
        materials,
        copies,
        bounds,
        traffic,
        traffic_parts,
        projection,
    };
    (table, views)
}

/// One car's copy of a part: the colour mesh with the car's colour material on the tile
/// layer and, with labels, the label mesh with its label material on the label layer.
fn spawn_copies(
    world: &mut World,
    (mesh, label_mesh): (&Handle<Mesh>, Option<&Handle<Mesh>>),
    (material, label_material): (&Handle<TileMaterial>, Option<&Handle<TileMaterial>>),
    transform: Transform,
    visibility: Visibility,
) -> (Entity, Option<Entity>) {
    let mut copy = |mesh: &Handle<Mesh>, material: &Handle<TileMaterial>, layer| {
        world
            .spawn((
                Mesh3d(mesh.clone()),
                MeshMaterial3d(material.clone()),
                transform,
                visibility,
                RenderLayers::layer(layer),
                NoFrustumCulling,
                Scenery,
            ))
            .id()
    };
    let colour = copy(mesh, material, TILE_LAYER);
    let label = label_mesh
        .zip(label_material)
        .map(|(m, material)| copy(m, material, LABEL_TILE_LAYER));
    (colour, label)
}

/// The camera drawing every car's copy of the world on `layer` into `atlas`. Its own view
/// is unused: each copy's material carries its car's camera.
fn spawn_atlas_camera(
    world: &mut World,
    atlas: &Atlas,
    order: isize,
    layer: usize,
    clear: ClearColorConfig,
) {
    world.spawn((
        Camera3d::default(),
        Camera {
            order,
            clear_color: clear,
            ..default()
        },
        RenderTarget::Image(atlas.image.clone().into()),
        Tonemapping::None,
        DebandDither::Disabled,
        Msaa::Off,
        NoIndirectDrawing,
        RenderLayers::layer(layer),
        Transform::IDENTITY,
    ));
}

impl TiledViews {
    /// Points car `agent`'s camera at `pose`, and shows only the parts of its copy of the
    /// world that camera may see.
    pub fn place(&mut self, world: &mut World, agent: usize, pose: &CameraPose) {
        let transform = camera_transform(pose);
        let clip_from_world = self.projection * transform.to_matrix().inverse();
        let camera = transform.translation.extend(1.0);
        let (Some((colour, label)), Some(copies)) =
            (self.materials.get(agent), self.copies.get_mut(agent))
        else {
            return;
        };
        for ((colour_copy, label_copy, shown), bounds) in copies.iter_mut().zip(&self.bounds) {
            let seen = may_be_seen(&clip_from_world, *bounds);
            if seen != *shown {
                *shown = seen;
                let visibility = if seen {
                    Visibility::Inherited
                } else {
                    Visibility::Hidden
                };
                for entity in std::iter::once(*colour_copy).chain(*label_copy) {
                    world.entity_mut(entity).insert(visibility);
                }
            }
        }
        let mut materials = world.resource_mut::<Assets<TileMaterial>>();
        let atlases =
            std::iter::once((colour, &self.colour)).chain(label.as_ref().zip(self.label.as_ref()));
        for (handle, _) in atlases {
            if let Some(mut m) = materials.get_mut(handle) {
                m.view.clip_from_world = clip_from_world;
                m.view.camera = camera;
            }
        }
    }

    /// Puts the traffic cars' bodies at `bodies` (Bevy transforms of each car's body) in every
    /// car's copy of the world; cars beyond them are hidden.
    pub fn place_traffic(&mut self, world: &mut World, bodies: &[Transform]) {
        for agent_traffic in &self.traffic {
            for (k, (colour, label, local)) in agent_traffic.iter().enumerate() {
                let car = k / self.traffic_parts.max(1);
                let (transform, visibility) = match bodies.get(car) {
                    Some(body) => (body.mul_transform(*local), Visibility::Inherited),
                    None => (Transform::IDENTITY, Visibility::Hidden),
                };
                for entity in std::iter::once(*colour).chain(*label) {
                    world.entity_mut(entity).insert((transform, visibility));
                }
            }
        }
    }

    /// The atlases to capture: colour, then labels.
    pub fn atlases(&self) -> Vec<Atlas> {
        std::iter::once(self.colour.clone())
            .chain(self.label.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_out_of_the_cameras_view_are_culled() {
        let pose = CameraPose {
            ground: crate::sim::Vec2::new(0.0, 0.0),
            height_m: 1.4,
            yaw: 0.0,
            pitch: 0.0,
        };
        let projection = Mat4::perspective_infinite_reverse_rh(0.8, 3.0, 0.1);
        let clip = projection * camera_transform(&pose).to_matrix().inverse();
        // Yaw 0 looks east, which is +X in Bevy's world.
        let around = |x: f32, z: f32| {
            (
                Vec3::new(x - 1.0, 0.0, z - 1.0),
                Vec3::new(x + 1.0, 1.0, z + 1.0),
            )
        };
        assert!(may_be_seen(&clip, around(20.0, 0.0)), "ahead");
        assert!(!may_be_seen(&clip, around(-20.0, 0.0)), "behind");
        assert!(!may_be_seen(&clip, around(5.0, 40.0)), "far to the side");
        assert!(
            may_be_seen(&clip, (Vec3::splat(-500.0), Vec3::splat(500.0))),
            "around"
        );
    }
}
