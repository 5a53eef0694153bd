//! Where tensors live and how the process runs candle: the one place to change for a GPU build,
//! and the thread and allocator settings training depends on.

/// The device every tensor lives on; the one place to change for a GPU build.
pub fn device() -> candle_core::Device {
    candle_core::Device::Cpu
}

/// Runs candle's own element-wise ops on the calling thread (`CANDLE_NUM_THREADS=1` unless
/// set). The heavy work (convolution, pooling) runs in `ops` on the rayon pool; candle's ops
/// here are small (dense layers, the mixture head, AdamW), and candle's pool workers spin for
/// 25,000 pauses after each op, taking a core from the rayon pool on a small machine: on two
/// cores a PilotNet training step went from 817–1066 to 1034–1076 samples/s without them.
///
/// # Safety
/// Sets an environment variable: call before any other thread exists.
pub unsafe fn serial_candle_ops() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: the caller guarantees no other thread exists yet.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
}

/// Makes glibc's allocator keep freed memory for reuse instead of returning each large block
/// to the kernel. Every tensor op allocates its result; a training step allocates and frees
/// hundreds of megabytes, and with glibc's defaults (blocks over 32 MB mapped and unmapped
/// each time, free heap above 64 MB trimmed) each reuse paid page faults and zeroing again.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_TRIM_THRESHOLD: std::os::raw::c_int = -1;
        const M_MMAP_THRESHOLD: std::os::raw::c_int = -3;
        unsafe extern "C" {
            fn mallopt(
                param: std::os::raw::c_int,
                value: std::os::raw::c_int,
            ) -> std::os::raw::c_int;
        }
        // SAFETY: mallopt only changes allocator thresholds; it is called before training.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 512 << 20);
            mallopt(M_TRIM_THRESHOLD, i32::MAX);
        }
    }
}
