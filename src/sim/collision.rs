//! Crashes: the car's body footprint leaving the paved road or touching a prop.
//!
//! The body is the rectangle `vehicle.length_m × vehicle.width_m` centred half a wheelbase
//! ahead of the rear axle (where the window draws it). It has left the paved area as soon as
//! one of its corners lies further from the centreline than half the road width (a wheel is
//! off the tarmac). Props are rectangles on the ground (their trunk, post or body: what a car
//! bumper would touch), tested against the body with the separating-axis theorem. This is the
//! crash of VISTA's evaluation (Amini et al. 2020): the episode ends at the first one when no
//! safety driver is present (`eval --free`).

use crate::sim::math::Vec2;
use crate::sim::scenario::{Placement, PropKind, Scenario};
use crate::sim::track::Track;
use crate::sim::vehicle::VehicleState;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What the car hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Crash {
    /// A corner of the body left the paved road.
    OffRoad,
    /// The body touches a prop of this kind.
    Prop(PropKind),
    /// The body touches another car of the traffic.
    Car,
}

impl std::fmt::Display for Crash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Crash::OffRoad => write!(f, "off road"),
            Crash::Prop(kind) => write!(f, "hit {kind:?}"),
            Crash::Car => write!(f, "hit a car"),
        }
    }
}

/// A rectangle on the ground: centre, heading of its length axis, half sizes (metres).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub centre: Vec2,
    pub heading: f64,
    pub half_length: f64,
    pub half_width: f64,
}

impl Rect {
    /// The four corners, counter-clockwise from front left.
    pub fn corners(&self) -> [Vec2; 4] {
        let along = Vec2::from_heading(self.heading);
        let (l, w) = (along * self.half_length, along.perp() * self.half_width);
        let c = self.centre;
        [c + l + w, c - l + w, c - l - w, c + l - w]
    }

    /// Radius of the circle around the centre that holds the rectangle.
    pub fn reach(&self) -> f64 {
        self.half_length.hypot(self.half_width)
    }

    /// Whether the two rectangles overlap (touching counts), by separating axes: two convex
    /// shapes are apart exactly when their projections on one of the four edge normals are.
    pub fn overlaps(&self, other: &Rect) -> bool {
        if self.centre.distance(other.centre) > self.reach() + other.reach() {
            return false;
        }
        let (a, b) = (self.corners(), other.corners());
        let axes = [
            Vec2::from_heading(self.heading),
            Vec2::from_heading(self.heading).perp(),
            Vec2::from_heading(other.heading),
            Vec2::from_heading(other.heading).perp(),
        ];
        axes.iter().all(|axis| {
            let span = |corners: &[Vec2; 4]| {
                corners
                    .iter()
                    .map(|c| c.dot(*axis))
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                        (lo.min(v), hi.max(v))
                    })
            };
            let ((a0, a1), (b0, b1)) = (span(&a), span(&b));
            a0 <= b1 && b0 <= a1
        })
    }
}

impl PropKind {
    /// Ground footprint (length along the prop's heading, width), metres: the base of a cone,
    /// a barrier, a parked car's body, a tree's trunk, a sign's post, a pedestrian. The meshes
    /// in `world::meshes` are built to these sizes.
    pub fn footprint_m(self) -> (f64, f64) {
        match self {
            PropKind::Cone => (0.44, 0.44),
            PropKind::Barrier => (3.0, 0.4),
            PropKind::ParkedCar => (4.3, 1.8),
            PropKind::Tree => (0.36, 0.36),
            PropKind::Sign => (0.1, 0.1),
            PropKind::Pedestrian => (0.5, 0.5),
        }
    }
}

/// A prop where the scenario puts it: ground position and heading (radians).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlacedProp {
    pub kind: PropKind,
    pub position: Vec2,
    pub heading: f64,
}

impl PlacedProp {
    pub fn footprint(&self) -> Rect {
        let (length, width) = self.kind.footprint_m();
        Rect {
            centre: self.position,
            heading: self.heading,
            half_length: length / 2.0,
            half_width: width / 2.0,
        }
    }
}

impl Scenario {
    /// Every prop instance (repeats expanded) placed on `track`: track placements face the
    /// direction of travel, then turn by `yaw_deg`.
    pub fn placed_props(&self, track: &Track) -> Vec<PlacedProp> {
        let mut placed = Vec::with_capacity(self.expanded_prop_count());
        for prop in &self.props {
            let count = prop.repeat.as_ref().map_or(1, |r| r.count);
            let spacing = prop.repeat.as_ref().map_or(0.0, |r| r.spacing_m);
            for k in 0..count {
                let (position, heading) = match prop.at {
                    Placement::Track { s_m, offset_m } => {
                        let s = s_m + k as f64 * spacing;
                        (track.offset_point(s, offset_m), track.at(s).heading)
                    }
                    Placement::Absolute { x, y } => (Vec2::new(x, y), 0.0),
                };
                placed.push(PlacedProp {
                    kind: prop.kind,
                    position,
                    heading: heading + prop.yaw_deg.to_radians(),
                });
            }
        }
        placed
    }

    /// The buildings of this scenario's town `network`, kept off its placed `props`: no
    /// building stands within half a metre of a prop's footprint.
    pub fn place_buildings(
        &self,
        network: &crate::sim::network::Network,
        props: &[PlacedProp],
    ) -> Vec<crate::sim::network::buildings::Building> {
        let props: Vec<(Vec2, f64)> = props
            .iter()
            .map(|p| {
                let (length, width) = p.kind.footprint_m();
                (p.position, length.hypot(width) / 2.0 + 0.5)
            })
            .collect();
        crate::sim::network::buildings::place(network, &self.buildings, &props)
    }
}

/// Side of the grid cells props are filed in, metres.
const CELL_M: f64 = 8.0;

/// The props of a world filed by grid cell, and the body and road of its cars.
#[derive(Clone, Debug)]
pub struct CrashCheck {
    cells: HashMap<(i64, i64), Vec<(PropKind, Rect)>>,
    /// Largest prop reach, metres (how far a touching prop's centre can be from the body).
    prop_reach: f64,
    body_length_m: f64,
    body_width_m: f64,
    wheelbase_m: f64,
    road_half_width_m: f64,
    /// The paved area of a road network (roads and junctions); `None` on a loop, where the
    /// road is the band round the track.
    network: Option<std::sync::Arc<crate::sim::network::Network>>,
}

fn cell(p: Vec2) -> (i64, i64) {
    ((p.x / CELL_M).floor() as i64, (p.y / CELL_M).floor() as i64)
}

impl CrashCheck {
    /// The checks of `scenario` on `track`; in a town, `network` is its road network (built
    /// once, by the simulation).
    pub fn new(
        scenario: &Scenario,
        props: &[PlacedProp],
        network: Option<std::sync::Arc<crate::sim::network::Network>>,
    ) -> Self {
        let mut cells: HashMap<(i64, i64), Vec<(PropKind, Rect)>> = HashMap::new();
        let mut prop_reach: f64 = 0.0;
        for prop in props {
            let rect = prop.footprint();
            prop_reach = prop_reach.max(rect.reach());
            cells
                .entry(cell(prop.position))
                .or_default()
                .push((prop.kind, rect));
        }
        let v = &scenario.vehicle;
        Self {
            cells,
            prop_reach,
            body_length_m: v.length_m,
            body_width_m: v.width_m,
            wheelbase_m: v.wheelbase_m,
            road_half_width_m: scenario.road.width_m / 2.0,
            network,
        }
    }

    /// The car body of a vehicle in `state`.
    pub fn body(&self, state: &VehicleState) -> Rect {
        Rect {
            centre: state.body_centre(self.wheelbase_m),
            heading: state.heading,
            half_length: self.body_length_m / 2.0,
            half_width: self.body_width_m / 2.0,
        }
    }

    /// The crash of a car in `state` (near arc length `s_hint` of `track`), if any: a prop
    /// touched comes before leaving the road.
    pub fn check(&self, track: &Track, state: &VehicleState, s_hint: f64) -> Option<Crash> {
        let body = self.body(state);
        if !self.cells.is_empty() {
            let reach = body.reach() + self.prop_reach;
            let (lo, hi) = (
                cell(body.centre - Vec2::new(reach, reach)),
                cell(body.centre + Vec2::new(reach, reach)),
            );
            for cx in lo.0..=hi.0 {
                for cy in lo.1..=hi.1 {
                    for (kind, rect) in self.cells.get(&(cx, cy)).into_iter().flatten() {
                        if body.overlaps(rect) {
                            return Some(Crash::Prop(*kind));
                        }
                    }
                }
            }
        }
        if let Some(network) = &self.network {
            return body
                .corners()
                .iter()
                .any(|c| !network.is_paved(*c))
                .then_some(Crash::OffRoad);
        }
        let road_width = 2.0 * self.road_half_width_m;
        body.corners()
            .iter()
            .any(|c| {
                track
                    .project_near(*c, s_hint, road_width)
                    .lateral_offset_m
                    .abs()
                    > self.road_half_width_m
            })
            .then_some(Crash::OffRoad)
    }
}
