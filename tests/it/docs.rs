//! The README's Rust example is the code of `examples/drive.rs`, which `cargo test` builds.

use std::path::PathBuf;

fn read(path: &str) -> String {
    std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

#[test]
fn the_readme_rust_example_is_the_built_example() {
    let readme = read("README.md");
    let blocks: Vec<&str> = readme
        .split("```rust\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .collect();
    assert_eq!(
        blocks.len(),
        1,
        "one Rust block in the README, from examples/drive.rs"
    );
    let example = read("examples/drive.rs");
    let marked = example
        .split("// README begin\n")
        .nth(1)
        .and_then(|rest| rest.split("    // README end").next())
        .expect("examples/drive.rs marks the README's lines");
    let dedented: String = marked
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        blocks[0], dedented,
        "README.md and examples/drive.rs differ"
    );
}
