// Many cameras in one pass: every car's copy of the world is drawn with that car's camera,
// its image mapped into the car's tile of the atlas, and clipped to the tile by the camera's
// own frustum sides (clip distances) instead of the atlas's. Shading as in sim_material.wgsl,
// with the surface colour per vertex.

enable clip_distances;

#import bevy_pbr::forward_io::Vertex
#import bevy_pbr::mesh_functions::{get_world_from_local, mesh_position_local_to_world, mesh_normal_local_to_world}

struct TileView {
    // The car camera's projection × view.
    clip_from_world: mat4x4<f32>,
    // Its image into the tile, in clip space: x' = x·a + c·w, y' = y·b + d·w for (a, b, c, d).
    tile_map: vec4<f32>,
    // The camera's position, world space.
    camera: vec4<f32>,
    // Unit vector towards the sun, world space.
    sun_direction: vec4<f32>,
    // x: sun intensity, y: ambient intensity.
    light: vec4<f32>,
    // Linear RGB.
    fog_colour: vec4<f32>,
    // x: start (m), y: end (m), z: 1 when fog is on.
    fog: vec4<f32>,
}

@group(#{MATERIAL_BIND_GROUP}) @binding(0) var<uniform> view: TileView;

struct TileVertexOutput {
    @builtin(position) position: vec4<f32>,
    @builtin(clip_distances) clip_distances: array<f32, 4>,
    @location(0) world_position: vec3<f32>,
    @location(1) world_normal: vec3<f32>,
    // Linear RGB reflectance.
    @location(2) albedo: vec3<f32>,
}

// What the fragment stage reads of it (clip distances are the vertex stage's only).
struct TileFragmentInput {
    @location(0) world_position: vec3<f32>,
    @location(1) world_normal: vec3<f32>,
    @location(2) albedo: vec3<f32>,
}

@vertex
fn vertex(vertex: Vertex) -> TileVertexOutput {
    let world_from_local = get_world_from_local(vertex.instance_index);
    let world = mesh_position_local_to_world(world_from_local, vec4<f32>(vertex.position, 1.0));
    var out: TileVertexOutput;
    let clip = view.clip_from_world * world;
    let m = view.tile_map;
    out.position = vec4<f32>(clip.x * m.x + m.z * clip.w, clip.y * m.y + m.w * clip.w, clip.z, clip.w);
    out.clip_distances = array<f32, 4>(clip.w + clip.x, clip.w - clip.x, clip.w + clip.y, clip.w - clip.y);
    out.world_position = world.xyz;
    out.world_normal = mesh_normal_local_to_world(vertex.normal, vertex.instance_index);
    out.albedo = vertex.color.rgb;
    return out;
}

@fragment
fn fragment(in: TileFragmentInput) -> @location(0) vec4<f32> {
    let lambert = max(dot(normalize(in.world_normal), view.sun_direction.xyz), 0.0);
    var colour = in.albedo * (view.light.y + view.light.x * lambert);
    if view.fog.z > 0.5 {
        let d = distance(in.world_position, view.camera.xyz);
        let f = clamp((d - view.fog.x) / (view.fog.y - view.fog.x), 0.0, 1.0);
        colour = mix(colour, view.fog_colour.rgb, f);
    }
    return vec4<f32>(colour, 1.0);
}
