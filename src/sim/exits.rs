//! The exits of the junction a car is about to take, and the curvature the expert would steer
//! toward each: the label of every route the car could be on. A network that is not told the
//! route (an unrouted map, or none) sees one of these chosen at random at each junction, so its
//! answer there is their mixture, one mode per exit (Amini et al. 2019).

use crate::sim::math::Vec2;
use crate::sim::network::{LaneKind, Network};
use crate::sim::pursuit::{ExpertConfig, pursuit_curvature};
use crate::sim::route_path::{ExitLabel, RoutePath, RoutePosition};
use crate::sim::vehicle::VehicleState;

/// How far before a turn path a car is deciding which exit to take: a little more than the
/// expert's look-ahead at town speeds (3 m + 0.3 s × 10 m/s), metres.
pub const DECISION_ZONE_M: f64 = 8.0;
/// How far into its turn path a car still could take another exit, metres.
pub const COMMIT_M: f64 = 4.0;

/// The exits from the car's lane at `route` on `path` (one per turn path the lane leads into)
/// with the default expert's pure-pursuit curvature from `car` toward each; empty away from a
/// junction: further than [`DECISION_ZONE_M`] before the route's next turn path, or more than
/// [`COMMIT_M`] into it.
pub fn exit_labels(
    network: &Network,
    path: &RoutePath,
    route: &RoutePosition,
    car: &VehicleState,
) -> Vec<ExitLabel> {
    let lanes = &path.route.lanes;
    let n = lanes.len();
    // The lane into the junction, and how far the car is past the start of the turn paths
    // (negative before them).
    let (incoming, past_m) = if route.in_junction {
        let into = network.lanes[route.lane].path.distance(car.position).1;
        if into > COMMIT_M {
            return Vec::new();
        }
        (lanes[(route.route_index + n - 1) % n], into)
    } else if route.distance_to_junction_m <= DECISION_ZONE_M {
        match path.next_turn(network, route.route_index) {
            Some((t, _)) => (lanes[(t + n - 1) % n], -route.distance_to_junction_m),
            None => return Vec::new(),
        }
    } else {
        return Vec::new();
    };
    let lookahead = ExpertConfig::default().lookahead_m(car.speed_m_s);
    network.lanes[incoming]
        .next
        .iter()
        .filter_map(|&exit| match network.lanes[exit].kind {
            LaneKind::Turn { turn, .. } => {
                let target = point_along(network, incoming, exit, past_m + lookahead);
                Some(ExitLabel {
                    turn,
                    curvature_per_m: pursuit_curvature(car, target),
                })
            }
            LaneKind::Road { .. } => None,
        })
        .collect()
}

/// The point `s_m` along turn lane `exit` (negative: back along `incoming`, the lane into it;
/// beyond its end: on the lane after it).
fn point_along(network: &Network, incoming: usize, exit: usize, s_m: f64) -> Vec2 {
    let turn = &network.lanes[exit].path;
    if s_m < 0.0 {
        let before = &network.lanes[incoming].path;
        return before.at((before.length_m() + s_m).max(0.0)).0;
    }
    let over = s_m - turn.length_m();
    match network.lanes[exit].next.first() {
        Some(&next) if over > 0.0 => network.lanes[next].path.at(over).0,
        _ => turn.at(s_m.min(turn.length_m())).0,
    }
}
