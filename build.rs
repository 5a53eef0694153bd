//! Links OpenBLAS statically: its sgemm/dgemm feed the convolution ops (`src/nn/ops`), which
//! run their own threads and call it from several at once. Debian's pthread build is used (its
//! serial build has no locking and corrupts results when called concurrently); the ops set its
//! own thread count to one. Debian/Ubuntu: `libopenblas-pthread-dev`, installed by
//! `scripts/setup.sh`.

use std::path::Path;

const DIRS: [&str; 3] = [
    "/usr/lib/x86_64-linux-gnu/openblas-pthread",
    "/usr/lib/aarch64-linux-gnu/openblas-pthread",
    "/usr/lib/openblas-pthread",
];

fn main() {
    println!("cargo:rerun-if-env-changed=STEERLAB_OPENBLAS_DIR");
    let custom = std::env::var("STEERLAB_OPENBLAS_DIR").ok();
    let found = custom
        .iter()
        .map(String::as_str)
        .chain(DIRS)
        .find(|d| Path::new(d).join("libopenblas.a").is_file());
    let Some(dir) = found else {
        panic!(
            "libopenblas.a (OpenBLAS, pthread build) not found in {}: run `make setup` or \
             `apt-get install libopenblas-pthread-dev`, or set STEERLAB_OPENBLAS_DIR to the \
             folder holding a thread-safe libopenblas.a",
            DIRS.join(", ")
        );
    };
    println!("cargo:rerun-if-changed={dir}/libopenblas.a");
    // A dynamic-architecture build (Debian's) carries every kernel set and lets the ops choose
    // one by the CPU's features (`src/nn/ops/blas.rs`); a build for one CPU has only its own.
    println!("cargo::rustc-check-cfg=cfg(openblas_dynamic_arch)");
    let archive = std::fs::read(Path::new(dir).join("libopenblas.a")).unwrap_or_default();
    let needle = b"gotoblas_dynamic_init";
    if archive.windows(needle.len()).any(|w| w == needle) {
        println!("cargo:rustc-cfg=openblas_dynamic_arch");
    }
    println!("cargo:rustc-link-search=native={dir}");
    println!("cargo:rustc-link-lib=static=openblas");
    println!("cargo:rustc-link-lib=dylib=pthread");
}
