//! Convolution and max-pooling as candle custom ops, forward and backward written here.
//!
//! Why not candle's own: its strided `conv2d` backward fails whenever (H−k) mod s differs from
//! (W−k) mod s (it derives the width's output padding from the height), which PilotNet's exact
//! 66×200 input hits; and its `max_pool2d` backward multiplies the gradient by the fraction of
//! window elements that equal the maximum instead of routing it to the maximum, so gradients come
//! out 1/k² of their value. Both ops here work for every stride, padding and odd or even size,
//! in f32 and f64 (f64 is what the finite-difference checks use).
//!
//! Convolution is im2col + one matrix product per sample (single-threaded OpenBLAS, see
//! [`blas`]), samples split over the rayon pool in fixed contiguous chunks, one scratch buffer
//! per chunk; at batch 1 the product's rows are split over the pool instead. A ReLU after the
//! convolution is fused into it.
//! Fixed chunks make every reduction (weight and bias gradients) sum in the same order whatever
//! the scheduling, so training is bit-for-bit repeatable.

mod blas;
mod conv;
mod pool;

pub use conv::{Conv2dSpec, conv2d};
pub use pool::max_pool2d;

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
    fn slice<'a>(storage: &'a CpuStorage, layout: &Layout, what: &str) -> Result<&'a [Self]>;
}

fn contiguous<'a, T>(values: &'a [T], layout: &Layout, what: &str) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&values[start..end]),
        None => bail!("{what}: expected a contiguous tensor"),
    }
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    fn slice<'a>(storage: &'a CpuStorage, layout: &Layout, what: &str) -> Result<&'a [Self]> {
        match storage {
            CpuStorage::F32(v) => contiguous(v, layout, what),
            other => bail!("{what}: expected f32, got {:?}", other.dtype()),
        }
    }
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    fn slice<'a>(storage: &'a CpuStorage, layout: &Layout, what: &str) -> Result<&'a [Self]> {
        match storage {
            CpuStorage::F64(v) => contiguous(v, layout, what),
            other => bail!("{what}: expected f64, got {:?}", other.dtype()),
        }
    }
}

/// Splits `items` into at most `rayon::current_num_threads()` contiguous chunks, the same for
/// the same count: `(start, end)` pairs.
pub(crate) fn fixed_chunks(items: usize) -> Vec<(usize, usize)> {
    let parts = rayon::current_num_threads().clamp(1, items.max(1));
    (0..parts)
        .map(|p| (p * items / parts, (p + 1) * items / parts))
        .filter(|(a, b)| b > a)
        .collect()
}
