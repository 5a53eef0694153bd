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

/// The guide's chapters (`docs/src/*.md` but `SUMMARY.md`), sorted.
fn chapters(root: &std::path::Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(root.join("docs/src"))
        .expect("docs/src")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .filter(|p| !p.ends_with("SUMMARY.md"))
        .collect();
    found.sort();
    found
}

/// mdBook's anchor of a heading: lower case, spaces to `-`, other punctuation dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// The lines of a Markdown text outside code blocks, numbered from 1.
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            out.push((n + 1, line));
        }
    }
    out
}

/// The anchors of a Markdown file's headings (outside code blocks).
fn anchors(text: &str) -> Vec<String> {
    prose(text)
        .into_iter()
        .filter(|(_, line)| line.starts_with('#'))
        .map(|(_, line)| slug(line.trim_start_matches('#')))
        .collect()
}

/// Every `[text](target)` of a Markdown text outside code blocks, with its line.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in prose(text) {
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push((n, after[..end].to_string()));
            rest = &after[end..];
        }
    }
    out
}

/// The repository paths a Markdown text names in backticks (`src/…`, `scenarios/…`, …), with
/// their lines: the guide's references to the code, which must not go stale.
fn named_paths(text: &str) -> Vec<(usize, String)> {
    const ROOTS: [&str; 10] = [
        "src/",
        "scenarios/",
        "tests/",
        "python/",
        "scripts/",
        "bench/",
        "deploy/",
        "examples/",
        "fuzz/",
        "docs/",
    ];
    let mut out = Vec::new();
    for (n, line) in prose(text) {
        for (k, span) in line.split('`').enumerate() {
            let plain = |c: char| c.is_alphanumeric() || "/._-".contains(c);
            // Placeholders (`fuzz/regressions/TARGET/`) and the book's build output are not
            // files of the repository.
            let placeholder = span
                .split('/')
                .any(|part| part.len() > 1 && part.chars().all(|c| c.is_ascii_uppercase()));
            if k % 2 == 1
                && ROOTS.iter().any(|r| span.starts_with(r))
                && span.chars().all(plain)
                && !span.contains("..")
                && !placeholder
                && !span.starts_with("docs/book")
            {
                out.push((n, span.to_string()));
            }
        }
    }
    out
}

#[test]
fn the_guide_lists_every_chapter_and_its_links_resolve() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let summary = read("docs/src/SUMMARY.md");
    let listed: Vec<String> = links(&summary).into_iter().map(|(_, t)| t).collect();
    let mut problems = Vec::new();
    for chapter in chapters(&root) {
        let name = chapter.file_name().unwrap().to_string_lossy().into_owned();
        if !listed.contains(&name) {
            problems.push(format!("docs/src/SUMMARY.md does not list {name}"));
        }
    }
    for target in &listed {
        if !root.join("docs/src").join(target).is_file() {
            problems.push(format!(
                "docs/src/SUMMARY.md lists {target}, which is missing"
            ));
        }
    }
    let mut files = vec![root.join("README.md")];
    files.extend(chapters(&root));
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let shown = file.strip_prefix(&root).unwrap().display().to_string();
        for (line, target) in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            if !resolved.exists() {
                problems.push(format!("{shown}:{line}: the link {target} leads nowhere"));
                continue;
            }
            if !anchor.is_empty() {
                let target_text = std::fs::read_to_string(&resolved).unwrap_or_default();
                if !anchors(&target_text).iter().any(|a| a == anchor) {
                    problems.push(format!(
                        "{shown}:{line}: {target}: no heading with the anchor #{anchor}"
                    ));
                }
            }
        }
        for (line, path) in named_paths(&text) {
            if !root.join(&path).exists() {
                problems.push(format!("{shown}:{line}: `{path}` does not exist"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn link_and_path_checks_catch_what_they_should() {
    assert_eq!(
        slug(" Towns: road networks and routes"),
        "towns-road-networks-and-routes"
    );
    assert_eq!(
        anchors("# A b\n```\n# not a heading\n```\n## C-d_e (f)\n"),
        ["a-b", "c-d_e-f"]
    );
    assert_eq!(
        links("see [a](x.md#y) and [b](../c)\n```\n[no](z)\n```\n"),
        [(1, "x.md#y".to_string()), (1, "../c".to_string())]
    );
    assert_eq!(
        named_paths("`src/sim/` and `runs/demo` and `scenarios/*.ron` `src/a.rs` `fuzz/NAME/x`"),
        [(1, "src/sim/".to_string()), (1, "src/a.rs".to_string())]
    );
}

/// The guide builds with mdBook where it is installed (`make docs` installs it).
#[test]
fn the_guide_builds_with_mdbook_where_installed() {
    let Ok(version) = std::process::Command::new("mdbook")
        .arg("--version")
        .output()
    else {
        eprintln!("mdbook is not installed: the book was link-checked, not built (make docs)");
        return;
    };
    assert!(version.status.success());
    let out = crate::tempdir("mdbook");
    let status = std::process::Command::new("mdbook")
        .arg("build")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs"))
        .arg("--dest-dir")
        .arg(&out)
        .status()
        .expect("mdbook runs");
    assert!(status.success(), "mdbook build docs failed");
    assert!(out.join("index.html").is_file());
}
/// The guide's tables of measured figures are rendered from the figures files a main job wrote
/// (`docs/figures/`): rendering them again changes nothing.
#[test]
fn the_guide_figures_are_those_of_their_files() {
    use steerlab::drive::figures::{BLOCK_START, render_blocks};
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut blocks = 0;
    for chapter in chapters(&root) {
        let text = std::fs::read_to_string(&chapter).unwrap();
        blocks += text.matches(BLOCK_START).count();
        let rendered = render_blocks(&chapter, &text).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            rendered == text,
            "{}: its figures differ from their files; run `steerlab figures docs/src/*.md`",
            chapter.display()
        );
    }
    assert!(
        blocks > 0,
        "the guide shows no figures rendered from a run's file"
    );
}

/// A block may name one part of a main job's figures; a part that does not exist, or a part of
/// a benchmark's figures, is refused by name.
#[test]
fn a_figures_block_names_a_part_only_a_main_job_has() {
    use steerlab::drive::figures::render_blocks;
    let chapter = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/src/x.md");
    let block = |named: &str| format!("<!-- figures: {named} -->\n<!-- end figures -->\n");
    let traffic = render_blocks(&chapter, &block("../figures/main-job.json#traffic")).unwrap();
    assert!(traffic.contains("The traffic suite") && !traffic.contains("Held-out tracks"));
    for (named, needle) in [
        ("../figures/main-job.json#lights", "no part \"lights\""),
        ("../figures/bench-train.json#pilotnet", "have no parts"),
    ] {
        let err = render_blocks(&chapter, &block(named))
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle) && err.contains("x.md"), "{err}");
    }
}
