// The shading of sim_material.wgsl (diffuse sunlight, ambient light, linear distance fog) with
// its own vertex stage, for the wgpu-only measurement in raw.rs.

struct View {
    clip_from_world: mat4x4<f32>,
    position: vec4<f32>,
}

struct Object {
    world_from_local: mat4x4<f32>,
    albedo: vec4<f32>,
    sun_direction: vec4<f32>,
    light: vec4<f32>,
    fog_colour: vec4<f32>,
    fog: vec4<f32>,
}

@group(0) @binding(0) var<uniform> view: View;
@group(1) @binding(0) var<uniform> object: Object;

struct VertexOutput {
    @builtin(position) clip: vec4<f32>,
    @location(0) world_position: vec3<f32>,
    @location(1) world_normal: vec3<f32>,
}

@vertex
fn vertex(@location(0) position: vec3<f32>, @location(1) normal: vec3<f32>) -> VertexOutput {
    let world = object.world_from_local * vec4<f32>(position, 1.0);
    var out: VertexOutput;
    out.clip = view.clip_from_world * world;
    out.world_position = world.xyz;
    out.world_normal = (object.world_from_local * vec4<f32>(normal, 0.0)).xyz;
    return out;
}

@fragment
fn fragment(in: VertexOutput) -> @location(0) vec4<f32> {
    let lambert = max(dot(normalize(in.world_normal), object.sun_direction.xyz), 0.0);
    var colour = object.albedo.rgb * (object.light.y + object.light.x * lambert);
    if object.fog.z > 0.5 {
        let d = distance(in.world_position, view.position.xyz);
        let f = clamp((d - object.fog.x) / (object.fog.y - object.fog.x), 0.0, 1.0);
        colour = mix(colour, object.fog_colour.rgb, f);
    }
    return vec4<f32>(colour, 1.0);
}
