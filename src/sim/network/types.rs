//! The parts of a built network: roads, junctions and lanes.

use super::polyline::Polyline;
use super::spec::{NodeKind, Turn};
use crate::sim::math::Vec2;

/// A built two-way road between the surfaces of its two nodes.
#[derive(Clone, Debug)]
pub struct Road {
    /// Centreline from `from` to `to`, trimmed to the junction surfaces.
    pub centre: Polyline,
    /// Lanes in each direction.
    pub lanes: u32,
    pub half_width_m: f64,
    pub from: usize,
    pub to: usize,
}

/// A built junction or dead end.
#[derive(Clone, Debug)]
pub struct Junction {
    pub name: String,
    pub position: Vec2,
    pub kind: NodeKind,
    /// Roads that end here.
    pub roads: Vec<usize>,
    /// The paved surface: a convex polygon, counter-clockwise.
    pub outline: Vec<Vec2>,
}

/// What a lane is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaneKind {
    /// Lane `index` (0 next to the centre line) of `road`, in its direction (`forward`: from
    /// its `from` node to its `to` node) or against it.
    Road {
        road: usize,
        forward: bool,
        index: u32,
    },
    /// A turn path through `junction`.
    Turn { junction: usize, turn: Turn },
}

/// A lane: a path cars follow, and the lanes it leads into.
#[derive(Clone, Debug)]
pub struct Lane {
    pub kind: LaneKind,
    pub path: Polyline,
    pub next: Vec<usize>,
}
