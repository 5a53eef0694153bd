//! Pinhole projection of the hood camera, shared by the renderer (to place the Bevy camera)
//! and by code that needs to know where a world point lands in the frame (labels, tests).

use crate::sim::math::Vec2;
use crate::sim::scenario::CameraRig;
use crate::sim::vehicle::VehicleState;

/// Where the camera is and where it looks, in sim coordinates plus height.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CameraPose {
    pub ground: Vec2,
    pub height_m: f64,
    /// Yaw, radians counter-clockwise from east.
    pub yaw: f64,
    /// Pitch, radians (negative looks down).
    pub pitch: f64,
}

impl CameraRig {
    /// Vertical field of view, radians, from the horizontal one and the aspect ratio.
    pub fn vertical_fov_rad(&self) -> f64 {
        let half_h = (self.horizontal_fov_deg.to_radians() / 2.0).tan();
        2.0 * (half_h * self.height_px as f64 / self.width_px as f64).atan()
    }

    /// The camera pose of a car at `vehicle`.
    pub fn pose(&self, vehicle: &VehicleState) -> CameraPose {
        CameraPose {
            ground: vehicle.position + Vec2::from_heading(vehicle.heading) * self.mount_forward_m,
            height_m: self.mount_height_m,
            yaw: vehicle.heading + self.yaw_deg.to_radians(),
            pitch: self.pitch_deg.to_radians(),
        }
    }

    /// Pixel coordinates (x right, y down; pixel centres at +0.5) of a ground point at
    /// `height_m`, or `None` when it is behind the camera.
    pub fn project(&self, pose: &CameraPose, point: Vec2, height_m: f64) -> Option<(f64, f64)> {
        let (sy, cy) = pose.yaw.sin_cos();
        let (sp, cp) = pose.pitch.sin_cos();
        let rel = [
            point.x - pose.ground.x,
            point.y - pose.ground.y,
            height_m - pose.height_m,
        ];
        let forward = [cp * cy, cp * sy, sp];
        let right = [sy, -cy, 0.0];
        let up = [-sp * cy, -sp * sy, cp];
        let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
        let z = dot(rel, forward);
        if z <= 1e-6 {
            return None;
        }
        let fx = (self.width_px as f64 / 2.0) / (self.horizontal_fov_deg.to_radians() / 2.0).tan();
        let fy = (self.height_px as f64 / 2.0) / (self.vertical_fov_rad() / 2.0).tan();
        Some((
            self.width_px as f64 / 2.0 + fx * dot(rel, right) / z,
            self.height_px as f64 / 2.0 - fy * dot(rel, up) / z,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn straight_ahead_is_the_centre_column_and_horizon_follows_pitch() {
        let rig = CameraRig {
            pitch_deg: 0.0,
            ..CameraRig::default()
        };
        let pose = rig.pose(&VehicleState::default());
        let (x, y) = rig
            .project(&pose, Vec2::new(1000.0, 0.0), rig.mount_height_m)
            .unwrap();
        assert!((x - 100.0).abs() < 1e-9 && (y - 33.0).abs() < 1e-9);
        // A point on the left appears left of centre; the ground appears below the horizon.
        let (xl, yl) = rig.project(&pose, Vec2::new(20.0, 5.0), 0.0).unwrap();
        assert!(xl < 100.0 && yl > 33.0);
        assert!(rig.project(&pose, Vec2::new(-5.0, 0.0), 0.0).is_none());
    }

    #[test]
    fn a_camera_yawed_left_sees_the_road_ahead_right_of_centre() {
        let rig = CameraRig {
            yaw_deg: 5.0,
            pitch_deg: 0.0,
            ..CameraRig::default()
        };
        let pose = rig.pose(&VehicleState::default());
        let (x, _) = rig
            .project(&pose, Vec2::new(1000.0, 0.0), rig.mount_height_m)
            .unwrap();
        let fx = 100.0 / (45f64).to_radians().tan();
        assert!(
            (x - (100.0 + fx * 5f64.to_radians().tan())).abs() < 1e-6,
            "{x}"
        );
    }
}
