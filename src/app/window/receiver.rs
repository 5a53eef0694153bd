//! The snapshot receiver: takes the newest [`Snapshot`] from the source each frame without
//! waiting (a window that falls behind skips to the newest, one that is ahead draws the last
//! again), and stages the 3D world for it: another world is built when the snapshot's world
//! changes, and the car is put where the snapshot has it.

use super::schedule::{Report, WindowSystems};
use crate::app::session::{Command, Link, Snapshot};
use crate::world::scene::{
    AgentCar, Scenery, car_transform, spawn_car, spawn_static_world, spawn_traffic_car,
};
use crate::world::tiles::TRAFFIC_PAINT;
use bevy::ecs::error::{BevyError, Severity};
use bevy::prelude::*;
use crossbeam_channel::{Receiver, Sender, TryRecvError};

/// The window's ends of the queues to the source.
#[derive(Resource)]
pub(super) struct Source {
    commands: Sender<Command>,
    snapshots: Receiver<Snapshot>,
}

impl Source {
    pub(super) fn new(link: &Link) -> Self {
        Self {
            commands: link.commands.clone(),
            snapshots: link.snapshots.clone(),
        }
    }

    /// Sends `command`; a source that has ended is told so on the HUD already.
    pub(super) fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }
}

/// The snapshot shown, from the first the source sent on. Systems that draw it run when it
/// changes (Bevy's change detection).
#[derive(Resource)]
pub(super) struct Current(pub(super) Snapshot);

pub(super) fn plugin(app: &mut App) {
    app.add_systems(
        Update,
        (
            take_newest.in_set(WindowSystems::Receive),
            (rebuild_world, place_car)
                .chain()
                .in_set(WindowSystems::Stage),
        ),
    );
}

/// Takes the newest snapshot and counts it in the report; when the source has ended, says so
/// on the HUD.
fn take_newest(source: Res<Source>, mut current: ResMut<Current>, report: Res<Report>) {
    let mut newest = None;
    let mut ended = false;
    loop {
        match source.snapshots.try_recv() {
            Ok(s) => newest = Some(s),
            Err(TryRecvError::Empty) => break,
            Err(TryRecvError::Disconnected) => {
                ended = true;
                break;
            }
        }
    }
    match newest {
        Some(s) => {
            report.update(|r| {
                if let Some(live) = s.policy.as_ref().and_then(|p| p.live) {
                    let n = r.latencies as f64;
                    r.mean_latency_ms =
                        Some((r.mean_latency_ms.unwrap_or(0.0) * n + live.latency_ms) / (n + 1.0));
                    r.latencies += 1;
                }
                r.snapshots += 1;
            });
            current.0 = s;
        }
        // The source ended (an error it returns is printed when the window closes). Read
        // through `current` first, so that the HUD is redrawn only when this changes it.
        None if ended && current.0.playback.is_none() && !current.0.paused => {
            current.0.paused = true;
            current.0.message = Some("the simulation stopped: close the window to see why".into());
        }
        None => {}
    }
}

/// Takes the world down and builds the snapshot's when it is another one (the next scenario
/// of a live session). A track that cannot be built leaves the car on the ground alone.
fn rebuild_world(world: &mut World, mut shown: Local<Option<u64>>) -> Result {
    let (world_id, scenario, built) = {
        let s = &world.resource::<Current>().0;
        (s.world_id, s.scenario.clone(), s.built.clone())
    };
    if *shown == Some(world_id) {
        return Ok(());
    }
    *shown = Some(world_id);
    let old: Vec<Entity> = world
        .query_filtered::<Entity, Or<(With<Scenery>, With<AgentCar>)>>()
        .iter(world)
        .collect();
    for e in old {
        world.despawn(e);
    }
    if let Ok(built) = &built {
        spawn_static_world(world, &scenario, built, false);
    }
    spawn_car(world, &scenario, 0);
    for i in 0..scenario.traffic.cars as usize {
        let paint = TRAFFIC_PAINT[i % TRAFFIC_PAINT.len()];
        spawn_traffic_car(world, &scenario, i + 1, paint);
    }
    if let Err(e) = built {
        let message = format!("scenario {}: {e}", scenario.name);
        return Err(BevyError::new(Severity::Warning, message));
    }
    Ok(())
}

/// Puts the ego car (agent 0) and the traffic cars (1, 2, …) where the snapshot has them;
/// traffic cars the snapshot lacks are hidden.
fn place_car(current: Res<Current>, mut cars: Query<(&AgentCar, &mut Transform, &mut Visibility)>) {
    let s = &current.0;
    for (car, mut t, mut visibility) in &mut cars {
        let state = match car.0 {
            0 => Some(&s.state.vehicle),
            i => s.traffic.get(i - 1),
        };
        match state {
            Some(state) => {
                *t = car_transform(&s.scenario, state);
                if car.0 > 0 {
                    *visibility = Visibility::Inherited;
                }
            }
            None => *visibility = Visibility::Hidden,
        }
    }
}
