fn main() -> std::process::ExitCode {
    quiet_vulkan_loader();
    end_quietly_on_closed_pipe();
    cheap_library_backtraces();
    steerlab::nn::keep_freed_memory();
    // First thing in `main`, before any other thread exists (it may set an environment
    // variable for OpenBLAS while it re-runs its kernel selection).
    steerlab::nn::ops::select_kernels();
    // SAFETY: first thing in `main`, before any other thread exists.
    unsafe { steerlab::nn::serial_candle_ops() };
    match steerlab::cli::main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// `steerlab … | head` ends the way command-line tools do when the reader goes away (SIGPIPE's
/// default action) instead of panicking in `println!`; files are written through temporary
/// names, so nothing half-written is left.
fn end_quietly_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: first thing in `main`, before any other thread exists; restores the default.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Mesa's window-system code complains on every device creation when `XDG_RUNTIME_DIR` is
/// unset (typical on servers and in containers); point it at a private directory.
fn quiet_vulkan_loader() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
    let dir = std::env::temp_dir().join(format!("steerlab-runtime-{user}"));
    #[cfg(unix)]
    let created = {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&dir)
            .is_ok()
    };
    #[cfg(not(unix))]
    let created = std::fs::create_dir_all(&dir).is_ok();
    if created {
        // SAFETY: called first thing in `main`, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}

/// Bevy builds an error value, with a captured backtrace, on paths it then ignores every
/// frame; with `RUST_BACKTRACE=1` that cost about 1 ms per frame (`bench sim`). Library
/// backtraces are turned off unless asked for with `RUST_LIB_BACKTRACE`; panics still print
/// theirs as `RUST_BACKTRACE` says.
fn cheap_library_backtraces() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: called first thing in `main`, before any other thread exists.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
}
