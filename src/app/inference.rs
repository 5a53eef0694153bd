//! Networks on their own threads, so that neither the simulation nor the window ever waits
//! for one. Frames go in through a bounded queue with their ids; a worker takes the newest and
//! answers with what its network made of it and the latency. Frames that are never inferred
//! are counted (queue full when offered, or overtaken by a newer frame while queued), never
//! dropped silently. One worker steers (the policy), another may detect objects.

use crate::drive::Policy;
use crate::nn::models::detect::boxes::Detection;
use crate::nn::models::detect::{DetectOptions, Detector};
use crate::nn::{SpeedDistribution, SteeringDistribution};
use crate::sim::Frame;
use crate::sim::map_input::Command;
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a network made of one frame.
#[derive(Clone, Debug)]
pub struct Inferred<T> {
    /// The id (tick) of the frame inferred.
    pub frame_id: u64,
    pub value: T,
    /// From the frame being offered to the answer being ready.
    pub latency: Duration,
}

type Answer<T> = Result<Inferred<T>, String>;

/// What a network is offered at a tick: the camera frame, and for a policy that reads them the
/// map patch cut at the car's believed pose and the navigation command.
#[derive(Clone, Debug)]
pub struct Sight {
    pub frame: Arc<Frame>,
    pub map: Option<Arc<Frame>>,
    pub command: Command,
    /// The car's wheel speed, m/s (its odometry's reading).
    pub wheel_speed_m_s: f64,
}

impl Sight {
    /// A camera frame alone.
    pub fn camera(frame: Arc<Frame>) -> Self {
        Self {
            frame,
            map: None,
            command: Command::Follow,
            wheel_speed_m_s: 0.0,
        }
    }
}

struct Job {
    frame_id: u64,
    sight: Sight,
    offered: Instant,
}

/// An inference thread and its two queues.
pub struct Worker<T> {
    jobs: Option<Sender<Job>>,
    results: Receiver<Answer<T>>,
    skipped: Arc<AtomicU64>,
    offered: u64,
    thread: Option<JoinHandle<()>>,
}

/// Frames waiting for a worker at most (the newest is inferred, older ones are skipped).
const QUEUE: usize = 2;

impl<T: Send + 'static> Worker<T> {
    /// Starts a thread named `name` answering each frame with `infer`.
    pub fn spawn(
        name: &str,
        mut infer: impl FnMut(&Sight) -> anyhow::Result<T> + Send + 'static,
    ) -> std::io::Result<Self> {
        let (jobs, job_rx) = bounded::<Job>(QUEUE);
        let (result_tx, results) = bounded(16);
        let skipped = Arc::new(AtomicU64::new(0));
        let counter = skipped.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                while let Ok(mut job) = job_rx.recv() {
                    // Take the newest frame queued; the older ones are skipped.
                    while let Ok(newer) = job_rx.try_recv() {
                        counter.fetch_add(1, Ordering::Relaxed);
                        job = newer;
                    }
                    let answer = infer(&job.sight)
                        .map(|value| Inferred {
                            frame_id: job.frame_id,
                            value,
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

    /// Offers what the car sees at frame `frame_id`; returns at once. A full queue counts the
    /// frame as skipped.
    pub fn offer(&mut self, frame_id: u64, sight: Sight) {
        self.offered += 1;
        let job = Job {
            frame_id,
            sight,
            offered: Instant::now(),
        };
        if let Some(jobs) = &self.jobs
            && let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = jobs.try_send(job)
        {
            self.skipped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every answer ready now, oldest first (an `Err` when inference failed).
    pub fn answers(&self) -> Vec<Answer<T>> {
        self.results.try_iter().collect()
    }

    /// The answers ready now and those arriving before `deadline`, until one for frame
    /// `frame_id` (or a later one, or a failure) is among them.
    pub fn answers_until(&self, frame_id: u64, deadline: Instant) -> Vec<Answer<T>> {
        let mut out = self.answers();
        let done = |a: &Answer<T>| a.as_ref().map_or(true, |a| a.frame_id >= frame_id);
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

impl<T> Drop for Worker<T> {
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

/// The policy's answer: its distribution and the curvature it chose from it (mode, mean or a
/// sample, as the policy is set); when it sets the speed, its mixture over target speed and
/// the speed it chose.
#[derive(Clone, Debug)]
pub struct Steering {
    pub distribution: SteeringDistribution,
    pub curvature_per_m: f64,
    pub speed: Option<(SpeedDistribution, f64)>,
}

/// A worker steering with `policy`.
pub fn policy_worker(mut policy: Policy) -> std::io::Result<Worker<Steering>> {
    Worker::spawn("steerlab-policy", move |sight| {
        let (distribution, speed) = policy.distributions(&crate::drive::policy::PolicyInputs {
            frame: &sight.frame,
            map: sight.map.as_deref(),
            command: sight.command,
            wheel_speed_m_s: sight.wheel_speed_m_s,
        })?;
        Ok(Steering {
            curvature_per_m: policy.curvature(&distribution),
            speed: speed.map(|d| {
                let v = policy.target_speed(&d);
                (d, v)
            }),
            distribution,
        })
    })
}

/// A worker detecting objects with `detector` (boxes of the frame, best first).
pub fn detector_worker(detector: Detector) -> std::io::Result<Worker<Vec<Detection>>> {
    let options = DetectOptions::default();
    Worker::spawn("steerlab-detector", move |sight| {
        let frame = &sight.frame;
        let input = detector.config.input;
        anyhow::ensure!(
            (frame.width as usize, frame.height as usize) == (input.width, input.height),
            "the detector reads {}x{} frames, the camera gives {}x{}",
            input.width,
            input.height,
            frame.width,
            frame.height
        );
        let images = crate::nn::data::dataset::frames_to_tensor(&[frame.as_ref()])?;
        Ok(detector.detect(&images, &options)?.remove(0))
    })
}
