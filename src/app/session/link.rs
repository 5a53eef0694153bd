//! The two ends of the queues the window holds, and the thread behind them: a bounded queue of
//! snapshots (a window that falls behind sees newer ones later, a source never runs ahead by
//! more than two) and an unbounded one of commands (a key press is never dropped).

use super::messages::{Command, Snapshot};
use anyhow::{Context, Result};
use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use std::thread::JoinHandle;
use std::time::Duration;

/// The two ends the window holds.
pub struct Link {
    pub commands: Sender<Command>,
    pub snapshots: Receiver<Snapshot>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl Link {
    /// Waits for the source's first snapshot; a source that fails before it gives its error.
    pub fn first(&mut self, timeout: Duration) -> Result<Snapshot> {
        match self.snapshots.recv_timeout(timeout) {
            Ok(s) => Ok(s),
            Err(_) => {
                let outcome = self.thread.take().map(|t| t.join());
                match outcome {
                    Some(Ok(Err(e))) => Err(e),
                    Some(Err(_)) => anyhow::bail!("the session thread panicked"),
                    _ => anyhow::bail!("no frame from the session within {timeout:?}"),
                }
            }
        }
    }

    /// Asks the source to stop and waits for it (recordings are finished on the way out).
    pub fn close(self) -> Result<()> {
        let Link {
            commands,
            snapshots,
            thread,
        } = self;
        let _ = commands.send(Command::Quit);
        // A source blocked on a full queue wakes up to a closed one.
        drop(snapshots);
        match thread.map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => anyhow::bail!("the session thread panicked"),
            None => Ok(()),
        }
    }

    /// Spawns `body` on its own thread with a fresh pair of queues.
    pub fn spawn(
        name: &str,
        body: impl FnOnce(Receiver<Command>, Sender<Snapshot>) -> Result<()> + Send + 'static,
    ) -> Result<Self> {
        let (commands, command_rx) = unbounded();
        // Two snapshots at most in flight: a window that falls behind sees newer ones later.
        let (snapshot_tx, snapshots) = bounded(2);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || body(command_rx, snapshot_tx))
            .context("starting a thread")?;
        Ok(Self {
            commands,
            snapshots,
            thread: Some(thread),
        })
    }
}
