//! Matrix products through the OpenBLAS linked by `build.rs`, one thread per call.
//!
//! Measured on this project's 2-core AMD EPYC (AVX2/FMA) for the convolution shapes of
//! PilotNet (e.g. 36×658×600): OpenBLAS sgemm 72–82 GFLOP/s per core, the `gemm` crate
//! candle uses 23–43 GFLOP/s. The ops parallelise over samples or rows themselves and call
//! OpenBLAS from several threads at once, so its own threading is set to one thread (and its
//! build must be one with locking: Debian's pthread build).

use std::os::raw::c_int;

const ROW_MAJOR: c_int = 101;
const NO_TRANS: c_int = 111;
const TRANS: c_int = 112;

unsafe extern "C" {
    fn openblas_set_num_threads(threads: c_int);
    fn gotoblas_corename() -> *const std::os::raw::c_char;
    fn cblas_sgemm(
        order: c_int,
        trans_a: c_int,
        trans_b: c_int,
        m: c_int,
        n: c_int,
        k: c_int,
        alpha: f32,
        a: *const f32,
        lda: c_int,
        b: *const f32,
        ldb: c_int,
        beta: f32,
        c: *mut f32,
        ldc: c_int,
    );
    fn cblas_dgemm(
        order: c_int,
        trans_a: c_int,
        trans_b: c_int,
        m: c_int,
        n: c_int,
        k: c_int,
        alpha: f64,
        a: *const f64,
        lda: c_int,
        b: *const f64,
        ldb: c_int,
        beta: f64,
        c: *mut f64,
        ldc: c_int,
    );
}

/// A row-major matrix operand: `data` with leading dimension `ld`, transposed or not.
#[derive(Clone, Copy)]
pub(crate) struct Operand<'a, T> {
    pub data: &'a [T],
    pub ld: usize,
    pub transposed: bool,
}

/// The element types BLAS multiplies.
pub(crate) trait Gemm: Sized + Copy {
    /// `c (m×n, leading dimension ldc) = [c +] a (m×k) · b (k×n)`.
    fn gemm(
        m: usize,
        n: usize,
        k: usize,
        a: Operand<Self>,
        b: Operand<Self>,
        c: &mut [Self],
        ldc: usize,
        accumulate: bool,
    );
}

/// Elements a row-major operand of `rows`×`cols` (as stored) spans with leading dimension `ld`.
fn span(rows: usize, cols: usize, ld: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * ld + cols
    }
}

fn check<T>(m: usize, n: usize, k: usize, a: &Operand<T>, b: &Operand<T>, c: &[T], ldc: usize) {
    let (ar, ac) = if a.transposed { (k, m) } else { (m, k) };
    let (br, bc) = if b.transposed { (n, k) } else { (k, n) };
    assert!(
        a.ld >= ac.max(1) && b.ld >= bc.max(1) && ldc >= n.max(1),
        "gemm: leading dimension too small"
    );
    assert!(
        a.data.len() >= span(ar, ac, a.ld) && b.data.len() >= span(br, bc, b.ld),
        "gemm: operand too short"
    );
    assert!(c.len() >= span(m, n, ldc), "gemm: output too short");
    assert!(
        [m, n, k, a.ld, b.ld, ldc]
            .iter()
            .all(|&v| v <= c_int::MAX as usize),
        "gemm: dimension too large"
    );
}

/// The kernels OpenBLAS runs, by its name for them ("Haswell", "SkylakeX", …), and a warning
/// when `OPENBLAS_CORETYPE` forces kernels without AVX-512 on a CPU that has it.
pub fn kernels() -> String {
    // SAFETY: returns a pointer to a static NUL-terminated name (dynamic-architecture builds).
    let name = unsafe { std::ffi::CStr::from_ptr(gotoblas_corename()) }
        .to_string_lossy()
        .into_owned();
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && !matches!(name.as_str(), "SkylakeX" | "Cooperlake" | "SapphireRapids")
    {
        if let Ok(forced) = std::env::var("OPENBLAS_CORETYPE") {
            return format!(
                "{name} (forced by OPENBLAS_CORETYPE={forced}; this CPU has AVX-512, which \
                 OpenBLAS uses when the variable is unset)"
            );
        }
    }
    name
}

/// Sets OpenBLAS to run each call on the calling thread, once per process.
fn single_threaded() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: a plain setter of OpenBLAS's thread count, called once before any product.
    ONCE.call_once(|| unsafe { openblas_set_num_threads(1) });
}

macro_rules! impl_gemm {
    ($t:ty, $f:ident) => {
        impl Gemm for $t {
            fn gemm(
                m: usize,
                n: usize,
                k: usize,
                a: Operand<Self>,
                b: Operand<Self>,
                c: &mut [Self],
                ldc: usize,
                accumulate: bool,
            ) {
                if m == 0 || n == 0 {
                    return;
                }
                check(m, n, k, &a, &b, c, ldc);
                single_threaded();
                let trans = |t: bool| if t { TRANS } else { NO_TRANS };
                // SAFETY: `check` proved every operand spans at least the elements BLAS reads
                // or writes for these sizes and leading dimensions, and all fit a C int; `c` is
                // a unique borrow, so it aliases neither input.
                unsafe {
                    $f(
                        ROW_MAJOR,
                        trans(a.transposed),
                        trans(b.transposed),
                        m as c_int,
                        n as c_int,
                        k as c_int,
                        1.0,
                        a.data.as_ptr(),
                        a.ld as c_int,
                        b.data.as_ptr(),
                        b.ld as c_int,
                        if accumulate { 1.0 } else { 0.0 },
                        c.as_mut_ptr(),
                        ldc as c_int,
                    )
                }
            }
        }
    };
}

impl_gemm!(f32, cblas_sgemm);
impl_gemm!(f64, cblas_dgemm);

#[cfg(test)]
mod tests {
    use super::*;

    /// Two threads multiplying at once get exactly the single-threaded result (a BLAS build
    /// without locking shares its packing buffers and fails this).
    #[test]
    fn concurrent_calls_agree() {
        let (m, n, k) = (36usize, 300usize, 200usize);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.2).collect();
        let op = |data, ld| Operand {
            data,
            ld,
            transposed: false,
        };
        let mut reference = vec![0.0f32; m * n];
        f32::gemm(m, n, k, op(&a, k), op(&b, n), &mut reference, n, false);
        let mismatches = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let mut c = vec![0.0f32; m * n];
                    for _ in 0..2000 {
                        f32::gemm(m, n, k, op(&a, k), op(&b, n), &mut c, n, false);
                        if c != reference {
                            mismatches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(mismatches.into_inner(), 0);
    }
}
