//! Policy inference on its own thread, so that neither the simulation nor the window ever waits
//! for the network. Frames go in through a bounded queue with their ids; the worker takes the
//! newest and answers with the distribution, the curvature chosen from it and the latency.
//! Frames that are never inferred are counted (queue full when offered, or overtaken by a newer
//! frame while queued), never dropped silently.

use crate::drive::Policy;
use crate::nn::SteeringDistribution;
use crate::sim::Frame;
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the policy made of one frame.
#[derive(Clone, Debug)]
pub struct Inferred {
    /// The id (tick) of the frame inferred.
    pub frame_id: u64,
    pub distribution: SteeringDistribution,
    /// The curvature the policy chose from the distribution (its mode, mean or a sample), 1/m.
    pub curvature_per_m: f64,
    /// From the frame being offered to the answer being ready.
    pub latency: Duration,
}

struct Job {
    frame_id: u64,
    frame: Arc<Frame>,
    offered: Instant,
}

/// The inference thread and its two queues.
pub struct PolicyWorker {
    jobs: Option<Sender<Job>>,
    results: Receiver<Result<Inferred, String>>,
    skipped: Arc<AtomicU64>,
    offered: u64,
    thread: Option<JoinHandle<()>>,
}

/// Frames waiting for the worker at most (the newest is inferred, older ones are skipped).
const QUEUE: usize = 2;

impl PolicyWorker {
    /// Starts the worker thread with `policy`.
    pub fn spawn(mut policy: Policy) -> std::io::Result<Self> {
        let (jobs, job_rx) = bounded::<Job>(QUEUE);
        let (result_tx, results) = bounded(16);
        let skipped = Arc::new(AtomicU64::new(0));
        let counter = skipped.clone();
        let thread = std::thread::Builder::new()
            .name("steerlab-policy".into())
            .spawn(move || {
                while let Ok(mut job) = job_rx.recv() {
                    // Take the newest frame queued; the older ones are skipped.
                    while let Ok(newer) = job_rx.try_recv() {
                        counter.fetch_add(1, Ordering::Relaxed);
                        job = newer;
                    }
                    let answer = policy
                        .distribution(&job.frame)
                        .map(|distribution| Inferred {
                            frame_id: job.frame_id,
                            curvature_per_m: policy.curvature(&distribution),
                            distribution,
                            latency: job.offered.elapsed(),
                        })
                        .map_err(|e| format!("{e:#}"));
                    if result_tx.send(answer).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Self {
            jobs: Some(jobs),
            results,
            skipped,
            offered: 0,
            thread: Some(thread),
        })
    }

    /// Offers a frame; returns at once. A full queue counts the frame as skipped.
    pub fn offer(&mut self, frame_id: u64, frame: Arc<Frame>) {
        self.offered += 1;
        let job = Job {
            frame_id,
            frame,
            offered: Instant::now(),
        };
        if let Some(jobs) = &self.jobs
            && let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = jobs.try_send(job)
        {
            self.skipped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every answer ready now, oldest first (an `Err` when inference failed).
    pub fn answers(&self) -> Vec<Result<Inferred, String>> {
        self.results.try_iter().collect()
    }

    /// The answers ready now and those arriving before `deadline`, until one for frame
    /// `frame_id` (or a later one, or a failure) is among them.
    pub fn answers_until(&self, frame_id: u64, deadline: Instant) -> Vec<Result<Inferred, String>> {
        let mut out = self.answers();
        let done =
            |a: &Result<Inferred, String>| a.as_ref().map_or(true, |a| a.frame_id >= frame_id);
        while !out.iter().any(done) {
            match self.results.recv_deadline(deadline) {
                Ok(a) => out.push(a),
                Err(_) => break,
            }
        }
        out
    }

    /// Frames offered so far, and how many of them were never inferred.
    pub fn counts(&self) -> (u64, u64) {
        (self.offered, self.skipped.load(Ordering::Relaxed))
    }
}

impl Drop for PolicyWorker {
    fn drop(&mut self) {
        // Closing the job queue ends the worker's loop.
        self.jobs.take();
        // Answers still queued would block a worker waiting to send; let them go.
        while self.results.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
