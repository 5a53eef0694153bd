//! Track specifications: how a scenario file gives the closed centreline (explicit control
//! points or a procedural loop) and the checks a specification must pass before a [`Track`]
//! is built from it.
//!
//! [`Track`]: super::Track

use crate::sim::network::route::Route;
use crate::sim::network::{Network, NetworkSpec, NodeSpec, RoadSpec, RouteSpec, TownStyle, town};
use serde::{Deserialize, Serialize};

fn is_default_style(style: &TownStyle) -> bool {
    *style == TownStyle::default()
}

/// Longest centreline accepted, metres.
pub const MAX_TRACK_LENGTH_M: f64 = 20_000.0;
/// Most control points a centreline may have.
pub const MAX_CONTROL_POINTS: usize = 10_000;

/// How the closed centreline is given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum TrackSpec {
    /// Explicit control points `(x, y)` in metres of a closed centreline, joined by a
    /// centripetal Catmull-Rom spline. The last point repeats the first.
    ControlPoints { points: Vec<(f64, f64)> },
    /// A star-shaped loop: a circle of the given length perturbed by low harmonics.
    Procedural {
        /// Seed of the generator (independent of the episode seed).
        seed: u64,
        /// Length of the centreline, metres (100..=[`MAX_TRACK_LENGTH_M`]).
        length_m: f64,
        /// 0 gives a circle; 1 gives strongly winding tracks (0..=1).
        curviness: f64,
    },
    /// A road network written out, and the route the cars drive through it. Lanes are half
    /// the scenario's road width wide.
    Network {
        nodes: Vec<NodeSpec>,
        roads: Vec<RoadSpec>,
        #[serde(default)]
        route: RouteSpec,
    },
    /// A generated town about `size_m` across (250..=2000), and the route the cars drive.
    Town {
        seed: u64,
        size_m: f64,
        #[serde(default)]
        route: RouteSpec,
        /// How far junctions are from a right-angled grid, and how many blocks a diagonal
        /// road crosses.
        #[serde(default, skip_serializing_if = "is_default_style")]
        style: TownStyle,
    },
}

impl TrackSpec {
    /// The network and route of a `Network` or `Town` (`None` for a loop); lanes are half
    /// `road_width_m` wide. Errors list every problem, each naming its field.
    pub fn build_network(
        &self,
        road_width_m: f64,
    ) -> Result<Option<(Network, Route)>, Vec<String>> {
        let Some((network, route)) = self.network() else {
            return Ok(None);
        };
        let network = Network::build(&network, road_width_m / 2.0, "track")?;
        let route = Route::build(&network, route).map_err(|e| vec![format!("track.{e}")])?;
        Ok(Some((network, route)))
    }

    /// Whether this is a road network (`Network` or `Town`) rather than a loop.
    pub fn is_network(&self) -> bool {
        matches!(self, TrackSpec::Network { .. } | TrackSpec::Town { .. })
    }

    /// The road network and route of a `Network` or `Town`; `None` for a loop.
    pub fn network(&self) -> Option<(NetworkSpec, &RouteSpec)> {
        match self {
            Self::Network {
                nodes,
                roads,
                route,
            } => Some((
                NetworkSpec {
                    nodes: nodes.clone(),
                    roads: roads.clone(),
                },
                route,
            )),
            Self::Town {
                seed,
                size_m,
                route,
                style,
            } => Some((town(*seed, *size_m, style), route)),
            _ => None,
        }
    }

    /// Every problem of the specification itself, as `track.<field>: …` lines (empty when it
    /// can be built; the built track's own checks are [`super::Track::problems`]).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        match self {
            Self::ControlPoints { points } => {
                if points.iter().any(|(x, y)| !x.is_finite() || !y.is_finite()) {
                    p.push("track.points: every coordinate must be finite".into());
                    return p;
                }
                if points.len() > MAX_CONTROL_POINTS {
                    p.push(format!(
                        "track.points: {} points given; the limit is {MAX_CONTROL_POINTS}",
                        points.len()
                    ));
                    return p;
                }
                if points.len() < 4 {
                    p.push(format!(
                        "track.points: {} points given; a closed centreline needs at least 4 distinct points, the first repeated at the end",
                        points.len()
                    ));
                    return p;
                }
                let (first, last) = (points[0], points[points.len() - 1]);
                let gap = (first.0 - last.0).hypot(first.1 - last.1);
                if gap > 1e-6 {
                    p.push(format!(
                        "track.points: centreline is not closed: the last point ({}, {}) is {gap:.2} m from the first ({}, {}); repeat the first point at the end",
                        last.0, last.1, first.0, first.1
                    ));
                } else if points.len() < 5 {
                    p.push(
                        "track.points: a closed centreline needs at least 4 distinct points".into(),
                    );
                }
                let perimeter: f64 = points
                    .windows(2)
                    .map(|w| (w[0].0 - w[1].0).hypot(w[0].1 - w[1].1))
                    .sum();
                if perimeter > MAX_TRACK_LENGTH_M {
                    p.push(format!(
                        "track.points: the centreline is {perimeter:.0} m long; the limit is {MAX_TRACK_LENGTH_M} m"
                    ));
                    return p;
                }
                for (i, w) in points.windows(2).enumerate() {
                    if (w[0].0 - w[1].0).hypot(w[0].1 - w[1].1) < 0.1 {
                        p.push(format!(
                            "track.points[{}]: repeats the previous point",
                            i + 1
                        ));
                    }
                }
            }
            Self::Procedural {
                length_m,
                curviness,
                ..
            } => {
                if !(length_m.is_finite() && (100.0..=20_000.0).contains(length_m)) {
                    p.push(format!(
                        "track.length_m: {length_m} must be in [100, 20000] metres"
                    ));
                }
                if !(curviness.is_finite() && (0.0..=1.0).contains(curviness)) {
                    p.push(format!("track.curviness: {curviness} must be in [0, 1]"));
                }
            }
            Self::Town {
                size_m,
                route,
                style,
                ..
            } => {
                p.extend(style.problems());
                if !(size_m.is_finite() && (250.0..=2000.0).contains(size_m)) {
                    p.push(format!(
                        "track.size_m: {size_m} must be in [250, 2000] metres"
                    ));
                }
                p.extend(route_problems(route));
            }
            Self::Network { route, .. } => p.extend(route_problems(route)),
        }
        p
    }
}

fn route_problems(route: &RouteSpec) -> Vec<String> {
    match route {
        RouteSpec::Random { turns, .. } if *turns > 1000 => {
            vec![format!("track.route.turns: {turns}; at most 1000")]
        }
        RouteSpec::Turns(turns) if turns.is_empty() => {
            vec!["track.route: Turns([]) lists no manoeuvre; give at least one of Left, Straight, Right".into()]
        }
        RouteSpec::Turns(turns) if turns.len() > crate::sim::network::route::MAX_TURNS => {
            vec![format!(
                "track.route: Turns lists {} manoeuvres; at most {}",
                turns.len(),
                crate::sim::network::route::MAX_TURNS
            )]
        }
        _ => Vec::new(),
    }
}
