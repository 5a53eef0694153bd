//! The junction rule of traffic (see the `traffic` module): who is let into each junction.
//! Cars join a junction's queue within [`APPROACH_M`] of its turn path; cars on one approach
//! keep their order on the road; a car is let in once its exit lane has room and its turn path
//! does not conflict with one in use or claimed by a car that asked before it.

use crate::sim::math::Vec2;
use crate::sim::network::{LaneKind, Network};
use crate::sim::route_path::RoutePath;
use std::collections::HashMap;

/// A car asks for its next junction this far before its turn path, metres.
pub const APPROACH_M: f64 = 30.0;
/// A car that holds a junction and moves faster than this keeps it even when its exit
/// fills up (it may be too close to stop), m/s.
const HOLD_SPEED_M_S: f64 = 0.5;
/// Two turn paths whose centrelines come closer than a car's width and this conflict, metres.
const CONFLICT_MARGIN_M: f64 = 1.0;

/// For every turn path: the turn paths of the same junction it conflicts with (centrelines
/// closer than `clearance_m` somewhere, which includes two paths from one lane or into one),
/// each with how far along this path a car must be to have left the conflict (the last
/// conflicting point plus `length_m`), metres.
fn conflicting_turns(
    network: &Network,
    clearance_m: f64,
    length_m: f64,
) -> HashMap<usize, Vec<(usize, f64)>> {
    let mut by_junction: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, lane) in network.lanes.iter().enumerate() {
        if let LaneKind::Turn { junction, .. } = lane.kind {
            by_junction.entry(junction).or_default().push(i);
        }
    }
    // Points about a metre apart along each path, with their arc length.
    let sampled = |lane: usize| -> Vec<(f64, Vec2)> {
        let path = &network.lanes[lane].path;
        let n = (path.length_m().ceil() as usize).max(1);
        (0..=n)
            .map(|k| {
                let s = path.length_m() * k as f64 / n as f64;
                (s, path.at(s).0)
            })
            .collect()
    };
    // The last point of `a` near `b`, as arc length along `a`.
    let last_near = |a: &[(f64, Vec2)], b: &[(f64, Vec2)]| {
        a.iter()
            .rev()
            .find(|(_, p)| b.iter().any(|(_, q)| p.distance(*q) < clearance_m))
            .map(|(s, _)| *s)
    };
    let mut conflicts: HashMap<usize, Vec<(usize, f64)>> = HashMap::new();
    let mut junctions: Vec<_> = by_junction.into_iter().collect();
    junctions.sort();
    for (_, lanes) in junctions {
        let points: Vec<Vec<(f64, Vec2)>> = lanes.iter().map(|&l| sampled(l)).collect();
        for a in 0..lanes.len() {
            for b in 0..lanes.len() {
                if a != b
                    && let Some(s) = last_near(&points[a], &points[b])
                {
                    conflicts
                        .entry(lanes[a])
                        .or_default()
                        .push((lanes[b], s + length_m));
                }
            }
        }
    }
    conflicts
}

/// How a participant comes to the junction it is in or approaches.
#[derive(Clone, Copy, Debug)]
struct Approach {
    junction: usize,
    /// The turn path it takes through the junction.
    turn_lane: usize,
    /// The route lane before the junction's turn path.
    from_lane: usize,
    /// Distance to the turn path, metres (negative: that far into it).
    distance_m: f64,
    /// The lane after the turn path.
    exit_lane: usize,
}

/// Where a participant (an ego car or a traffic car) is, as the junction rule and the
/// leaders see it.
#[derive(Clone, Copy, Debug)]
pub(super) struct LanePlace {
    /// Route lane index and distance into it.
    pub(super) k: usize,
    pub(super) into_m: f64,
    pub(super) lane: usize,
    pub(super) speed: f64,
    /// The traffic car, or `None` for an ego car (on the ego route).
    pub(super) car: Option<usize>,
}

/// One tick's view of every participant: places, and who is on each lane.
pub(super) struct Snapshot {
    pub(super) places: Vec<LanePlace>,
    /// Lane → (participant, distance into the lane, speed).
    pub(super) on_lane: HashMap<usize, Vec<(usize, f64, f64)>>,
}

/// Who waits for and who is let into each junction. Participants are numbered ego cars first,
/// then traffic cars.
#[derive(Clone, Debug)]
pub(super) struct JunctionRule {
    /// Per junction: participants waiting or crossing, in the order they asked.
    pub(super) queues: Vec<Vec<usize>>,
    /// Per junction: the participants let into it.
    holders: Vec<Vec<usize>>,
    /// Per turn path: the other turn paths of its junction that come so near it that two
    /// cars on them could touch, or that lead into the same lane, each with how far along
    /// the path a car has left the conflict.
    conflicts: HashMap<usize, Vec<(usize, f64)>>,
}

impl JunctionRule {
    /// The rule for `network`'s junctions, for cars of `body` (length, width) metres.
    pub(super) fn new(network: &Network, body: (f64, f64)) -> JunctionRule {
        JunctionRule {
            queues: vec![Vec::new(); network.junctions.len()],
            holders: vec![Vec::new(); network.junctions.len()],
            conflicts: conflicting_turns(network, body.1 + CONFLICT_MARGIN_M, body.0),
        }
    }

    /// Empties every queue (a new episode).
    pub(super) fn clear(&mut self) {
        for q in &mut self.queues {
            q.clear();
        }
        for h in &mut self.holders {
            h.clear();
        }
    }

    /// Updates the junction queues (join on approach, leave once past the turn path) and who
    /// holds each junction.
    ///
    /// Cars on one approach keep their order on the road: the nearer one is always ahead of
    /// the one behind it in the queue, whoever asked first (a car cannot hold a junction it
    /// cannot reach). The junction goes to the first in the queue that is inside it, or else
    /// to the first that leads its approach and whose exit lane has room for it; a car that
    /// has it keeps it until it has crossed, unless it stands before the junction and its
    /// exit has filled up (then the next one that can go goes: a full exit does not lock the
    /// junction for everyone).
    ///
    /// `path_of` gives each participant's route; `room` is the length a car needs at the
    /// start of its exit lane, metres.
    pub(super) fn update<'a>(
        &mut self,
        network: &Network,
        snap: &Snapshot,
        path_of: &dyn Fn(&LanePlace) -> &'a RoutePath,
        room: f64,
    ) {
        // Per participant: the junction it is in or comes to next within the approach
        // distance, the lane it approaches it from, how far it is from the turn path
        // (negative inside), and the lane it leaves by.
        let mut next_of: Vec<Option<Approach>> = Vec::with_capacity(snap.places.len());
        for place in &snap.places {
            let path = path_of(place);
            let n = path.route.lanes.len();
            let lane_at = |k: usize| path.route.lanes[k % n];
            let next = match network.lanes[place.lane].kind {
                LaneKind::Turn { junction, .. } => Some(Approach {
                    junction,
                    turn_lane: place.lane,
                    from_lane: lane_at(place.k + n - 1),
                    distance_m: -place.into_m,
                    exit_lane: lane_at(place.k + 1),
                }),
                LaneKind::Road { .. } => path.next_turn(network, place.k).map(|(k, junction)| {
                    let s = path.lane_start_s[place.k] + place.into_m;
                    Approach {
                        junction,
                        turn_lane: lane_at(k),
                        from_lane: lane_at(k + n - 1),
                        distance_m: path.distance_to(s, k),
                        exit_lane: lane_at(k + 1),
                    }
                }),
            };
            next_of.push(next.filter(|a| a.distance_m <= APPROACH_M));
        }
        let junction_of = |who: usize| next_of.get(who).copied().flatten().map(|a| a.junction);
        for (j, q) in self.queues.iter_mut().enumerate() {
            q.retain(|&who| junction_of(who) == Some(j));
        }
        for (who, next) in next_of.iter().enumerate() {
            if let Some(a) = next
                && !self.queues[a.junction].contains(&who)
            {
                self.queues[a.junction].push(who);
            }
        }
        let exit_has_room = |who: usize, a: &Approach| {
            snap.on_lane
                .get(&a.exit_lane)
                .is_none_or(|cars| cars.iter().all(|&(o, into, _)| o == who || into > room))
        };
        for j in 0..self.queues.len() {
            let q = &mut self.queues[j];
            let approach = |who: usize| next_of[who].expect("queued participants approach");
            // Within each approach, order by distance to the turn path, in the places the
            // approach's participants already hold in the queue.
            let mut seen = Vec::new();
            for i in 0..q.len() {
                let from = approach(q[i]).from_lane;
                if seen.contains(&from) {
                    continue;
                }
                seen.push(from);
                let slots: Vec<usize> = (i..q.len())
                    .filter(|&k| approach(q[k]).from_lane == from)
                    .collect();
                let mut members: Vec<usize> = slots.iter().map(|&k| q[k]).collect();
                members.sort_by(|&a, &b| {
                    approach(a)
                        .distance_m
                        .total_cmp(&approach(b).distance_m)
                        .then(a.cmp(&b))
                });
                for (&k, who) in slots.iter().zip(members) {
                    q[k] = who;
                }
            }
            // Cars inside keep the junction, and so do cars that were let in and either
            // move (they may be too close to stop) or still have room at their exit.
            let holders = &self.holders[j];
            let mut granted: Vec<usize> = (q.iter().copied())
                .filter(|&who| {
                    let a = approach(who);
                    a.distance_m <= 0.0
                        || (holders.contains(&who)
                            && (snap.places[who].speed > HOLD_SPEED_M_S || exit_has_room(who, &a)))
                })
                .collect();
            // Turn paths in use or claimed: (path, how far along it the car is; −∞ before it).
            let mut reserved: Vec<(usize, f64)> = (granted.iter())
                .map(|&w| {
                    let a = approach(w);
                    let along = if a.distance_m < 0.0 {
                        -a.distance_m
                    } else {
                        f64::NEG_INFINITY
                    };
                    (a.turn_lane, along)
                })
                .collect();
            // A path conflicts with a claimed one until the car on that one has left the
            // stretch where the two come near each other.
            let conflicts = |lane: usize, reserved: &[(usize, f64)]| {
                reserved.iter().any(|&(r, along)| {
                    (self.conflicts.get(&r).into_iter().flatten())
                        .any(|&(other, clear_s)| other == lane && along < clear_s)
                })
            };
            for &who in q.iter() {
                let a = approach(who);
                // Only the first car on the road of each approach may be let in.
                let leads = q
                    .iter()
                    .find(|&&o| {
                        let b = approach(o);
                        b.from_lane == a.from_lane && b.distance_m > 0.0
                    })
                    .is_some_and(|&o| o == who);
                if granted.contains(&who) || !leads || !exit_has_room(who, &a) {
                    continue;
                }
                // First come, first served: a car that must wait keeps its path for itself, so
                // that later cars crossing it wait behind it.
                if !conflicts(a.turn_lane, &reserved) {
                    granted.push(who);
                }
                reserved.push((a.turn_lane, f64::NEG_INFINITY));
            }
            self.holders[j] = granted;
        }
    }

    /// Whether participant `who` may enter junction `j`: it was let in.
    pub(super) fn may_enter(&self, j: usize, who: usize) -> bool {
        self.holders[j].contains(&who)
    }
}
