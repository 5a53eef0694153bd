//! The world of a scenario, built once and shared: the road the cars are scored against (a
//! loop's track, or a town's network with the route the ego cars drive and its closed path),
//! the props placed along it and the town's buildings. The simulation, its crash check, the
//! renderer's scene, the map sensor and the localisation of recorded drives all read this one
//! build ([`BuiltWorld::build`], or [`BuiltWorld::validated`] which checks the scenario with
//! the same build).

use crate::error::{Error, Result};
use crate::sim::collision::PlacedProp;
use crate::sim::network::Network;
use crate::sim::network::buildings::Building;
use crate::sim::network::route::Route;
use crate::sim::ron_file::read_ron_file;
use crate::sim::route_path::RoutePath;
use crate::sim::scenario::{Scenario, TrackSpec};
use crate::sim::track::Track;
use std::path::Path;
use std::sync::Arc;

/// A scenario's built world.
#[derive(Debug)]
pub struct BuiltWorld {
    /// The centreline cars are scored against: the loop, or the town route's closed path.
    pub track: Track,
    /// A town: its road network and the ego cars' route on it.
    pub town: Option<(Arc<Network>, RoutePath)>,
    /// The props, placed along the track.
    pub props: Vec<PlacedProp>,
    /// A town's buildings, kept off its roads and props.
    pub buildings: Vec<Building>,
}

impl BuiltWorld {
    /// Builds the world `scenario` describes; errors name the scenario and the field.
    pub fn build(scenario: &Scenario) -> Result<Arc<BuiltWorld>> {
        let invalid = |problems: Vec<String>| Error::ScenarioInvalid {
            file: scenario.name.clone(),
            problems,
        };
        match scenario.build_network()? {
            Some((network, route)) => Self::town(scenario, network, route).map_err(invalid),
            None => Ok(Self::assemble(scenario, None, scenario.build_track()?)),
        }
    }

    /// Validates `scenario` and builds its world, sharing one build of the track or network
    /// (validation builds it to check it); errors name the scenario and every problem.
    pub fn validated(scenario: &Scenario) -> Result<Arc<BuiltWorld>> {
        let mut problems = scenario.problems_besides_the_track();
        match Self::build_checked(scenario) {
            Ok(world) if problems.is_empty() => return Ok(world),
            Ok(_) => {}
            Err(p) => problems.extend(p),
        }
        Err(Error::ScenarioInvalid {
            file: scenario.name.clone(),
            problems,
        })
    }

    /// Reads the scenario file `path` and validates it with one build of its world
    /// ([`BuiltWorld::validated`]); errors name the file as [`Scenario::load`]'s do.
    pub fn load(path: &Path) -> Result<(Scenario, Arc<BuiltWorld>)> {
        read_ron_file(path, |text, file| {
            let scenario = Scenario::parse(text, file)?;
            match Self::validated(&scenario) {
                Ok(world) => Ok((scenario, world)),
                Err(Error::ScenarioInvalid { problems, .. }) => Err(Error::ScenarioInvalid {
                    file: file.to_string(),
                    problems,
                }),
                Err(e) => Err(e),
            }
        })
    }

    /// Builds the world `scenario` describes, checking its track or network as validation
    /// does ([`Scenario::validate`] builds it to check it): the problems found, each naming
    /// its field, or the world. A road width that is not positive yields no problem here (the
    /// scenario's other checks name it) and no world.
    pub fn build_checked(scenario: &Scenario) -> std::result::Result<Arc<BuiltWorld>, Vec<String>> {
        let width = scenario.road.width_m;
        let problems = scenario.track.problems();
        if !problems.is_empty() || width.is_nan() || width <= 0.0 {
            return Err(problems);
        }
        match scenario.track.build_network(width)? {
            Some((network, route)) => Self::town(scenario, network, route),
            None => {
                let track = Track::from_spec(&scenario.track, width)
                    .map_err(|e| vec![format!("track: {e}")])?;
                let problems = track.problems(width);
                if !problems.is_empty() {
                    return Err(problems);
                }
                Ok(Self::assemble(scenario, None, track))
            }
        }
    }

    /// The world of a town: its network, the ego cars' route on it as a closed path.
    fn town(
        scenario: &Scenario,
        network: Network,
        route: Route,
    ) -> std::result::Result<Arc<BuiltWorld>, Vec<String>> {
        let route =
            RoutePath::new(&network, route).map_err(|e| vec![format!("track.route: {e}")])?;
        let track = route.track.clone();
        Ok(Self::assemble(
            scenario,
            Some((Arc::new(network), route)),
            track,
        ))
    }

    /// The props placed along `track` and the town's buildings kept off them.
    fn assemble(
        scenario: &Scenario,
        town: Option<(Arc<Network>, RoutePath)>,
        track: Track,
    ) -> Arc<BuiltWorld> {
        let props = scenario.placed_props(&track);
        let buildings = match &town {
            Some((network, _)) => scenario.place_buildings(network, &props),
            None => Vec::new(),
        };
        Arc::new(BuiltWorld {
            track,
            town,
            props,
            buildings,
        })
    }

    /// The town's road network, when the world is a town.
    pub fn network(&self) -> Option<&Arc<Network>> {
        self.town.as_ref().map(|(network, _)| network)
    }

    /// One-line human summary of `scenario` and this, its built world.
    pub fn summary(&self, scenario: &Scenario) -> String {
        let track = &self.track;
        let kind = match (&scenario.track, &self.town) {
            (TrackSpec::ControlPoints { points }, _) => {
                format!("{} control points", points.len() - 1)
            }
            (
                TrackSpec::Procedural {
                    seed, curviness, ..
                },
                _,
            ) => format!("procedural seed {seed} curviness {curviness}"),
            (_, Some((network, route))) => format!(
                "route through {} junctions; {}; {} buildings",
                route.route.junctions(network).len(),
                network.summary(),
                self.buildings.len()
            ),
            (_, None) => "network".into(),
        };
        format!(
            "{}: {:.0} m track ({kind}; tightest bend radius {:.0} m), road {:.1} m, {} props, camera {}x{} @ {:.0}° fov, {:.1} m/s, dt {:.3} s, {} steps{}",
            scenario.name,
            track.length_m(),
            1.0 / track.max_abs_curvature_per_m().max(1e-6),
            scenario.road.width_m,
            scenario.expanded_prop_count(),
            scenario.camera.width_px,
            scenario.camera.height_px,
            scenario.camera.horizontal_fov_deg,
            scenario.vehicle.speed_m_s,
            scenario.dt_s,
            scenario.episode_steps,
            if scenario.lighting.fog.is_some() {
                ", fog"
            } else {
                ""
            }
        )
    }
}
