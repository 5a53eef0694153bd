//! The world of a scenario, built once and shared: the road the cars are scored against (a
//! loop's track, or a town's network with the route the ego cars drive and its closed path),
//! the props placed along it and the town's buildings. The simulation, its crash check, the
//! renderer's scene, the map sensor and the localisation of recorded drives all read this one
//! build ([`BuiltWorld::build`]); a scenario is built again only by its validation.

use crate::error::{Error, Result};
use crate::sim::collision::PlacedProp;
use crate::sim::network::Network;
use crate::sim::network::buildings::Building;
use crate::sim::route_path::RoutePath;
use crate::sim::scenario::{Scenario, TrackSpec};
use crate::sim::track::Track;
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
        let town = match scenario.build_network()? {
            Some((network, route)) => {
                let route =
                    RoutePath::new(&network, route).map_err(|e| Error::ScenarioInvalid {
                        file: scenario.name.clone(),
                        problems: vec![format!("track.route: {e}")],
                    })?;
                Some((Arc::new(network), route))
            }
            None => None,
        };
        let track = match &town {
            Some((_, route)) => route.track.clone(),
            None => scenario.build_track()?,
        };
        let props = scenario.placed_props(&track);
        let buildings = match &town {
            Some((network, _)) => scenario.place_buildings(network, &props),
            None => Vec::new(),
        };
        Ok(Arc::new(BuiltWorld {
            track,
            town,
            props,
            buildings,
        }))
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
