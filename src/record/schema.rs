//! Topics, message types and schemas of an episode file.
//!
//! Camera frames are `sensor_msgs/msg/CompressedImage` (ROS 2 message, CDR encoding, PNG
//! payload) so Foxglove and the `mcap` CLI show them as images; every other topic is JSON
//! with a JSON Schema, so its fields can be plotted directly.

use crate::sim::AgentState;
use crate::sim::vehicle::Action;
use serde::{Deserialize, Serialize};

/// Version of the layout below; readers refuse files of a newer major version.
pub const SCHEMA_VERSION: &str = "1";

pub const TOPIC_IMAGE: &str = "/camera/image";
pub const TOPIC_FRAME_INFO: &str = "/camera/info";
pub const TOPIC_ACTION: &str = "/action";
pub const TOPIC_EXPERT_ACTION: &str = "/expert_action";
pub const TOPIC_STATE: &str = "/state";
pub const TOPIC_DRIVER: &str = "/driver";
pub const TOPIC_DISTRIBUTION: &str = "/policy/distribution";
/// A policy's Gaussian mixture over target speed (m/s), when it set the speed.
pub const TOPIC_SPEED_DISTRIBUTION: &str = "/policy/speed_distribution";
pub const TOPIC_OBJECTS: &str = "/labels/objects";
pub const TOPIC_CLASS_MASK: &str = "/labels/class_mask";
pub const TOPIC_ROUTE: &str = "/route";
pub const TOPIC_TRAFFIC: &str = "/traffic";
/// The map patch the navigation network reads (PNG: red paved, green the route ahead) and the
/// believed pose it was cut at.
pub const TOPIC_MAP_IMAGE: &str = "/map/image";
pub const TOPIC_MAP_POSE: &str = "/map/pose";
/// What the car's odometry measured over the tick before: wheel speed, distance, heading change.
pub const TOPIC_ODOMETRY: &str = "/odometry";

/// Name of the metadata record that describes the episode.
pub const METADATA_NAME: &str = "steerlab.episode";

/// An action with the tick it was applied at (the transition from `tick` to `tick + 1`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionMsg {
    pub tick: u64,
    pub curvature_per_m: f64,
    pub speed_m_s: f64,
    /// On `/expert_action`: the expert's target speed, a speed policy's label
    /// ([`crate::sim::Expert::labels`]); absent in files recorded before it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_speed_m_s: Option<f64>,
}

impl ActionMsg {
    pub fn new(tick: u64, a: Action) -> Self {
        Self {
            tick,
            curvature_per_m: a.curvature_per_m,
            speed_m_s: a.speed_m_s,
            target_speed_m_s: None,
        }
    }

    /// The expert's label with its target speed.
    pub fn expert(tick: u64, a: Action, target_speed_m_s: f64) -> Self {
        Self {
            target_speed_m_s: Some(target_speed_m_s),
            ..Self::new(tick, a)
        }
    }

    pub fn action(&self) -> Action {
        Action::new(self.curvature_per_m, self.speed_m_s)
    }
}

/// Vehicle and track state at a tick.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateMsg {
    pub tick: u64,
    pub x_m: f64,
    pub y_m: f64,
    pub heading_rad: f64,
    pub speed_m_s: f64,
    pub steer_rad: f64,
    pub s_m: f64,
    pub lateral_offset_m: f64,
    pub heading_error_rad: f64,
    pub distance_m: f64,
    pub off_road: bool,
}

impl From<&AgentState> for StateMsg {
    fn from(s: &AgentState) -> Self {
        Self {
            tick: s.tick,
            x_m: s.vehicle.position.x,
            y_m: s.vehicle.position.y,
            heading_rad: s.vehicle.heading,
            speed_m_s: s.vehicle.speed_m_s,
            steer_rad: s.vehicle.steer_rad,
            s_m: s.s_m,
            lateral_offset_m: s.lateral_offset_m,
            heading_error_rad: s.heading_error_rad,
            distance_m: s.stats.distance_m,
            off_road: s.stats.off_road,
        }
    }
}

/// What the car's wheel-speed sensors and gyro measured over the tick that led to `tick`, with
/// their errors ([`crate::sim::odometry::Odometry`]); absent in files recorded before it was.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OdometryMsg {
    pub tick: u64,
    /// The wheel speed, m/s: what a speedometer shows.
    pub speed_m_s: f64,
    pub distance_m: f64,
    pub heading_change_rad: f64,
}

impl OdometryMsg {
    pub fn new(tick: u64, r: &crate::sim::odometry::OdometryReading) -> Self {
        Self {
            tick,
            speed_m_s: r.speed_m_s,
            distance_m: r.distance_m,
            heading_change_rad: r.heading_change_rad,
        }
    }
}

/// The pose a map patch was cut at: the GPS fix (the true pose without GPS noise), or dead
/// reckoning in a dropout; the route progress the navigation system tracked from it and the
/// command it gave (absent in files recorded before they were).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapPoseMsg {
    pub tick: u64,
    pub x_m: f64,
    pub y_m: f64,
    pub heading_rad: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_m: Option<f64>,
    /// `Follow`, `Left`, `Straight` or `Right`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<crate::sim::map_input::Command>,
    /// `false` during a dropout of the fix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix_available: Option<bool>,
}

/// Where the car is on its route through a town, at a tick.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouteMsg {
    pub tick: u64,
    /// The network lane, and its index in the route.
    pub lane: usize,
    pub route_index: usize,
    /// The junction the car is in or comes to next, the manoeuvre there (`Left`, `Straight`,
    /// `Right`, `UTurn`), and how far ahead its turn path begins (0 inside it).
    pub junction: String,
    pub turn: String,
    pub distance_to_junction_m: f64,
    pub in_junction: bool,
    /// Near a junction, every exit from the car's lane with the expert's curvature toward it.
    #[serde(default)]
    pub exits: Vec<crate::sim::route_path::ExitLabel>,
}

impl RouteMsg {
    /// The route's manoeuvre at the junction the car is in or comes to next.
    pub fn manoeuvre(&self) -> crate::sim::network::Turn {
        use crate::sim::network::Turn;
        match self.turn.as_str() {
            "Left" => Turn::Left,
            "Right" => Turn::Right,
            "UTurn" => Turn::UTurn,
            _ => Turn::Straight,
        }
    }

    /// The navigation command a driver at this place is given.
    pub fn command(&self) -> crate::sim::map_input::Command {
        crate::sim::map_input::Command::from_route(
            self.manoeuvre(),
            self.distance_to_junction_m,
            self.in_junction,
        )
    }

    pub fn new(tick: u64, p: &crate::sim::route_path::RoutePosition) -> Self {
        Self {
            tick,
            lane: p.lane,
            route_index: p.route_index,
            junction: p.junction.clone(),
            turn: format!("{:?}", p.turn),
            distance_to_junction_m: if p.distance_to_junction_m.is_finite() {
                p.distance_to_junction_m
            } else {
                -1.0
            },
            in_junction: p.in_junction,
            exits: p.exits.clone(),
        }
    }
}

/// The traffic cars of a town at a tick (so that a replay shows them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrafficMsg {
    pub tick: u64,
    pub cars: Vec<TrafficCarMsg>,
}

/// One traffic car: rear-axle position, heading and speed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrafficCarMsg {
    pub x_m: f64,
    pub y_m: f64,
    pub heading_rad: f64,
    pub speed_m_s: f64,
}

impl TrafficMsg {
    /// `None` without traffic.
    pub fn new(tick: u64, cars: &[crate::sim::VehicleState]) -> Option<Self> {
        (!cars.is_empty()).then(|| Self {
            tick,
            cars: cars
                .iter()
                .map(|c| TrafficCarMsg {
                    x_m: c.position.x,
                    y_m: c.position.y,
                    heading_rad: c.heading,
                    speed_m_s: c.speed_m_s,
                })
                .collect(),
        })
    }

    /// The cars as vehicle states (steering unknown: straight).
    pub fn states(&self) -> Vec<crate::sim::VehicleState> {
        self.cars
            .iter()
            .map(|c| crate::sim::VehicleState {
                position: crate::sim::Vec2::new(c.x_m, c.y_m),
                heading: c.heading_rad,
                speed_m_s: c.speed_m_s,
                steer_rad: 0.0,
            })
            .collect()
    }
}

/// Which driver chose the action of a tick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverMsg {
    pub tick: u64,
    /// `expert`, `policy`, `keyboard` or `replay`.
    pub driver: String,
    /// The fingerprint of the policy's model ([`crate::nn::Model::fingerprint`]) when a
    /// policy drove.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// A policy's Gaussian mixture at a tick: over curvature (1/m) on `/policy/distribution`,
/// over target speed (m/s) on `/policy/speed_distribution`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DistributionMsg {
    pub tick: u64,
    pub weights: Vec<f64>,
    pub means: Vec<f64>,
    pub std_devs: Vec<f64>,
}

/// Size and content hash of the frame of a tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameInfoMsg {
    pub tick: u64,
    pub width: u32,
    pub height: u32,
    /// FNV-1a of the RGB pixels (`Frame::content_hash`).
    pub content_hash: u64,
}

/// A visible object of a label frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectMsg {
    /// Instance id, stable over the episode.
    pub id: u16,
    pub class: String,
    /// Box in pixels, `[x0, x1) × [y0, y1)`.
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
    /// Visible pixels.
    pub pixels: u32,
}

/// The visible objects of a tick's frame, and the names of the class-mask values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectsMsg {
    pub tick: u64,
    pub width: u32,
    pub height: u32,
    /// Class name of each value of `/labels/class_mask`.
    pub classes: Vec<String>,
    pub objects: Vec<ObjectMsg>,
}

/// JSON Schema of each JSON topic.
pub fn json_schema(topic: &str) -> Option<(&'static str, &'static str)> {
    const MAP_POSE: &str = r#"{"type":"object","title":"steerlab.MapPose","properties":{"tick":{"type":"integer"},"x_m":{"type":"number"},"y_m":{"type":"number"},"heading_rad":{"type":"number"},"progress_m":{"type":"number"},"command":{"type":"string","enum":["Follow","Left","Straight","Right"]},"fix_available":{"type":"boolean"}},"required":["tick","x_m","y_m","heading_rad"]}"#;
    const ODOMETRY: &str = r#"{"type":"object","title":"steerlab.Odometry","properties":{"tick":{"type":"integer"},"speed_m_s":{"type":"number"},"distance_m":{"type":"number"},"heading_change_rad":{"type":"number"}},"required":["tick","speed_m_s","distance_m","heading_change_rad"]}"#;
    const ACTION: &str = r#"{"type":"object","title":"steerlab.Action","properties":{"tick":{"type":"integer"},"curvature_per_m":{"type":"number"},"speed_m_s":{"type":"number"},"target_speed_m_s":{"type":"number"}},"required":["tick","curvature_per_m","speed_m_s"]}"#;
    const ROUTE: &str = r#"{"type":"object","title":"steerlab.Route","properties":{"tick":{"type":"integer"},"lane":{"type":"integer"},"route_index":{"type":"integer"},"junction":{"type":"string"},"turn":{"type":"string","enum":["Left","Straight","Right","UTurn"]},"distance_to_junction_m":{"type":"number"},"in_junction":{"type":"boolean"},"exits":{"type":"array","items":{"type":"object","properties":{"turn":{"type":"string","enum":["Left","Straight","Right","UTurn"]},"curvature_per_m":{"type":"number"}},"required":["turn","curvature_per_m"]}}},"required":["tick","lane","route_index","junction","turn","distance_to_junction_m","in_junction"]}"#;
    const TRAFFIC: &str = r#"{"type":"object","title":"steerlab.Traffic","properties":{"tick":{"type":"integer"},"cars":{"type":"array","items":{"type":"object","properties":{"x_m":{"type":"number"},"y_m":{"type":"number"},"heading_rad":{"type":"number"},"speed_m_s":{"type":"number"}},"required":["x_m","y_m","heading_rad","speed_m_s"]}}},"required":["tick","cars"]}"#;
    const STATE: &str = r#"{"type":"object","title":"steerlab.State","properties":{"tick":{"type":"integer"},"x_m":{"type":"number"},"y_m":{"type":"number"},"heading_rad":{"type":"number"},"speed_m_s":{"type":"number"},"steer_rad":{"type":"number"},"s_m":{"type":"number"},"lateral_offset_m":{"type":"number"},"heading_error_rad":{"type":"number"},"distance_m":{"type":"number"},"off_road":{"type":"boolean"}},"required":["tick","x_m","y_m","heading_rad","speed_m_s","steer_rad","s_m","lateral_offset_m","heading_error_rad","distance_m","off_road"]}"#;
    const DRIVER: &str = r#"{"type":"object","title":"steerlab.Driver","properties":{"tick":{"type":"integer"},"driver":{"type":"string","enum":["expert","policy","keyboard","replay"]},"model":{"type":"string"}},"required":["tick","driver"]}"#;
    const DISTRIBUTION: &str = r#"{"type":"object","title":"steerlab.SteeringDistribution","properties":{"tick":{"type":"integer"},"weights":{"type":"array","items":{"type":"number"}},"means":{"type":"array","items":{"type":"number"}},"std_devs":{"type":"array","items":{"type":"number"}}},"required":["tick","weights","means","std_devs"]}"#;
    const SPEED_DISTRIBUTION: &str = r#"{"type":"object","title":"steerlab.SpeedDistribution","properties":{"tick":{"type":"integer"},"weights":{"type":"array","items":{"type":"number"}},"means":{"type":"array","items":{"type":"number"}},"std_devs":{"type":"array","items":{"type":"number"}}},"required":["tick","weights","means","std_devs"]}"#;
    const FRAME_INFO: &str = r#"{"type":"object","title":"steerlab.FrameInfo","properties":{"tick":{"type":"integer"},"width":{"type":"integer"},"height":{"type":"integer"},"content_hash":{"type":"integer"}},"required":["tick","width","height","content_hash"]}"#;
    const OBJECTS: &str = r#"{"type":"object","title":"steerlab.Objects","properties":{"tick":{"type":"integer"},"width":{"type":"integer"},"height":{"type":"integer"},"classes":{"type":"array","items":{"type":"string"}},"objects":{"type":"array","items":{"type":"object","properties":{"id":{"type":"integer"},"class":{"type":"string"},"x0":{"type":"integer"},"y0":{"type":"integer"},"x1":{"type":"integer"},"y1":{"type":"integer"},"pixels":{"type":"integer"}},"required":["id","class","x0","y0","x1","y1","pixels"]}}},"required":["tick","width","height","classes","objects"]}"#;
    match topic {
        TOPIC_OBJECTS => Some(("steerlab.Objects", OBJECTS)),
        TOPIC_ACTION | TOPIC_EXPERT_ACTION => Some(("steerlab.Action", ACTION)),
        TOPIC_STATE => Some(("steerlab.State", STATE)),
        TOPIC_DRIVER => Some(("steerlab.Driver", DRIVER)),
        TOPIC_DISTRIBUTION => Some(("steerlab.SteeringDistribution", DISTRIBUTION)),
        TOPIC_SPEED_DISTRIBUTION => Some(("steerlab.SpeedDistribution", SPEED_DISTRIBUTION)),
        TOPIC_FRAME_INFO => Some(("steerlab.FrameInfo", FRAME_INFO)),
        TOPIC_ROUTE => Some(("steerlab.Route", ROUTE)),
        TOPIC_TRAFFIC => Some(("steerlab.Traffic", TRAFFIC)),
        TOPIC_MAP_POSE => Some(("steerlab.MapPose", MAP_POSE)),
        TOPIC_ODOMETRY => Some(("steerlab.Odometry", ODOMETRY)),
        _ => None,
    }
}

/// ROS 2 definition of `sensor_msgs/msg/CompressedImage` with its dependencies.
pub const COMPRESSED_IMAGE_NAME: &str = "sensor_msgs/msg/CompressedImage";
pub const COMPRESSED_IMAGE_DEFINITION: &str = "std_msgs/Header header\nstring format\nuint8[] data\n\
================================================================================\n\
MSG: std_msgs/Header\nbuiltin_interfaces/Time stamp\nstring frame_id\n\
================================================================================\n\
MSG: builtin_interfaces/Time\nint32 sec\nuint32 nanosec\n";

/// Little-endian CDR writer (XCDR1, as ROS 2 uses), alignment relative to the body.
struct Cdr(Vec<u8>);

impl Cdr {
    fn new() -> Self {
        Cdr(vec![0x00, 0x01, 0x00, 0x00])
    }
    fn align(&mut self, n: usize) {
        while !(self.0.len() - 4).is_multiple_of(n) {
            self.0.push(0);
        }
    }
    fn u32(&mut self, v: u32) {
        self.align(4);
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn string(&mut self, s: &str) {
        self.u32(s.len() as u32 + 1);
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
}

/// Encodes a `CompressedImage` holding `png` at time `time_ns`.
pub fn encode_compressed_image(time_ns: u64, png: &[u8]) -> Vec<u8> {
    let mut c = Cdr::new();
    c.u32((time_ns / 1_000_000_000) as u32);
    c.u32((time_ns % 1_000_000_000) as u32);
    c.string("camera");
    c.string("png");
    c.bytes(png);
    c.0
}

/// The image bytes and format of a CDR `CompressedImage`, or `None` if malformed.
pub fn decode_compressed_image(cdr: &[u8]) -> Option<(&[u8], &str)> {
    if cdr.len() < 4 || cdr[1] != 0x01 {
        return None;
    }
    let body = &cdr[4..];
    let mut pos = 0usize;
    let u32_at = |pos: &mut usize| -> Option<u32> {
        *pos = (*pos).div_ceil(4) * 4;
        let v = u32::from_le_bytes(body.get(*pos..*pos + 4)?.try_into().ok()?);
        *pos += 4;
        Some(v)
    };
    u32_at(&mut pos)?;
    u32_at(&mut pos)?;
    let frame_id_len = u32_at(&mut pos)? as usize;
    pos = pos.checked_add(frame_id_len)?;
    let format_len = u32_at(&mut pos)? as usize;
    let format_bytes = body.get(pos..pos.checked_add(format_len)?.checked_sub(1)?)?;
    let format = std::str::from_utf8(format_bytes).ok()?;
    pos += format_len;
    let data_len = u32_at(&mut pos)? as usize;
    let data = body.get(pos..pos.checked_add(data_len)?)?;
    Some((data, format))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_image_round_trips() {
        let png = [137u8, 80, 78, 71, 1, 2, 3];
        let cdr = encode_compressed_image(3_500_000_000, &png);
        assert_eq!(decode_compressed_image(&cdr), Some((&png[..], "png")));
        // Every shorter message lacks some of its image: malformed, never a shorter image.
        for cut in 0..cdr.len() {
            assert_eq!(decode_compressed_image(&cdr[..cut]), None, "cut at {cut}");
        }
    }
}
