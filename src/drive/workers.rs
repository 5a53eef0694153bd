//! Drives side by side: independent drives (an evaluation's scenarios, a collection's drives)
//! on as many threads as the machine has cores, each in a world of its own. One world keeps
//! about one core busy (rendering, then the policy), so two cores drive almost twice as fast.
//! A drive's result never depends on how many run at once or in which order.

use crate::drive::policy::Policy;
use crate::error::{Error, Result};
use crate::sim::DartNoise;

/// Worlds driven at once, at most (each holds a renderer, ~0.4 GB).
pub const MAX_WORKERS: usize = 8;

/// The environment variable that sets how many worlds drive at once (default: one per core).
pub const WORKERS_VARIABLE: &str = "STEERLAB_WORKERS";

/// How many of `jobs` drives run at once: one per core, or [`WORKERS_VARIABLE`]; at most
/// [`MAX_WORKERS`] and at most one per drive.
pub fn workers(jobs: usize) -> usize {
    let chosen = std::env::var(WORKERS_VARIABLE)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    chosen.min(MAX_WORKERS).min(jobs).max(1)
}

/// Who drives each of a batch of drives, as a value threads can share: the pilot of every
/// drive is made from it afresh.
#[derive(Clone, Copy)]
pub enum Driver<'a> {
    Expert(DartNoise),
    Policy(&'a Policy),
    Mixture { policy: &'a Policy, beta: f64 },
}

enum Report<T> {
    Progress(usize, u64, f64),
    Done(usize, Result<T>),
}

/// Runs `job(k, progress)` for every `k` in `0..jobs` on [`workers`] threads;
/// `progress(k, ticks, metres)` is called on this thread. The results in job order, or the
/// error of the first job that failed (no new job starts after a failure).
pub fn run<T: Send>(
    jobs: usize,
    job: &(dyn Fn(usize, &mut dyn FnMut(u64, f64)) -> Result<T> + Sync),
    progress: &mut dyn FnMut(usize, u64, f64),
) -> Result<Vec<T>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut results: Vec<Option<Result<T>>> = (0..jobs).map(|_| None).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers(jobs) {
            let (tx, next, failed) = (tx.clone(), &next, &failed);
            scope.spawn(move || {
                use std::sync::atomic::Ordering::Relaxed;
                loop {
                    let k = next.fetch_add(1, Relaxed);
                    if k >= jobs || failed.load(Relaxed) {
                        break;
                    }
                    let result = job(k, &mut |t, m| {
                        let _ = tx.send(Report::Progress(k, t, m));
                    });
                    failed.fetch_or(result.is_err(), Relaxed);
                    let _ = tx.send(Report::Done(k, result));
                }
            });
        }
        drop(tx);
        for report in rx {
            match report {
                Report::Progress(k, t, m) => progress(k, t, m),
                Report::Done(k, result) => results[k] = Some(result),
            }
        }
    });
    let mut out = Vec::with_capacity(jobs);
    let mut skipped = None;
    for (k, result) in results.into_iter().enumerate() {
        match result {
            Some(Ok(r)) => out.push(r),
            Some(Err(e)) => return Err(e),
            None => skipped = skipped.or(Some(k)),
        }
    }
    match skipped {
        None => Ok(out),
        Some(k) => Err(Error::InvalidArgument(format!(
            "drive {k} did not run: another failed"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_job_order_with_the_first_error() {
        let squares = run(
            7,
            &|k, progress| {
                progress(k as u64, 0.0);
                Ok(k * k)
            },
            &mut |_, _, _| {},
        )
        .unwrap();
        assert_eq!(squares, vec![0, 1, 4, 9, 16, 25, 36]);
        let failed = run(
            5,
            &|k, _| {
                if k == 2 {
                    Err(Error::InvalidArgument("two".into()))
                } else {
                    Ok(k)
                }
            },
            &mut |_, _, _| {},
        );
        assert!(failed.unwrap_err().to_string().contains("two"));
    }
}
