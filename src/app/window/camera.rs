//! The chase camera and its rig: behind and above the car, looking a little ahead of it, eased
//! so that it does not jerk. The mouse wheel zooms it, dragging with the right button turns it
//! around the car, Home puts it back behind.

use super::schedule::WindowSystems;
use crate::world::scene::{AgentCar, CAR_LAYER, WORLD_LAYER};
use bevy::camera::visibility::RenderLayers;
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll};
use bevy::prelude::*;

#[derive(Component)]
struct ChaseCamera;

/// Where the chase camera sits: distance behind the car (zoomed with the wheel) and an angle
/// around it (dragged with the right button); Home in a live window puts it back.
#[derive(Resource, Clone, Copy, Debug, PartialEq)]
struct ChaseRig {
    distance_m: f32,
    yaw_rad: f32,
}

impl Default for ChaseRig {
    fn default() -> Self {
        Self {
            distance_m: 9.0,
            yaw_rad: 0.0,
        }
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<ChaseRig>();
    app.add_systems(Startup, spawn_camera);
    app.add_systems(
        Update,
        (
            orbit.in_set(WindowSystems::Input),
            follow_car.in_set(WindowSystems::Camera),
        ),
    );
}

fn spawn_camera(mut commands: Commands) {
    commands.spawn((
        Camera3d::default(),
        Camera {
            order: 0,
            ..default()
        },
        Projection::Perspective(PerspectiveProjection {
            fov: 55f32.to_radians(),
            near: 0.1,
            far: 1500.0,
            ..default()
        }),
        Tonemapping::None,
        Msaa::Off,
        // Cars have a layer of their own, which hood cameras leave out; this one is there to
        // see the car.
        RenderLayers::from_layers(&[WORLD_LAYER, CAR_LAYER]),
        Transform::from_xyz(0.0, 5.0, 10.0).looking_at(Vec3::ZERO, Vec3::Y),
        ChaseCamera,
    ));
}

fn orbit(
    scroll: Res<AccumulatedMouseScroll>,
    motion: Res<AccumulatedMouseMotion>,
    buttons: Res<ButtonInput<MouseButton>>,
    keys: Res<ButtonInput<KeyCode>>,
    mut rig: ResMut<ChaseRig>,
) {
    if scroll.delta.y != 0.0 {
        rig.distance_m = (rig.distance_m * 0.9f32.powf(scroll.delta.y)).clamp(3.0, 60.0);
    }
    if buttons.pressed(MouseButton::Right) {
        rig.yaw_rad -= motion.delta.x * 0.006;
    }
    if keys.just_pressed(KeyCode::Home) {
        *rig = ChaseRig::default();
    }
}

/// Behind and above the car (or where the mouse turned it), looking a little ahead of it.
fn follow_car(
    rig: Res<ChaseRig>,
    time: Res<Time>,
    cars: Query<&Transform, (With<AgentCar>, Without<ChaseCamera>)>,
    mut cameras: Query<&mut Transform, With<ChaseCamera>>,
) {
    let Some(car_at) = cars.iter().next() else {
        return;
    };
    let forward = car_at.rotation * Vec3::X;
    let back = Quat::from_rotation_y(rig.yaw_rad) * -forward;
    let eye = car_at.translation + back * rig.distance_m + Vec3::Y * (0.4 * rig.distance_m);
    let ahead = rig.distance_m * 0.6 * rig.yaw_rad.cos().max(0.0);
    let target = car_at.translation + forward * ahead + Vec3::Y * 0.8;
    // Eased towards the eye, except from far away (another world, a reset): jumped there.
    let ease = 1.0 - (-time.delta_secs() * 6.0).exp();
    for mut t in &mut cameras {
        let far = t.translation.distance(eye) > 3.0 * rig.distance_m + 10.0;
        t.translation = if far {
            eye
        } else {
            t.translation.lerp(eye, ease)
        };
        t.look_at(target, Vec3::Y);
    }
}
