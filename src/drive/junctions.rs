//! Navigation at junctions: whether the car leaves each junction of its route on the route's
//! road (the success at intersections of Codevilla et al. 2018), counted by manoeuvre.
//!
//! A passage starts when the car enters a junction's turn path and ends [`EXIT_CHECK_M`] after
//! it. It succeeds when the car stayed on its route lane all the way (no wheel of its centre
//! more than half a lane from the route's path, no intervention) and failed otherwise: a wrong
//! exit puts the car on another road, away from the route, within those metres. Where a
//! failed passage first left the route is kept as a share of its turn path's length (over 100 %:
//! past the path, within the exit check).

use crate::nn::SteeringDistribution;
use crate::sim::network::Turn;
use crate::sim::route_path::RoutePosition;
use serde::{Deserialize, Serialize};

/// How far past the turn path the car must still be on the route, metres.
pub const EXIT_CHECK_M: f64 = 15.0;

/// Passages and successes of one manoeuvre.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passages {
    pub attempts: u32,
    pub successes: u32,
    /// The failed passages' points of first leaving the route (or crashing), each in percent of
    /// its turn path's length, summed (absent in older files).
    #[serde(default)]
    pub failed_at_pct_sum: u32,
}

impl Passages {
    pub fn success_pct(&self) -> Option<f64> {
        (self.attempts > 0).then(|| 100.0 * self.successes as f64 / self.attempts as f64)
    }

    /// Where the failed passages first left the route on average, in percent of the turn
    /// path's length from its start.
    pub fn failed_at_pct(&self) -> Option<f64> {
        let failures = self.attempts - self.successes;
        (failures > 0).then(|| self.failed_at_pct_sum as f64 / failures as f64)
    }

    fn add(&mut self, other: Passages) {
        self.attempts += other.attempts;
        self.successes += other.successes;
        self.failed_at_pct_sum += other.failed_at_pct_sum;
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
    /// Metres driven on the turn path.
    path_m: f64,
    /// Metres driven since the turn path ended (`None` while on it).
    after_m: Option<f64>,
    /// Metres from the path's start to where the car first left the route (or crashed): the
    /// passage failed.
    failed_at_m: Option<f64>,
}

impl Passage {
    /// Metres driven since the turn path began.
    fn metres(&self) -> f64 {
        self.path_m + self.after_m.unwrap_or(0.0)
    }
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
                    path_m: 0.0,
                    after_m: None,
                    failed_at_m: None,
                });
            } else if let Some(p) = self.current.as_mut() {
                p.path_m += moved_m;
            }
        } else if let Some(p) = self.current.as_mut() {
            *p.after_m.get_or_insert(0.0) += moved_m;
        }
        if let Some(p) = self.current.as_mut() {
            if off_route && p.failed_at_m.is_none() {
                p.failed_at_m = Some(p.metres());
            }
            if p.after_m.is_some_and(|m| m >= EXIT_CHECK_M) {
                self.close();
            }
        }
    }

    /// The drive ended (`crashed`: by a crash, which fails a passage under way). A passage
    /// the drive's end cut short counts only when it had already failed.
    pub fn finish(mut self, crashed: bool) -> JunctionStats {
        if let Some(p) = self.current.as_mut()
            && (crashed || p.failed_at_m.is_some())
        {
            p.failed_at_m = p.failed_at_m.or(Some(p.metres()));
            self.close();
        }
        self.stats
    }

    fn close(&mut self) {
        if let Some(p) = self.current.take() {
            let passages = self.stats.of(p.turn);
            passages.attempts += 1;
            match p.failed_at_m {
                None => passages.successes += 1,
                Some(m) => {
                    let pct = 100.0 * m / p.path_m.max(1e-6);
                    passages.failed_at_pct_sum += pct.round().clamp(0.0, 10_000.0) as u32;
                }
            }
        }
    }
}

/// Mixture components below this weight are not counted as modes.
pub const MODE_WEIGHT: f64 = 0.1;

/// What the policy's mixture said as the car entered a junction's turn path, beside the
/// curvatures of the exits it could have taken from its lane (Amini et al. 2019's
/// multimodality: with an unrouted map, one mode per exit).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JunctionEntry {
    pub junction: String,
    /// The route's manoeuvre here.
    pub turn: Turn,
    /// Each exit from the car's lane: its manoeuvre and the curvature the expert would steer
    /// from the car's pose to take it, 1/m.
    pub exits: Vec<(Turn, f64)>,
    /// The mixture: (weight, mean, standard deviation) per component.
    pub components: Vec<(f64, f64, f64)>,
}

impl JunctionEntry {
    /// The car at `route` on the first tick of a turn path, and the policy's `distribution`
    /// there (`None` when its lane leads into no turn path). Each exit's curvature is the
    /// expert's pure-pursuit label toward that exit from the car's pose (`route.exits`): what
    /// the label would have been had the route taken it, the answer a mode of the mixture
    /// should sit on (a car already turning one way needs more to take the other exit than the
    /// turn path's own bend).
    pub fn at(route: &RoutePosition, distribution: &SteeringDistribution) -> Option<JunctionEntry> {
        (!route.exits.is_empty()).then(|| JunctionEntry {
            junction: route.junction.clone(),
            turn: route.turn,
            exits: route
                .exits
                .iter()
                .map(|e| (e.turn, e.curvature_per_m))
                .collect(),
            components: distribution
                .components()
                .iter()
                .map(|c| (c.weight, c.mean, c.std_dev))
                .collect(),
        })
    }

    /// The mixture's modes: the local maxima of its density reached by climbing from the mean of
    /// every component carrying at least [`MODE_WEIGHT`] (the fixed-point iteration of
    /// Carreira-Perpiñán 2000 for Gaussian mixtures), maxima closer than a tenth of a standard
    /// deviation being one. Each mode as (curvature, standard deviation of the heaviest
    /// component that climbed to it), sorted by curvature. Two components whose density has no
    /// dip between them are one mode, however their weights and widths differ.
    pub fn mode_list(&self) -> Vec<(f64, f64)> {
        let density_step = |x: f64| -> f64 {
            // x ← Σ r_k μ_k / σ_k² / Σ r_k / σ_k², r_k ∝ w_k N(x; μ_k, σ_k).
            let (mut num, mut den) = (0.0, 0.0);
            for &(w, m, s) in &self.components {
                let r = w / s * (-0.5 * ((x - m) / s).powi(2)).exp();
                num += r * m / (s * s);
                den += r / (s * s);
            }
            if den > 0.0 { num / den } else { x }
        };
        // Per mode: curvature, weight and standard deviation of its heaviest member.
        let mut modes: Vec<(f64, f64, f64)> = Vec::new();
        for &(w, m, s) in self.components.iter().filter(|c| c.0 >= MODE_WEIGHT) {
            let mut x = m;
            for _ in 0..500 {
                let next = density_step(x);
                let done = (next - x).abs() < 1e-7 * s;
                x = next;
                if done {
                    break;
                }
            }
            match modes
                .iter_mut()
                .find(|q| (q.0 - x).abs() < 0.1 * s.min(q.2))
            {
                Some(q) if w > q.1 => *q = (q.0, w, s),
                Some(_) => {}
                None => modes.push((x, w, s)),
            }
        }
        modes.sort_by(|a, b| a.0.total_cmp(&b.0));
        modes.iter().map(|&(x, _, s)| (x, s)).collect()
    }

    /// How many modes the mixture has (see [`JunctionEntry::mode_list`]).
    pub fn modes(&self) -> usize {
        self.mode_list().len()
    }

    /// Whether the mixture carries one mode per exit: as many modes as the lane has exits, and
    /// each exit's nearest mode its own (no two exits share one). A single broad mode spanning
    /// several exits, a missing mode, or a mode on a road that is not there does not count.
    pub fn one_mode_per_exit(&self) -> bool {
        self.exit_modes(|_, _| true)
    }

    /// [`JunctionEntry::one_mode_per_exit`], and each exit within two of its mode's standard
    /// deviations: the modes sit on the exits as precisely as the mixture claims.
    pub fn modes_on_exits(&self) -> bool {
        self.exit_modes(|distance, (_, s)| distance <= 2.0 * s)
    }

    fn exit_modes(&self, near: impl Fn(f64, (f64, f64)) -> bool) -> bool {
        let modes = self.mode_list();
        if modes.len() != self.exits.len() {
            return false;
        }
        let mut used = vec![false; modes.len()];
        self.exits.iter().all(|&(_, k)| {
            let nearest = modes
                .iter()
                .enumerate()
                .min_by(|a, b| (k - a.1.0).abs().total_cmp(&(k - b.1.0).abs()));
            match nearest {
                Some((i, &mode)) if !used[i] && near((k - mode.0).abs(), mode) => {
                    used[i] = true;
                    true
                }
                _ => false,
            }
        })
    }

    /// The mixture's probability within ±2σ of each exit's curvature (σ: the components'
    /// weighted mean standard deviation).
    pub fn mass_near_exits(&self) -> Vec<f64> {
        let sigma: f64 = self.components.iter().map(|c| c.0 * c.2).sum();
        self.exits
            .iter()
            .map(|&(_, k)| {
                self.components
                    .iter()
                    .map(|&(w, m, s)| {
                        w * (normal_cdf((k + 2.0 * sigma - m) / s)
                            - normal_cdf((k - 2.0 * sigma - m) / s))
                    })
                    .sum()
            })
            .collect()
    }
}

fn normal_cdf(z: f64) -> f64 {
    crate::nn::models::distribution::standard_normal_cdf(z)
}

/// A markdown summary of junction entries: by number of exits, how many entries, the mean
/// number of modes, and the share with one mode per exit.
pub fn entries_summary(entries: &[&JunctionEntry]) -> String {
    if entries.is_empty() {
        return String::new();
    }
    let mut t = String::from(
        "\nJunction entries: the policy's mixture on entering a turn path (modes: maxima of its \
         density climbed to from components of weight ≥ 10 %; one mode per exit: as many modes as \
         exits, each exit nearest a mode of its own)\n\n| exits | entries | mean modes | one mode \
         per exit | … each exit within 2σ of its mode | mass within ±2σ of each exit |\n\
         |---|---|---|---|---|---|\n",
    );
    for exits in 1..=4 {
        let of: Vec<&&JunctionEntry> = entries.iter().filter(|e| e.exits.len() == exits).collect();
        if of.is_empty() {
            continue;
        }
        let n = of.len() as f64;
        let modes = of.iter().map(|e| e.modes() as f64).sum::<f64>() / n;
        let one = of.iter().filter(|e| e.one_mode_per_exit()).count() as f64 / n;
        let on = of.iter().filter(|e| e.modes_on_exits()).count() as f64 / n;
        let mass: Vec<f64> = of.iter().flat_map(|e| e.mass_near_exits()).collect();
        let mean_mass = mass.iter().sum::<f64>() / mass.len().max(1) as f64;
        t.push_str(&format!(
            "| {exits} | {} | {modes:.2} | {:.0} % | {:.0} % | {:.2} |\n",
            of.len(),
            one * 100.0,
            on * 100.0,
            mean_mass
        ));
    }
    t
}
