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
mod element;
mod linear;
mod pool;
pub mod profile;
mod roi;

pub use blas::{Choice, Isa, Kernels, kernels as blas_kernels, select_kernels};
pub use conv::{Conv2dSpec, conv2d, conv2d_of_affine};
pub use conv_transpose::conv_transpose2d;
pub use linear::linear;
pub use pool::max_pool2d;
pub use roi::{Roi, roi_align};
