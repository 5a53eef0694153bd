//! A car's navigation system: its GPS receiver and odometry read the true motion (with their
//! errors); the believed pose, the route progress, the command and the map patch follow from
//! their readings and the map alone.

use super::gps::{Dropouts, GpsFix, GpsNoise};
use super::view::{Command, MapSpec, MapView, Pose};
use crate::sim::Vec2;
use crate::sim::frame::Frame;
use crate::sim::math::fnv1a;
use crate::sim::odometry::{OdometryNoise, OdometryReading};
use crate::sim::simulation::Simulation;
use crate::sim::vehicle::VehicleState;
use rand::{RngExt, SeedableRng, rngs::Xoshiro256PlusPlus as SensorRng};
use serde::{Deserialize, Serialize};

/// What the map sensor gives a car at a tick: the patch, the command and what they were cut
/// at. Every field follows from the car's sensors (GPS fix, odometry) and the map alone.
#[derive(Clone, Debug, PartialEq)]
pub struct MapObservation {
    /// `size × size` RGB: red paved, green the route ahead (blank or stale in a dropout).
    pub patch: Frame,
    /// The believed pose: the GPS fix (the true pose without GPS noise), or dead reckoning
    /// from the last fix in a dropout.
    pub position: Vec2,
    pub heading: f64,
    /// Route progress as the navigation system tracks it from the believed pose, metres.
    pub progress_m: f64,
    /// The navigation command at that progress.
    pub command: Command,
    /// What the odometry measured over the last tick.
    pub odometry: OdometryReading,
    /// `false` during a dropout: no fix, the patch blank or the last one.
    pub fix_available: bool,
}

/// The map input, the GPS error, its dropouts and the odometry of a world's cars.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MapOptions {
    pub spec: MapSpec,
    /// `None`: the true pose.
    pub gps: Option<GpsNoise>,
    #[serde(default)]
    pub dropouts: Option<Dropouts>,
    /// The errors of the cars' odometry (which the world reads for every car, map or not).
    #[serde(default)]
    pub odometry: OdometryNoise,
}

/// One car's navigation system: its GPS receiver, the route progress it tracks and the map it
/// shows. The receiver reads the true motion (with its errors) and the car's odometry is handed
/// to it ([`crate::sim::odometry::Odometry`], a sensor of the car's own); everything after them
/// reads only what they report.
#[derive(Clone, Debug)]
pub struct Navigator {
    gps: Option<GpsFix>,
    dropouts: Option<Dropouts>,
    rng: SensorRng,
    /// Seconds of the current dropout left, and whether its map is the stale one.
    outage: Option<(f64, bool)>,
    started: bool,
    last: Option<MapObservation>,
    /// The route progress before the last tick's matching.
    prior_progress_m: Option<f64>,
}

impl Navigator {
    /// The navigation system of one car for one drive, its errors drawn from `seed`.
    pub fn new(options: &MapOptions, seed: u64) -> Navigator {
        Navigator {
            gps: options.gps.map(|noise| GpsFix::new(noise, seed)),
            dropouts: options.dropouts,
            rng: SensorRng::seed_from_u64(fnv1a(&[b"dropouts", &seed.to_le_bytes()])),
            outage: None,
            started: false,
            last: None,
            prior_progress_m: None,
        }
    }

    /// A navigation system whose receiver is `gps` (e.g. one with a given error).
    pub fn with_receiver(options: &MapOptions, gps: GpsFix, seed: u64) -> Navigator {
        Navigator {
            gps: Some(gps),
            ..Navigator::new(options, seed)
        }
    }

    /// The car was put somewhere else (a safety driver, a respawn): the next tick matches its
    /// route progress afresh.
    pub fn relocate(&mut self) {
        self.outage = None;
        self.last = None;
    }

    /// The receiver reads the car at `truth` after `dt_s` seconds (0 at the start of a drive)
    /// and the odometry measured `reading` over them; the believed pose, the route progress and
    /// the map follow from their readings.
    pub fn sense(
        &mut self,
        view: &MapView,
        spec: &MapSpec,
        truth: &VehicleState,
        reading: OdometryReading,
        dt_s: f64,
    ) {
        if let Some(gps) = self.gps.as_mut()
            && self.started
        {
            gps.step(dt_s);
        }
        self.started = true;
        let fix = match &self.gps {
            Some(gps) => {
                let (position, heading) = gps.fix(truth);
                Pose { position, heading }
            }
            None => Pose::of(truth),
        };
        self.outage = match (self.outage, &self.dropouts) {
            (Some((left, stale)), _) if left > dt_s => Some((left - dt_s, stale)),
            (_, Some(d))
                if self.last.is_some()
                    && self.rng.random_range(0.0..1.0) < d.per_minute * dt_s / 60.0 =>
            {
                let (lo, hi) = d.duration_s;
                let length = if hi > lo {
                    self.rng.random_range(lo..=hi)
                } else {
                    lo
                };
                Some((
                    length,
                    self.rng.random_range(0.0..1.0) < d.stale_probability,
                ))
            }
            _ => None,
        };
        self.prior_progress_m = self.last.as_ref().map(|l| l.progress_m);
        let observation = match (&self.outage, self.last.take()) {
            (Some((_, stale)), Some(last)) => {
                let belief = Pose {
                    position: last.position,
                    heading: last.heading,
                }
                .moved(&reading);
                let progress_m = view.advance(last.progress_m, reading.distance_m);
                let mut patch = last.patch;
                if !stale {
                    patch.rgb.iter_mut().for_each(|v| *v = 0);
                }
                MapObservation {
                    patch,
                    position: belief.position,
                    heading: belief.heading,
                    progress_m,
                    command: view.command(progress_m),
                    odometry: reading,
                    fix_available: false,
                }
            }
            (_, last) => {
                let progress_m =
                    view.match_progress(last.map(|l| l.progress_m), fix, reading.distance_m);
                MapObservation {
                    patch: view.patch(spec, fix.position, fix.heading, progress_m),
                    position: fix.position,
                    heading: fix.heading,
                    progress_m,
                    command: view.command(progress_m),
                    odometry: reading,
                    fix_available: true,
                }
            }
        };
        self.last = Some(observation);
    }

    /// The car's own localisation puts it at `belief` this tick (a filter's estimate from the
    /// readings, see `drive::localise::OnlineLocaliser`): the route progress is matched and the
    /// patch cut there instead of at the fix.
    pub fn believe(&mut self, view: &MapView, spec: &MapSpec, belief: Pose) {
        let Some(last) = self.last.as_mut() else {
            return;
        };
        let progress_m =
            view.match_progress(self.prior_progress_m, belief, last.odometry.distance_m);
        last.patch = view.patch(spec, belief.position, belief.heading, progress_m);
        last.position = belief.position;
        last.heading = belief.heading;
        last.progress_m = progress_m;
        last.command = view.command(progress_m);
    }

    /// The GPS receiver (`None`: the car knows its true pose).
    pub fn receiver_mut(&mut self) -> Option<&mut GpsFix> {
        self.gps.as_mut()
    }

    /// What the navigation system shows after the last [`Navigator::sense`].
    pub fn observation(&self) -> Option<&MapObservation> {
        self.last.as_ref()
    }
}

/// Cuts each car's map patch at its believed pose every tick.
#[derive(Debug)]
pub struct MapSensor {
    pub options: MapOptions,
    view: MapView,
    cars: Vec<Navigator>,
}

impl MapSensor {
    pub fn new(sim: &Simulation, options: MapOptions) -> MapSensor {
        MapSensor {
            options,
            view: MapView::new(sim),
            cars: Vec::new(),
        }
    }

    pub fn view(&self) -> &MapView {
        &self.view
    }

    /// Draws the route of `sim` from now on (after a turn was chosen, the route changed);
    /// every car matches its progress on it afresh.
    pub fn follow_route(&mut self, sim: &Simulation) {
        if let Some(town) = sim.town() {
            self.view.follow(&town.network, &town.route);
            self.cars.iter_mut().for_each(Navigator::relocate);
        }
    }

    /// New navigation systems for `agents` cars, their errors seeded from `seed` (a drive's
    /// own seed, so that two drives get different errors).
    pub fn reset(&mut self, seed: u64, agents: usize) {
        self.cars = (0..agents)
            .map(|i| {
                Navigator::new(
                    &self.options,
                    fnv1a(&[&seed.to_le_bytes(), &i.to_le_bytes()]),
                )
            })
            .collect();
    }

    /// Replaces car `agent`'s navigation system (e.g. with one whose receiver has a given error).
    pub fn set_navigator(&mut self, agent: usize, navigator: Navigator) {
        if let Some(n) = self.cars.get_mut(agent) {
            *n = navigator;
        }
    }

    /// Car `agent` was put somewhere else: its progress is matched afresh.
    pub fn relocate(&mut self, agent: usize) {
        if let Some(n) = self.cars.get_mut(agent) {
            n.relocate();
        }
    }

    /// Car `agent`'s receiver reads its true state `truth` after `dt_s` seconds, over which
    /// its odometry measured `reading`.
    pub fn sense(
        &mut self,
        agent: usize,
        truth: &VehicleState,
        reading: OdometryReading,
        dt_s: f64,
    ) {
        if let Some(n) = self.cars.get_mut(agent) {
            n.sense(&self.view, &self.options.spec, truth, reading, dt_s);
        }
    }

    /// Car `agent`'s own localisation puts it at `belief` (see [`Navigator::believe`]).
    pub fn believe(&mut self, agent: usize, belief: Pose) {
        if let Some(n) = self.cars.get_mut(agent) {
            n.believe(&self.view, &self.options.spec, belief);
        }
    }

    /// The map car `agent` sees at `tick` (after its sensors read the tick's state).
    pub fn observe(&self, agent: usize, tick: u64) -> Option<MapObservation> {
        let mut o = self.cars.get(agent)?.observation()?.clone();
        o.patch.tick = tick;
        o.patch.agent = agent;
        Some(o)
    }
}
