//! A car's route as a path with arc length, and where on it a car is: the lane, the junction
//! it comes to next and the manoeuvre there, and every exit's label near a junction.

use crate::sim::network::route::Route;
use crate::sim::network::{LaneKind, Network, Turn};
use crate::sim::track::Track;
use serde::{Deserialize, Serialize};

/// A closed route with arc length, and where along it each of its lanes starts.
#[derive(Clone, Debug)]
pub struct RoutePath {
    pub route: Route,
    pub track: Track,
    /// Arc length (on `track`) where each route lane starts, plus the total at the end.
    pub(super) lane_start_s: Vec<f64>,
}

impl RoutePath {
    pub fn new(network: &Network, route: Route) -> Result<RoutePath, String> {
        let track = Track::from_samples(route.samples(network))?;
        let total: f64 = route.length_m(network);
        let scale = track.length_m() / total.max(1e-9);
        let mut lane_start_s = Vec::with_capacity(route.lanes.len() + 1);
        let mut s = 0.0;
        for &l in &route.lanes {
            lane_start_s.push(s * scale);
            s += network.lanes[l].path.length_m();
        }
        lane_start_s.push(track.length_m());
        Ok(RoutePath {
            route,
            track,
            lane_start_s,
        })
    }

    /// Arc length (on `track`) where each route lane starts, then the route's length.
    pub fn lane_starts(&self) -> &[f64] {
        &self.lane_start_s
    }

    /// The index in the route of the lane at arc length `s`, and how far into it `s` is.
    pub fn lane_at(&self, s: f64) -> (usize, f64) {
        let s = self.track.wrap_s(s);
        let k = match self.lane_start_s.binary_search_by(|v| v.total_cmp(&s)) {
            Ok(k) => k,
            Err(k) => k.saturating_sub(1),
        }
        .min(self.route.lanes.len() - 1);
        (k, s - self.lane_start_s[k])
    }

    /// Arc length from `s` forward to the start of route lane `k` (wrapping round the loop).
    pub(super) fn distance_to(&self, s: f64, k: usize) -> f64 {
        (self.lane_start_s[k] - self.track.wrap_s(s)).rem_euclid(self.track.length_m())
    }

    pub(super) fn lane_length(&self, k: usize) -> f64 {
        self.lane_start_s[k + 1] - self.lane_start_s[k]
    }

    /// Where arc length `s` is on the route: its lane and the junction it is in or comes to
    /// next, with the manoeuvre there.
    pub fn position(&self, network: &Network, s: f64) -> RoutePosition {
        let (k, into) = self.lane_at(s);
        let lane = self.route.lanes[k];
        let (junction, turn, distance, inside) = match network.lanes[lane].kind {
            LaneKind::Turn { junction, turn } => (junction, turn, 0.0, true),
            LaneKind::Road { .. } => match self.next_turn(network, k) {
                Some((t, junction)) => {
                    let LaneKind::Turn { turn, .. } = network.lanes[self.route.lanes[t]].kind
                    else {
                        unreachable!("next_turn finds turn paths")
                    };
                    (
                        junction,
                        turn,
                        self.distance_to(self.lane_start_s[k] + into, t),
                        false,
                    )
                }
                None => (0, Turn::Straight, f64::INFINITY, false),
            },
        };
        RoutePosition {
            lane,
            route_index: k,
            junction: network.junctions[junction].name.clone(),
            turn,
            distance_to_junction_m: distance,
            in_junction: inside,
            exits: Vec::new(),
        }
    }

    /// The next turn path at or after route lane `k`: (route index, junction).
    pub fn next_turn(&self, network: &Network, k: usize) -> Option<(usize, usize)> {
        let n = self.route.lanes.len();
        (0..n)
            .map(|d| (k + d) % n)
            .find_map(|i| match network.lanes[self.route.lanes[i]].kind {
                LaneKind::Turn { junction, .. } => Some((i, junction)),
                _ => None,
            })
    }
}

/// A car's place on its route: what `/route` records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoutePosition {
    /// The network lane it is on, and that lane's place in the route.
    pub lane: usize,
    pub route_index: usize,
    /// The junction it is in or comes to next, the manoeuvre there, and how far ahead its
    /// turn path begins (0 inside the junction).
    pub junction: String,
    pub turn: Turn,
    pub distance_to_junction_m: f64,
    pub in_junction: bool,
    /// Near a junction, every exit from the car's lane with the expert's curvature toward it
    /// (set by the simulation from the car's pose); empty elsewhere.
    #[serde(default)]
    pub exits: Vec<ExitLabel>,
}

/// One exit from a car's lane into a junction, and the expert's curvature toward it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExitLabel {
    pub turn: Turn,
    pub curvature_per_m: f64,
}
