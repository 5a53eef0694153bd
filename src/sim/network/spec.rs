//! How a scenario file gives a road network: nodes and the roads between them written by
//! hand, or a town generated from a seed; and which route the ego car drives through it.

use crate::sim::math::Vec2;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

/// A place where roads meet, or where one ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Name the roads refer to.
    pub name: String,
    /// Position `(x, y)`, metres.
    pub at: (f64, f64),
    #[serde(default)]
    pub kind: NodeKind,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeKind {
    /// Two or more roads meet (a single road is a problem: use `DeadEnd`).
    #[default]
    Junction,
    /// One road ends in a paved turning circle; cars turn round there.
    DeadEnd,
}

/// A two-way road between two nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoadSpec {
    pub from: String,
    pub to: String,
    /// Points `(x, y)` the road's centreline bends through between its nodes.
    #[serde(default)]
    pub via: Vec<(f64, f64)>,
    /// Lanes in each direction: 1 or 2. Lane width is half the scenario's road width.
    #[serde(default = "one_lane")]
    pub lanes: u32,
}

fn one_lane() -> u32 {
    1
}

/// A manoeuvre at a junction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Turn {
    Left,
    Straight,
    Right,
    /// Turning round at a dead end.
    UTurn,
}

impl Turn {
    /// The manoeuvre of a heading change `delta` (radians, left positive) through a junction.
    pub fn of(delta: f64) -> Turn {
        let limit = 35f64.to_radians();
        if delta.abs() > 150f64.to_radians() {
            Turn::UTurn
        } else if delta > limit {
            Turn::Left
        } else if delta < -limit {
            Turn::Right
        } else {
            Turn::Straight
        }
    }
}

/// The ego car's route through a network: a closed loop, so that it can be driven forever.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum RouteSpec {
    /// `turns` manoeuvres drawn at random from `seed`, then the shortest way back.
    Random { seed: u64, turns: u32 },
    /// These manoeuvres at the junctions met, in order, then the shortest way back.
    Turns(Vec<Turn>),
}

impl Default for RouteSpec {
    fn default() -> Self {
        RouteSpec::Random { seed: 0, turns: 12 }
    }
}

/// A network written out: nodes, roads and the start of the route.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkSpec {
    pub nodes: Vec<NodeSpec>,
    pub roads: Vec<RoadSpec>,
}

/// Junctions per side of a generated town's grid, from its size.
fn grid_side(size_m: f64) -> usize {
    // In floating point: a size the validation refuses (1e44 m, NaN) is still built while its
    // problems are gathered, and must not overflow on the way.
    let side = (size_m / 120.0).round() + 1.0;
    if side.is_nan() {
        4
    } else {
        side.clamp(4.0, 8.0) as usize
    }
}

/// How a generated town is laid out beyond its seed and size.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TownStyle {
    /// How far each junction moves off its grid point, as a share of the grid spacing
    /// (0..=0.15): the higher, the further junction angles are from right angles.
    pub jitter: f64,
    /// The chance that a block gets a diagonal road across it (0..=0.5): junctions where
    /// roads meet at 45° and where five or six roads meet.
    pub diagonals: f64,
}

impl Default for TownStyle {
    fn default() -> Self {
        Self {
            jitter: 0.07,
            diagonals: 0.0,
        }
    }
}

impl TownStyle {
    /// Every value out of range, each naming its field.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !(self.jitter.is_finite() && (0.0..=0.15).contains(&self.jitter)) {
            p.push(format!(
                "track.style.jitter: {} must be in [0, 0.15]",
                self.jitter
            ));
        }
        if !(self.diagonals.is_finite() && (0.0..=0.5).contains(&self.diagonals)) {
            p.push(format!(
                "track.style.diagonals: {} must be in [0, 0.5]",
                self.diagonals
            ));
        }
        p
    }
}

/// Diagonal roads leave a junction at least this far from its other roads, radians.
const DIAGONAL_CLEARANCE_RAD: f64 = 0.5;

/// A generated town: a jittered grid of junctions whose corner junctions become curved
/// connectors, with bent roads, some straight-through roads removed to make T-junctions (the
/// network stays connected and every junction keeps three roads or more), and
/// 2-lane-per-direction avenues through the middle.
pub fn town(seed: u64, size_m: f64, style: &TownStyle) -> NetworkSpec {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x70_57_00_00);
    let n = grid_side(size_m);
    let spacing = size_m / (n - 1) as f64;
    let corner = |i: usize, j: usize| (i == 0 || i == n - 1) && (j == 0 || j == n - 1);
    let name = |i: usize, j: usize| format!("j{i}_{j}");
    let mut pos = vec![vec![Vec2::new(0.0, 0.0); n]; n];
    for (i, row) in pos.iter_mut().enumerate() {
        for (j, p) in row.iter_mut().enumerate() {
            // A style the validation refuses (NaN, out of range) is still built while the
            // town's problems are gathered; an empty range must not be sampled.
            let jitter = style.jitter.clamp(0.0, 0.15) * spacing;
            let mut off = || {
                if jitter > 0.0 && jitter.is_finite() {
                    rng.random_range(-jitter..jitter)
                } else {
                    0.0
                }
            };
            *p = Vec2::new(i as f64 * spacing + off(), j as f64 * spacing + off());
        }
    }
    let mut nodes = Vec::new();
    for i in 0..n {
        for j in 0..n {
            if !corner(i, j) {
                nodes.push(NodeSpec {
                    name: name(i, j),
                    at: (pos[i][j].x, pos[i][j].y),
                    kind: NodeKind::Junction,
                });
            }
        }
    }
    // Grid edges between junctions (not corners), with their degree bookkeeping.
    let mut edges: Vec<((usize, usize), (usize, usize))> = Vec::new();
    for i in 0..n {
        for j in 0..n {
            if corner(i, j) {
                continue;
            }
            if i + 1 < n && !corner(i + 1, j) {
                edges.push(((i, j), (i + 1, j)));
            }
            if j + 1 < n && !corner(i, j + 1) {
                edges.push(((i, j), (i, j + 1)));
            }
        }
    }
    let mut degree = vec![vec![0usize; n]; n];
    for &(a, b) in &edges {
        degree[a.0][a.1] += 1;
        degree[b.0][b.1] += 1;
    }
    // The corner connectors add one road to each of their two neighbours.
    for (i, j) in [(0, 0), (0, n - 1), (n - 1, 0), (n - 1, n - 1)] {
        let (a, b) = corner_neighbours(i, j, n);
        degree[a.0][a.1] += 1;
        degree[b.0][b.1] += 1;
    }
    // Remove inner straight-through roads between 4-way junctions, keeping the rest connected.
    let mid = n / 2;
    let avenue = |a: (usize, usize), b: (usize, usize)| {
        (a.0 == mid && b.0 == mid) || (a.1 == mid && b.1 == mid)
    };
    let removals = ((n - 2) / 2).max(1);
    let mut removed = 0;
    for _ in 0..removals * 8 {
        if removed == removals {
            break;
        }
        let k = rng.random_range(0..edges.len());
        let (a, b) = edges[k];
        if degree[a.0][a.1] < 4 || degree[b.0][b.1] < 4 || avenue(a, b) {
            continue;
        }
        let mut rest = edges.clone();
        rest.remove(k);
        if connected(&rest, n) {
            edges = rest;
            degree[a.0][a.1] -= 1;
            degree[b.0][b.1] -= 1;
            removed += 1;
        }
    }
    let mut roads = Vec::new();
    for &(a, b) in &edges {
        let (pa, pb) = (pos[a.0][a.1], pos[b.0][b.1]);
        let bend = rng.random_range(-0.06..0.06) * pa.distance(pb);
        let mid_point = pa.lerp(pb, 0.5) + (pb - pa).normalized().perp() * bend;
        roads.push(RoadSpec {
            from: name(a.0, a.1),
            to: name(b.0, b.1),
            via: vec![(mid_point.x, mid_point.y)],
            lanes: if avenue(a, b) { 2 } else { 1 },
        });
    }
    for (i, j) in [(0, 0), (0, n - 1), (n - 1, 0), (n - 1, n - 1)] {
        let (a, b) = corner_neighbours(i, j, n);
        let (pa, pc, pb) = (pos[a.0][a.1], pos[i][j], pos[b.0][b.1]);
        // A sweeping curve that passes inside the corner.
        let inside = pa.lerp(pb, 0.5).lerp(pc, 0.6);
        roads.push(RoadSpec {
            from: name(a.0, a.1),
            to: name(b.0, b.1),
            via: vec![inside.lerp(pa, 0.35), inside, inside.lerp(pb, 0.35)]
                .into_iter()
                .map(|p| (p.x, p.y))
                .collect(),
            lanes: 1,
        });
    }
    if style.diagonals > 0.0 && style.diagonals.is_finite() {
        add_diagonals(&mut roads, &edges, &pos, n, style.diagonals, &mut rng);
    }
    NetworkSpec { nodes, roads }
}

/// Diagonal roads across some blocks (one per block at most, each leaving its junctions at
/// least [`DIAGONAL_CLEARANCE_RAD`] from their other roads).
fn add_diagonals(
    roads: &mut Vec<RoadSpec>,
    edges: &[((usize, usize), (usize, usize))],
    pos: &[Vec<Vec2>],
    n: usize,
    chance: f64,
    rng: &mut StdRng,
) {
    let corner = |(i, j): (usize, usize)| (i == 0 || i == n - 1) && (j == 0 || j == n - 1);
    let name = |(i, j): (usize, usize)| format!("j{i}_{j}");
    // The directions each junction's roads leave it in.
    let mut arms: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); n]; n];
    let mut arm = |a: (usize, usize), toward: Vec2| {
        arms[a.0][a.1].push((toward - pos[a.0][a.1]).heading());
    };
    for &(a, b) in edges {
        arm(a, pos[b.0][b.1]);
        arm(b, pos[a.0][a.1]);
    }
    for (i, j) in [(0, 0), (0, n - 1), (n - 1, 0), (n - 1, n - 1)] {
        let (a, b) = corner_neighbours(i, j, n);
        arm(a, pos[i][j]);
        arm(b, pos[i][j]);
    }
    for i in 0..n - 1 {
        for j in 0..n - 1 {
            let draw: f64 = rng.random_range(0.0..1.0);
            let flip = rng.random_range(0.0..1.0) < 0.5;
            if draw >= chance {
                continue;
            }
            let (a, b) = if flip {
                ((i, j + 1), (i + 1, j))
            } else {
                ((i, j), (i + 1, j + 1))
            };
            // Blocks at a corner hold its curved connector.
            if [(i, j), (i + 1, j), (i, j + 1), (i + 1, j + 1)]
                .into_iter()
                .any(corner)
            {
                continue;
            }
            let (pa, pb) = (pos[a.0][a.1], pos[b.0][b.1]);
            let clear = |at: (usize, usize), heading: f64| {
                arms[at.0][at.1].len() < 6
                    && arms[at.0][at.1].iter().all(|h| {
                        crate::sim::math::wrap_angle(h - heading).abs() >= DIAGONAL_CLEARANCE_RAD
                    })
            };
            if !(clear(a, (pb - pa).heading()) && clear(b, (pa - pb).heading())) {
                continue;
            }
            arms[a.0][a.1].push((pb - pa).heading());
            arms[b.0][b.1].push((pa - pb).heading());
            let mid = pa.lerp(pb, 0.5);
            roads.push(RoadSpec {
                from: name(a),
                to: name(b),
                via: vec![(mid.x, mid.y)],
                lanes: 1,
            });
        }
    }
}

/// The two grid neighbours of corner `(i, j)` that its curved connector joins.
fn corner_neighbours(i: usize, j: usize, n: usize) -> ((usize, usize), (usize, usize)) {
    let di = if i == 0 { 1 } else { n - 2 };
    let dj = if j == 0 { 1 } else { n - 2 };
    ((di, j), (i, dj))
}

/// Whether the grid edges (plus the corner connectors) connect every non-corner node.
fn connected(edges: &[((usize, usize), (usize, usize))], n: usize) -> bool {
    let id = |(i, j): (usize, usize)| i * n + j;
    let mut adj = vec![Vec::new(); n * n];
    let mut all: Vec<((usize, usize), (usize, usize))> = edges.to_vec();
    for (i, j) in [(0, 0), (0, n - 1), (n - 1, 0), (n - 1, n - 1)] {
        all.push(corner_neighbours(i, j, n));
    }
    for (a, b) in all {
        adj[id(a)].push(id(b));
        adj[id(b)].push(id(a));
    }
    let seen = super::graph::reachable(&adj, id((1, 0)));
    (0..n)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .filter(|&(i, j)| !((i == 0 || i == n - 1) && (j == 0 || j == n - 1)))
        .all(|p| seen[id(p)])
}
