//! Lanes of a network: each road's lanes, and the turn paths that join them through every
//! junction and dead end.

use super::polyline::{Polyline, Pose, quintic};
use super::spec::{NodeKind, Turn};
use super::types::{Junction, Lane, LaneKind, Road};
use crate::sim::math::{Vec2, wrap_angle};

/// Radius of the loop cars drive round a dead end's turning circle, metres.
pub(super) const U_TURN_RADIUS_M: f64 = 6.0;

/// The end pose of a lane path (position, heading and curvature over its last metres).
pub(super) fn end_pose(path: &Polyline) -> Pose {
    let (position, heading) = path.at(path.length_m());
    Pose {
        position,
        heading,
        curvature_per_m: path.curvature(path.length_m(), 3.0),
    }
}

pub(super) fn start_pose(path: &Polyline) -> Pose {
    let (position, heading) = path.at(0.0);
    Pose {
        position,
        heading,
        curvature_per_m: path.curvature(0.0, 3.0),
    }
}

/// Road lanes, then the turn paths through every junction and dead end, linked.
pub(super) fn lanes(
    roads: &[Road],
    junctions: &[Junction],
    lane_width_m: f64,
    reach: &[f64],
) -> Vec<Lane> {
    let mut lanes = Vec::new();
    for (r, road) in roads.iter().enumerate() {
        for forward in [true, false] {
            let centre = if forward {
                road.centre.clone()
            } else {
                road.centre.reversed()
            };
            for index in 0..road.lanes {
                lanes.push(Lane {
                    kind: LaneKind::Road {
                        road: r,
                        forward,
                        index,
                    },
                    path: centre.offset(-(index as f64 + 0.5) * lane_width_m),
                    next: Vec::new(),
                });
            }
        }
    }
    let road_lanes = lanes.len();
    // Lanes ending / starting at each junction.
    let ends_at = |l: &Lane, j: usize| match l.kind {
        LaneKind::Road { road, forward, .. } => {
            (if forward {
                roads[road].to
            } else {
                roads[road].from
            }) == j
        }
        _ => false,
    };
    let starts_at = |l: &Lane, j: usize| match l.kind {
        LaneKind::Road { road, forward, .. } => {
            (if forward {
                roads[road].from
            } else {
                roads[road].to
            }) == j
        }
        _ => false,
    };
    for (j, junction) in junctions.iter().enumerate() {
        let incoming: Vec<usize> = (0..road_lanes).filter(|&i| ends_at(&lanes[i], j)).collect();
        let outgoing: Vec<usize> = (0..road_lanes)
            .filter(|&i| starts_at(&lanes[i], j))
            .collect();
        for &i in &incoming {
            let LaneKind::Road {
                road: ri,
                index: ki,
                ..
            } = lanes[i].kind
            else {
                continue;
            };
            // Which outgoing lanes lane `i` may turn into: left from the inner lane into the
            // inner lane, right from the outer into the outer, straight on into the same lane;
            // a lane the rules leave without a way on may take any road into its own lane.
            let rule = |o: usize, strict: bool| {
                let LaneKind::Road {
                    road: ro,
                    index: ko,
                    ..
                } = lanes[o].kind
                else {
                    return false;
                };
                if junction.kind == NodeKind::DeadEnd {
                    return ko == ki.min(roads[ro].lanes - 1);
                }
                if ri == ro {
                    return false;
                }
                let (a, b) = (end_pose(&lanes[i].path), start_pose(&lanes[o].path));
                let (ni, no) = (roads[ri].lanes, roads[ro].lanes);
                match Turn::of(wrap_angle(b.heading - a.heading)) {
                    _ if !strict => ko == ki.min(no - 1),
                    Turn::Left => ki == 0 && ko == 0,
                    Turn::Right => ki == ni - 1 && ko == no - 1,
                    Turn::Straight => ko == ki.min(no - 1) && (ki < no || ki == ni - 1),
                    Turn::UTurn => false,
                }
            };
            let strict = outgoing.iter().any(|&o| rule(o, true));
            let allowed: Vec<usize> = outgoing
                .iter()
                .copied()
                .filter(|&o| rule(o, strict))
                .collect();
            for o in allowed {
                let (a, b) = (end_pose(&lanes[i].path), start_pose(&lanes[o].path));
                let path = if junction.kind == NodeKind::DeadEnd {
                    // The loop's far side leaves room for a car body inside the circle.
                    let depth = reach[j] - 3.5 - U_TURN_RADIUS_M;
                    u_turn(
                        a,
                        b,
                        junction.position + Vec2::from_heading(a.heading) * depth,
                    )
                } else {
                    quintic(a, b, 1.0, 0.25)
                };
                let turn = if junction.kind == NodeKind::DeadEnd {
                    Turn::UTurn
                } else {
                    Turn::of(wrap_angle(b.heading - a.heading))
                };
                let id = lanes.len();
                lanes.push(Lane {
                    kind: LaneKind::Turn { junction: j, turn },
                    path,
                    next: vec![o],
                });
                lanes[i].next.push(id);
            }
        }
    }
    lanes
}

/// A U-turn round a dead end: from the lane in, onto a loop of [`U_TURN_RADIUS_M`] round
/// `centre` (turning left), round to its far side and back into the lane out.
pub(super) fn u_turn(a: Pose, b: Pose, centre: Vec2) -> Polyline {
    let radius = U_TURN_RADIUS_M;
    let dir = Vec2::from_heading(a.heading);
    let right = -dir.perp();
    let on = Pose {
        position: centre + right * radius,
        heading: a.heading,
        curvature_per_m: 1.0 / radius,
    };
    let off = Pose {
        position: centre - right * radius,
        heading: a.heading + std::f64::consts::PI,
        curvature_per_m: 1.0 / radius,
    };
    let mut pts: Vec<Vec2> = quintic(a, on, 1.0, 0.25).points().to_vec();
    let steps = ((std::f64::consts::PI * radius) / 0.25).ceil() as usize;
    for k in 1..steps {
        let phi = std::f64::consts::PI * k as f64 / steps as f64;
        pts.push(centre + (right * phi.cos() + dir * phi.sin()) * radius);
    }
    pts.extend_from_slice(quintic(off, b, 1.0, 0.25).points());
    Polyline::new(pts)
}
