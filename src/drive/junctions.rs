//! Navigation at junctions: whether the car leaves each junction of its route on the route's
//! road (the success at intersections of Codevilla et al. 2018), counted by manoeuvre.
//!
//! A passage starts when the car enters a junction's turn path and ends [`EXIT_CHECK_M`] after
//! it. It succeeds when the car stayed on its route lane all the way (no wheel of its centre
//! more than half a lane from the route's path, no intervention) and failed otherwise: a wrong
//! exit puts the car on another road, away from the route, within those metres.

use crate::sim::network::Turn;
use crate::sim::traffic::RoutePosition;
use serde::{Deserialize, Serialize};

/// How far past the turn path the car must still be on the route, metres.
pub const EXIT_CHECK_M: f64 = 15.0;

/// Passages and successes of one manoeuvre.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passages {
    pub attempts: u32,
    pub successes: u32,
}

impl Passages {
    pub fn success_pct(&self) -> Option<f64> {
        (self.attempts > 0).then(|| 100.0 * self.successes as f64 / self.attempts as f64)
    }

    fn add(&mut self, other: Passages) {
        self.attempts += other.attempts;
        self.successes += other.successes;
    }
}

/// Junction passages of a drive (or several), by manoeuvre.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JunctionStats {
    pub left: Passages,
    pub straight: Passages,
    pub right: Passages,
    pub u_turn: Passages,
}

impl JunctionStats {
    fn of(&mut self, turn: Turn) -> &mut Passages {
        match turn {
            Turn::Left => &mut self.left,
            Turn::Straight => &mut self.straight,
            Turn::Right => &mut self.right,
            Turn::UTurn => &mut self.u_turn,
        }
    }

    /// Every manoeuvre together.
    pub fn all(&self) -> Passages {
        let mut all = Passages::default();
        for p in [self.left, self.straight, self.right, self.u_turn] {
            all.add(p);
        }
        all
    }

    pub fn merge(&mut self, other: &JunctionStats) {
        self.left.add(other.left);
        self.straight.add(other.straight);
        self.right.add(other.right);
        self.u_turn.add(other.u_turn);
    }

    /// The manoeuvres with passages, named: (name, passages).
    pub fn rows(&self) -> Vec<(&'static str, Passages)> {
        [
            ("left", self.left),
            ("straight", self.straight),
            ("right", self.right),
            ("u-turn", self.u_turn),
        ]
        .into_iter()
        .filter(|(_, p)| p.attempts > 0)
        .collect()
    }
}

#[derive(Clone, Debug)]
struct Passage {
    junction: String,
    turn: Turn,
    failed: bool,
    /// Metres driven since the turn path ended (`None` while on it).
    after_m: Option<f64>,
}

/// Follows a drive tick by tick and counts its junction passages.
#[derive(Clone, Debug, Default)]
pub struct JunctionTally {
    current: Option<Passage>,
    stats: JunctionStats,
}

impl JunctionTally {
    /// One tick: where the car is on its route, the metres it moved, and whether it was off
    /// its route lane or taken over by the safety driver.
    pub fn tick(&mut self, route: &RoutePosition, moved_m: f64, off_route: bool) {
        if route.in_junction {
            let same = self
                .current
                .as_ref()
                .is_some_and(|p| p.junction == route.junction && p.after_m.is_none());
            if !same {
                self.close();
                self.current = Some(Passage {
                    junction: route.junction.clone(),
                    turn: route.turn,
                    failed: false,
                    after_m: None,
                });
            }
        } else if let Some(p) = self.current.as_mut() {
            *p.after_m.get_or_insert(0.0) += moved_m;
        }
        if let Some(p) = self.current.as_mut() {
            p.failed |= off_route;
            if p.after_m.is_some_and(|m| m >= EXIT_CHECK_M) {
                self.close();
            }
        }
    }

    /// The drive ended (`crashed`: by a crash, which fails a passage under way). A passage
    /// the drive's end cut short counts only when it had already failed.
    pub fn finish(mut self, crashed: bool) -> JunctionStats {
        if let Some(p) = self.current.as_mut()
            && (crashed || p.failed)
        {
            p.failed = true;
            self.close();
        }
        self.stats
    }

    fn close(&mut self) {
        if let Some(p) = self.current.take() {
            let passages = self.stats.of(p.turn);
            passages.attempts += 1;
            passages.successes += u32::from(!p.failed);
        }
    }
}
