//! Convolution, max-pooling and dense layers as candle custom ops, forward and backward
//! written here.
//!
//! Why not candle's own: its strided `conv2d` backward fails whenever (H−k) mod s differs from
//! (W−k) mod s (it derives the width's output padding from the height), which PilotNet's exact
//! 66×200 input hits; and its `max_pool2d` backward multiplies the gradient by the fraction of
//! window elements that equal the maximum instead of routing it to the maximum, so gradients come
//! out 1/k² of their value. Both ops here work for every stride, padding and odd or even size,
//! in f32 and f64 (f64 is what the finite-difference checks use).
//!
//! Convolution is im2col + one matrix product per sample (OpenBLAS, one thread per call, see
//! [`blas`]), samples split over the rayon pool in fixed contiguous chunks, one scratch buffer
//! per chunk; at batch 1 the product's rows are split over the pool instead. A ReLU after the
//! convolution is fused into it.
//! Fixed chunks make every reduction (weight and bias gradients) sum in the same order whatever
//! the scheduling, so training is bit-for-bit repeatable.

/// Runs `$body` with `$t` bound to the element type of storage `$s`, wrapping the returned
/// values back into a storage of that type.
macro_rules! dispatch {
    ($what:literal, $s:expr, |$t:ident| $body:expr) => {
        match $s {
            CpuStorage::F32(_) => {
                type $t = f32;
                CpuStorage::F32($body)
            }
            CpuStorage::F64(_) => {
                type $t = f64;
                CpuStorage::F64($body)
            }
            other => bail!("{}: unsupported dtype {:?}", $what, other.dtype()),
        }
    };
}

mod blas;
mod conv;
mod conv_transpose;
mod linear;
mod pool;
mod roi;

pub use blas::{Choice, Isa, Kernels, kernels as blas_kernels, select_kernels};
pub use conv::{Conv2dSpec, conv2d, conv2d_of_affine};
pub use conv_transpose::conv_transpose2d;
pub use linear::linear;
pub use pool::max_pool2d;
pub use roi::{Roi, roi_align};

/// Wall time spent inside each op since the last [`take_profile`], for `bench train`'s report
/// of where a training step goes.
pub mod profile {
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
}

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, Layout, Result, bail};

/// The element types the ops run on.
pub(crate) trait Real:
    Copy
    + Send
    + Sync
    + 'static
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::AddAssign
    + std::fmt::Debug
    + blas::Gemm
{
    const ZERO: Self;
    const NEG_INFINITY: Self;
    fn from_f64(v: f64) -> Self;
    fn slice<'a>(storage: &'a CpuStorage, layout: &Layout, what: &str) -> Result<&'a [Self]>;
}

fn contiguous<'a, T>(values: &'a [T], layout: &Layout, what: &str) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&values[start..end]),
        None => bail!("{what}: expected a contiguous tensor"),
    }
}

macro_rules! impl_real {
    ($t:ty, $variant:ident) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn slice<'a>(
                storage: &'a CpuStorage,
                layout: &Layout,
                what: &str,
            ) -> Result<&'a [Self]> {
                match storage {
                    CpuStorage::$variant(v) => contiguous(v, layout, what),
                    other => bail!(
                        "{what}: expected {}, got {:?}",
                        stringify!($t),
                        other.dtype()
                    ),
                }
            }
        }
    };
}

impl_real!(f32, F32);
impl_real!(f64, F64);

/// How many fixed chunks `items` samples are cut into: four per thread, so that work stealing
/// evens out a core that is busy elsewhere, and the same for the same count, so that sums over
/// chunks always add in the same order.
pub(crate) fn chunk_count(items: usize) -> usize {
    (4 * rayon::current_num_threads()).clamp(1, items.max(1))
}
