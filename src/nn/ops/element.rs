//! The element types the ops run on (f32, and f64 for the finite-difference checks), and how
//! work is cut into chunks.

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
    + super::blas::Gemm
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
