//! Matrix products through the OpenBLAS linked by `build.rs`, one thread per call.
//!
//! Measured on this project's 2-core AMD EPYC (AVX2/FMA) for the convolution shapes of
//! PilotNet (e.g. 36×658×600): OpenBLAS sgemm 72–82 GFLOP/s per core, the `gemm` crate
//! candle uses 23–43 GFLOP/s. The ops parallelise over samples or rows themselves and call
//! OpenBLAS from several threads at once, so its own threading is set to one thread (and its
//! build must be one with locking: Debian's pthread build).
//!
//! The kernels are chosen by the processor's feature flags ([`select_kernels`]): OpenBLAS's own
//! choice goes by model number and falls back to SSE3 kernels on models it does not know.

use std::os::raw::c_int;

const ROW_MAJOR: c_int = 101;
const NO_TRANS: c_int = 111;
const TRANS: c_int = 112;

unsafe extern "C" {
    fn openblas_set_num_threads(threads: c_int);
    fn openblas_get_corename() -> *const std::os::raw::c_char;
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

/// The widest vector instructions a set of GEMM kernels uses (x86-64), or NEON (aarch64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    Sse,
    Avx,
    Avx2,
    Avx512,
    Neon,
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Isa::Sse => "SSE",
            Isa::Avx => "AVX",
            Isa::Avx2 => "AVX2/FMA",
            Isa::Avx512 => "AVX-512",
            Isa::Neon => "NEON",
        })
    }
}

/// The instructions OpenBLAS's kernels for a core (its name, e.g. "Haswell") use.
pub fn kernel_isa(core: &str) -> Isa {
    match core.to_ascii_lowercase().as_str() {
        "skylakex" | "cooperlake" | "sapphirerapids" => Isa::Avx512,
        "haswell" | "zen" | "excavator" => Isa::Avx2,
        "sandybridge" | "bulldozer" | "piledriver" | "steamroller" => Isa::Avx,
        _ if cfg!(target_arch = "aarch64") => Isa::Neon,
        _ => Isa::Sse,
    }
}

/// The widest instructions this processor (and its operating system) can run, from its
/// feature flags.
pub fn cpu_isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512bw") && has!("avx512dq") && has!("avx512vl") {
            return Isa::Avx512;
        }
        if has!("avx2") && has!("fma") {
            return Isa::Avx2;
        }
        if has!("avx") {
            return Isa::Avx;
        }
        Isa::Sse
    }
    #[cfg(target_arch = "aarch64")]
    {
        Isa::Neon
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        Isa::Sse
    }
}

/// The OpenBLAS core whose kernels to run instead of `library_choice` on a processor that can
/// run `cpu`, or `None` where OpenBLAS's own choice already uses the widest instructions.
/// OpenBLAS picks kernels by processor model number, and a model its table does not know (a
/// newer Xeon, a virtual machine's generic model) falls back to SSE3 kernels three times
/// slower than the processor allows; the feature flags do not depend on the model.
pub fn better_core(cpu: Isa, library_choice: &str) -> Option<&'static str> {
    if cpu == Isa::Neon || kernel_isa(library_choice) >= cpu {
        return None;
    }
    match cpu {
        Isa::Avx512 => Some("SkylakeX"),
        Isa::Avx2 => Some("Haswell"),
        Isa::Avx => Some("Sandybridge"),
        Isa::Sse | Isa::Neon => None,
    }
}

/// How the kernels in use were chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// OpenBLAS's own detection, which matched the processor's features.
    Library,
    /// Chosen from the processor's features over OpenBLAS's choice of `from`.
    Features { from: String },
    /// Set by the user through `OPENBLAS_CORETYPE`.
    Forced { value: String },
}

/// The GEMM kernels in use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kernels {
    /// OpenBLAS's name for them ("Haswell", "SkylakeX", …).
    pub name: String,
    pub isa: Isa,
    /// The processor's widest instructions.
    pub cpu: Isa,
    pub choice: Choice,
}

impl std::fmt::Display for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}", self.name, self.isa)?;
        match &self.choice {
            Choice::Library => write!(f, ", OpenBLAS's own choice)"),
            Choice::Features { from } => write!(
                f,
                ", chosen from the CPU's features; OpenBLAS's own detection picked {from})"
            ),
            Choice::Forced { value } if self.isa < self.cpu => write!(
                f,
                ", forced by OPENBLAS_CORETYPE={value}; this CPU has {}: unset the variable \
                 for kernels that use it)",
                self.cpu
            ),
            Choice::Forced { value } => write!(f, ", forced by OPENBLAS_CORETYPE={value})"),
        }
    }
}

#[cfg(openblas_dynamic_arch)]
unsafe extern "C" {
    fn gotoblas_dynamic_init();
    fn gotoblas_dynamic_quit();
}

fn core_name() -> String {
    // SAFETY: OpenBLAS returns a pointer to a static NUL-terminated name.
    unsafe { std::ffi::CStr::from_ptr(openblas_get_corename()) }
        .to_string_lossy()
        .into_owned()
}

/// Runs OpenBLAS's start-up kernel selection again with `OPENBLAS_CORETYPE=core` (the only way
/// into its table of cores), then restores the variable.
///
/// # Safety
/// No BLAS call may run meanwhile, and no other thread may read the environment through C's
/// `getenv` (Rust's own readers are locked).
#[cfg(openblas_dynamic_arch)]
unsafe fn reselect(core: &str) {
    const VAR: &str = "OPENBLAS_CORETYPE";
    let before = std::env::var_os(VAR);
    // SAFETY: the caller guarantees no concurrent BLAS call or C reader of the environment;
    // `gotoblas_dynamic_quit` only clears the selection, `gotoblas_dynamic_init` selects by the
    // variable and fills in that core's blocking parameters.
    unsafe {
        std::env::set_var(VAR, core);
        gotoblas_dynamic_quit();
        gotoblas_dynamic_init();
        match before {
            Some(v) => std::env::set_var(VAR, v),
            None => std::env::remove_var(VAR),
        }
    }
}

/// Chooses the kernels once per process (see [`better_core`]) and sets OpenBLAS to run each
/// call on the calling thread. Runs before the first product; `main` calls it first thing,
/// before other threads exist.
pub fn select_kernels() -> &'static Kernels {
    static KERNELS: std::sync::OnceLock<Kernels> = std::sync::OnceLock::new();
    KERNELS.get_or_init(|| {
        let cpu = cpu_isa();
        let library = core_name();
        let choice = match std::env::var("OPENBLAS_CORETYPE") {
            Ok(value) if !value.is_empty() => Choice::Forced { value },
            _ => match better_core(cpu, &library).filter(|_| cfg!(openblas_dynamic_arch)) {
                #[cfg(openblas_dynamic_arch)]
                Some(core) => {
                    // SAFETY: inside the once-only initialiser every product waits for, so no
                    // BLAS call runs; `main` reaches it before other threads exist.
                    unsafe { reselect(core) };
                    Choice::Features { from: library }
                }
                _ => Choice::Library,
            },
        };
        // SAFETY: a plain setter of OpenBLAS's thread count, before any product.
        unsafe { openblas_set_num_threads(1) };
        let name = core_name();
        Kernels {
            isa: kernel_isa(&name),
            name,
            cpu,
            choice,
        }
    })
}

/// The kernels in use (choosing them first if no product has run yet).
pub fn kernels() -> &'static Kernels {
    select_kernels()
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
                select_kernels();
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

    #[test]
    fn features_outrank_model_numbers() {
        assert_eq!(better_core(Isa::Avx512, "Prescott"), Some("SkylakeX"));
        assert_eq!(better_core(Isa::Avx512, "Haswell"), Some("SkylakeX"));
        assert_eq!(better_core(Isa::Avx2, "Prescott"), Some("Haswell"));
        assert_eq!(better_core(Isa::Avx2, "Sandybridge"), Some("Haswell"));
        assert_eq!(better_core(Isa::Avx, "Core2"), Some("Sandybridge"));
        assert_eq!(better_core(Isa::Avx512, "Cooperlake"), None);
        assert_eq!(better_core(Isa::Avx2, "Zen"), None);
        assert_eq!(better_core(Isa::Avx2, "SkylakeX"), None);
        assert_eq!(better_core(Isa::Sse, "Prescott"), None);
    }

    /// On a CPU with AVX2 the kernels in use are not SSE-only (unless the user forced them).
    #[test]
    fn kernels_fit_the_processor() {
        let k = kernels();
        if !matches!(k.choice, Choice::Forced { .. }) {
            assert!(k.isa >= k.cpu.min(Isa::Avx512), "{k}");
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                assert!(k.isa >= Isa::Avx2, "{k}");
            }
        }
    }

    /// Where OpenBLAS's own detection picked SSE3 kernels, the selection replaces them with the
    /// widest the processor runs, and products stay right. Run in a child process of this test
    /// binary, where nothing else uses BLAS meanwhile.
    #[test]
    #[cfg(openblas_dynamic_arch)]
    fn misdetected_processor_gets_feature_kernels() {
        const CHILD: &str = "STEERLAB_BLAS_MISDETECTED_CHILD";
        let name = "nn::ops::blas::tests::misdetected_processor_gets_feature_kernels";
        if std::env::var_os(CHILD).is_none() {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args([name, "--exact", "--test-threads=1", "--nocapture"])
                .env(CHILD, "1")
                .env_remove("OPENBLAS_CORETYPE")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(text.contains("1 passed"), "the child ran no test: {text}");
            return;
        }
        // Make OpenBLAS's own choice the SSE3 fallback, as on a model it does not know.
        // SAFETY: this child process runs this test alone; nothing else calls BLAS.
        unsafe { reselect("Prescott") };
        assert_eq!(core_name(), "Prescott");
        let chosen = select_kernels();
        println!("{chosen}");
        if cpu_isa() >= Isa::Avx {
            assert_eq!(
                chosen.choice,
                Choice::Features {
                    from: "Prescott".into()
                }
            );
            assert_eq!(chosen.isa, cpu_isa());
        }
        let (m, n, k) = (7usize, 33usize, 19usize);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 11) as f32 - 5.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.5).collect();
        let op = |data, ld| Operand {
            data,
            ld,
            transposed: false,
        };
        let mut c = vec![0.0f32; m * n];
        f32::gemm(m, n, k, op(&a, k), op(&b, n), &mut c, n, false);
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
                assert_eq!(c[i * n + j], want);
            }
        }
    }

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
