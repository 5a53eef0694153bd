//! Buildings along a town's roads: boxes set back from the kerb in rows with gaps, none on or
//! near any paved surface, so that junction corners stay open. From the driver's seat they are
//! what marks a junction before its paint does: the rows end where a road crosses, and the gap
//! between them is the road a turn leads into.

use super::Network;
use crate::sim::math::{Vec2, fnv1a};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// How a town is built up beside its roads (`buildings` in a scenario file; tracks ignore it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Buildings {
    /// The share of lots along the roads that hold a building, 0 (open land) to 1.
    pub density: f64,
    /// Heights, metres: drawn log-uniformly between the two.
    pub height_m: (f64, f64),
    /// Distance from the road's edge to a building's front, metres.
    pub setback_m: (f64, f64),
    /// Seed of the layout (each seed places its own buildings on the same roads).
    pub seed: u64,
}

impl Default for Buildings {
    fn default() -> Self {
        Self {
            density: 0.8,
            height_m: (4.0, 16.0),
            setback_m: (2.5, 6.0),
            seed: 0,
        }
    }
}

impl Buildings {
    /// What is wrong with the ranges, each naming its field.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !(0.0..=1.0).contains(&self.density) {
            p.push(format!(
                "buildings.density: {} must be within 0..=1",
                self.density
            ));
        }
        for (name, (lo, hi), max) in [
            ("height_m", self.height_m, 200.0),
            ("setback_m", self.setback_m, 100.0),
        ] {
            if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi && hi <= max) {
                p.push(format!(
                    "buildings.{name}: ({lo}, {hi}) must be an increasing range within (0, {max}]"
                ));
            }
        }
        p
    }
}

/// Facade colours (sRGB): sandstone, brick, concrete, white render, slate blue, ochre, dark
/// brick, sage.
pub const FACADES: [[f64; 3]; 8] = [
    [0.78, 0.72, 0.60],
    [0.60, 0.34, 0.28],
    [0.55, 0.56, 0.58],
    [0.86, 0.85, 0.81],
    [0.42, 0.48, 0.56],
    [0.72, 0.56, 0.36],
    [0.36, 0.27, 0.25],
    [0.58, 0.64, 0.54],
];

/// One building: a box on the ground.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Building {
    /// Centre of its footprint.
    pub centre: Vec2,
    /// Direction of its front (along the road it faces), radians counter-clockwise from east.
    pub heading: f64,
    /// Along the road, across it, and up, metres.
    pub length_m: f64,
    pub depth_m: f64,
    pub height_m: f64,
    /// Index into [`FACADES`].
    pub facade: usize,
}

impl Building {
    /// The footprint's corners, counter-clockwise.
    pub fn corners(&self) -> [Vec2; 4] {
        let along = Vec2::from_heading(self.heading);
        let (a, c) = (
            along * (self.length_m / 2.0),
            along.perp() * (self.depth_m / 2.0),
        );
        [
            self.centre - a - c,
            self.centre + a - c,
            self.centre + a + c,
            self.centre - a + c,
        ]
    }

    /// The point `(u, v)` of the building's frame (u along its front, v across) in the world.
    fn point(&self, u: f64, v: f64) -> Vec2 {
        let along = Vec2::from_heading(self.heading);
        self.centre + along * u + along.perp() * v
    }
}

/// No building comes nearer than this to a paved surface, metres, unless its setback asks for
/// less (then nine tenths of its setback).
pub const CLEARANCE_M: f64 = 1.5;
/// Frontage of one lot and the gap before the next, metres.
const FRONTAGE_M: (f64, f64) = (8.0, 20.0);
const GAP_M: (f64, f64) = (1.0, 5.0);
/// The widest disc a prop keeps clear of buildings, metres.
const MAX_KEEP_CLEAR_M: f64 = 20.0;
const DEPTH_M: (f64, f64) = (8.0, 16.0);

/// The buildings of `network` as `spec` says: lots along both sides of every road, each built
/// on with probability `density`, kept where the footprint and [`CLEARANCE_M`] around it (less
/// for a smaller setback) touch no paved surface, no other building and none of the discs
/// `keep_clear` (centre, radius in metres: the scenario's props).
pub fn place(network: &Network, spec: &Buildings, keep_clear: &[(Vec2, f64)]) -> Vec<Building> {
    if spec.density <= 0.0 || !spec.problems().is_empty() {
        return Vec::new();
    }
    let mut rng = StdRng::seed_from_u64(fnv1a(&[
        b"buildings",
        &spec.seed.to_le_bytes(),
        &(network.roads.len() as u64).to_le_bytes(),
    ]));
    let mut occupied: HashSet<(i64, i64)> = HashSet::new();
    for &(centre, radius) in keep_clear {
        if !(centre.x.abs() < 1e7 && centre.y.abs() < 1e7) {
            continue;
        }
        let r = radius.clamp(0.0, MAX_KEEP_CLEAR_M).ceil() as i64 + 1;
        let (cx, cy) = (centre.x.floor() as i64, centre.y.floor() as i64);
        for x in cx - r..=cx + r {
            for y in cy - r..=cy + r {
                let cell = Vec2::new(x as f64 + 0.5, y as f64 + 0.5);
                if cell.distance(centre) <= radius + 1.0 {
                    occupied.insert((x, y));
                }
            }
        }
    }
    let mut placed = Vec::new();
    for road in &network.roads {
        let length = road.centre.length_m();
        for side in [1.0, -1.0] {
            let mut s = rng.random_range(0.0..GAP_M.1);
            while s < length {
                let frontage = rng.random_range(FRONTAGE_M.0..=FRONTAGE_M.1);
                let gap = rng.random_range(GAP_M.0..=GAP_M.1);
                let build = rng.random_range(0.0..1.0) < spec.density;
                let depth = rng.random_range(DEPTH_M.0..=DEPTH_M.1);
                let (lo, hi) = spec.height_m;
                let height = lo * (hi / lo).powf(rng.random_range(0.0..=1.0));
                let setback = rng.random_range(spec.setback_m.0..=spec.setback_m.1);
                let facade = rng.random_range(0..FACADES.len());
                let mid = (s + frontage / 2.0).min(length);
                s += frontage + gap;
                if !build {
                    continue;
                }
                let (p, heading) = road.centre.at(mid);
                let across = Vec2::from_heading(heading).perp() * side;
                let building = Building {
                    centre: p + across * (road.half_width_m + setback + depth / 2.0),
                    heading,
                    length_m: frontage,
                    depth_m: depth,
                    height_m: height,
                    facade,
                };
                let cells = cells_of(&building);
                let clearance = CLEARANCE_M.min(0.9 * setback);
                if clear_of_roads(network, &building, clearance)
                    && cells.iter().all(|c| !occupied.contains(c))
                {
                    occupied.extend(cells);
                    placed.push(building);
                }
            }
        }
    }
    placed
}

/// Whether the footprint grown by `clearance` touches no paved point: its outline sampled
/// every metre and its centre (a road crossing a footprint crosses its outline).
fn clear_of_roads(network: &Network, b: &Building, clearance: f64) -> bool {
    let (hu, hv) = (b.length_m / 2.0 + clearance, b.depth_m / 2.0 + clearance);
    let steps = |h: f64| (2.0 * h).ceil() as usize;
    let edge = |n: usize, h: f64, k: usize| -h + 2.0 * h * k as f64 / n as f64;
    let (nu, nv) = (steps(hu), steps(hv));
    let outline = (0..=nu)
        .flat_map(|k| [(edge(nu, hu, k), -hv), (edge(nu, hu, k), hv)])
        .chain((0..=nv).flat_map(|k| [(-hu, edge(nv, hv, k)), (hu, edge(nv, hv, k))]));
    !network.is_paved(b.centre)
        && outline
            .into_iter()
            .all(|(u, v)| !network.is_paved(b.point(u, v)))
}

/// The metre cells the footprint covers (sampled every half metre).
fn cells_of(b: &Building) -> Vec<(i64, i64)> {
    let (nu, nv) = (
        (b.length_m * 2.0).ceil() as i64,
        (b.depth_m * 2.0).ceil() as i64,
    );
    let mut cells: Vec<(i64, i64)> = (0..=nu)
        .flat_map(|i| (0..=nv).map(move |j| (i, j)))
        .map(|(i, j)| {
            let p = b.point(
                -b.length_m / 2.0 + b.length_m * i as f64 / nu as f64,
                -b.depth_m / 2.0 + b.depth_m * j as f64 / nv as f64,
            );
            (p.x.floor() as i64, p.y.floor() as i64)
        })
        .collect();
    cells.sort_unstable();
    cells.dedup();
    cells
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::network::{TownStyle, town};

    fn a_town() -> Network {
        Network::build(&town(3, 420.0, &TownStyle::default()), 3.5, "track").expect("it builds")
    }

    #[test]
    fn buildings_line_the_roads_and_keep_off_every_paved_surface() {
        let network = a_town();
        let spec = Buildings::default();
        let placed = place(&network, &spec, &[]);
        // 80 % of lots on both sides of every road, most of them kept.
        let lots = 2.0 * network.road_km() * 1000.0 / 17.0;
        assert!(
            placed.len() as f64 > 0.3 * lots,
            "{} buildings for about {lots:.0} lots",
            placed.len()
        );
        for b in &placed {
            assert!((spec.height_m.0..=spec.height_m.1).contains(&b.height_m));
            // No paved point within the clearance of any point of the footprint.
            for k in 0..=20 {
                for l in 0..=20 {
                    let u = -b.length_m / 2.0 + b.length_m * k as f64 / 20.0;
                    let v = -b.depth_m / 2.0 + b.depth_m * l as f64 / 20.0;
                    assert!(!network.is_paved(b.point(u, v)), "{b:?} stands on a road");
                }
            }
        }
        // No two footprints overlap by more than the half-metre sampling.
        for (i, a) in placed.iter().enumerate() {
            for b in &placed[i + 1..] {
                let inside = |p: Vec2, b: &Building| {
                    let d = p - b.centre;
                    let along = Vec2::from_heading(b.heading);
                    d.dot(along).abs() < b.length_m / 2.0 - 0.6
                        && d.dot(along.perp()).abs() < b.depth_m / 2.0 - 0.6
                };
                assert!(
                    !inside(a.centre, b) && a.corners().iter().all(|&c| !inside(c, b)),
                    "{a:?} overlaps {b:?}"
                );
            }
        }
        // Buildings asked to stand nearer the kerb than the clearance still stand, off the road.
        let near = Buildings {
            density: 1.0,
            setback_m: (1.0, 2.0),
            ..spec.clone()
        };
        let close = place(&network, &near, &[]);
        assert!(
            close.len() as f64 > 0.5 * lots,
            "{} buildings near the kerb for about {lots:.0} lots",
            close.len()
        );
        assert!(
            close.iter().all(|b| !network.is_paved(b.centre)
                && b.corners().iter().all(|&c| !network.is_paved(c)))
        );
        // A prop keeps its disc clear: the building that stood on it goes, no other stands on it.
        let prop = (placed[3].centre, 2.0);
        let around = place(&network, &spec, &[prop]);
        assert!(!around.contains(&placed[3]));
        assert!(around.iter().all(|b| {
            let d = prop.0 - b.centre;
            let along = Vec2::from_heading(b.heading);
            d.dot(along).abs() > b.length_m / 2.0 + 1.0
                || d.dot(along.perp()).abs() > b.depth_m / 2.0 + 1.0
        }));
        // The same spec places the same buildings; another seed others; density 0 none.
        assert_eq!(place(&network, &spec, &[]), placed);
        let other = Buildings {
            seed: 1,
            ..spec.clone()
        };
        assert_ne!(place(&network, &other, &[]), placed);
        let none = Buildings {
            density: 0.0,
            ..spec
        };
        assert!(place(&network, &none, &[]).is_empty());
    }

    #[test]
    fn bad_ranges_are_named() {
        let bad = Buildings {
            density: 1.5,
            height_m: (10.0, 5.0),
            setback_m: (f64::NAN, 2.0),
            seed: 0,
        };
        let p = bad.problems().join("; ");
        for field in ["density", "height_m", "setback_m"] {
            assert!(p.contains(&format!("buildings.{field}")), "{p}");
        }
        assert!(Buildings::default().problems().is_empty());
    }
}
