// Diffuse sunlight plus ambient light and linear distance fog: the whole shading model of the
// driving world. Small on purpose: on a CPU renderer the fragment shader is the frame rate.

#import bevy_pbr::forward_io::VertexOutput
#import bevy_pbr::mesh_view_bindings::view

struct SimMaterialParams {
    // Linear RGB reflectance.
    albedo: vec4<f32>,
    // Unit vector towards the sun, world space.
    sun_direction: vec4<f32>,
    // x: sun intensity, y: ambient intensity.
    light: vec4<f32>,
    // Linear RGB.
    fog_colour: vec4<f32>,
    // x: start (m), y: end (m), z: 1 when fog is on.
    fog: vec4<f32>,
}

@group(#{MATERIAL_BIND_GROUP}) @binding(0) var<uniform> material: SimMaterialParams;

@fragment
fn fragment(in: VertexOutput) -> @location(0) vec4<f32> {
    let lambert = max(dot(normalize(in.world_normal), material.sun_direction.xyz), 0.0);
    var colour = material.albedo.rgb * (material.light.y + material.light.x * lambert);
    if material.fog.z > 0.5 {
        let d = distance(in.world_position.xyz, view.world_position);
        let f = clamp((d - material.fog.x) / (material.fog.y - material.fog.x), 0.0, 1.0);
        colour = mix(colour, material.fog_colour.rgb, f);
    }
    return vec4<f32>(colour, 1.0);
}
