//! Wall time spent inside each op since the last [`take_profile`], for `bench train`'s report
//! of where a training step goes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The ops timed, in report order.
pub const NAMES: [&str; 6] = [
    "conv forward",
    "conv backward",
    "max-pool forward",
    "max-pool gradient",
    "dense forward",
    "dense backward",
];
static NANOS: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];

/// Runs `f`, adding its wall time to slot `slot`.
pub(crate) fn timed<R>(slot: usize, f: impl FnOnce() -> R) -> R {
    let started = Instant::now();
    let result = f();
    NANOS[slot].fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    result
}

/// Seconds per op since the last call, and resets them.
pub fn take_profile() -> [f64; 6] {
    std::array::from_fn(|i| NANOS[i].swap(0, Ordering::Relaxed) as f64 * 1e-9)
}
