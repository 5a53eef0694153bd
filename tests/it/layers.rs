//! The layer table of the guide's Layout section, checked: every source file under `src/` may
//! import only the modules its layer may use, and Bevy and candle only where the table allows.
//! Imports are `crate::x` paths (in `use` lines, groups such as `use crate::{x, y}`, and
//! code), `super::` chains that climb out of their layer, and `bevy…::`/`candle…::` paths;
//! comments and string literals are skipped. Within the layers, no two files import each
//! other, directly or through others.

use std::path::{Path, PathBuf};

/// The layers, lowest first, and the modules each may use. `error`, `files` and `report` form
/// the bottom layer, which every other layer may use.
const LAYERS: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("files", &["error"]),
    ("report", &["error", "files"]),
    ("sim", &["error", "files", "report"]),
    ("record", &["error", "files", "report", "sim"]),
    ("nn", &["error", "files", "report", "sim", "record"]),
    ("world", &["error", "files", "report", "sim"]),
    (
        "drive",
        &["error", "files", "report", "sim", "record", "nn", "world"],
    ),
    (
        "app",
        &[
            "error", "files", "report", "sim", "record", "nn", "world", "drive",
        ],
    ),
    (
        "cli",
        &[
            "error", "files", "report", "sim", "record", "nn", "world", "drive", "app",
        ],
    ),
];

/// The external crates kept out of layers: (crate-name prefix, layers that never import it).
/// Bevy stays out of everything but `world`, `app` and `cli` (training and the simulation
/// core run where no renderer exists); candle stays out of `sim`, `record` and `world`; clap
/// stays in `cli` (the library is used without a command line).
const KEPT_OUT: &[(&str, &[&str])] = &[
    (
        "bevy",
        &["error", "files", "report", "sim", "record", "nn", "drive"],
    ),
    ("candle", &["sim", "record", "world"]),
    (
        "clap",
        &[
            "error", "files", "report", "sim", "record", "nn", "world", "drive", "app",
        ],
    ),
];

#[derive(Clone, Debug, PartialEq)]
struct Token {
    text: String,
    line: usize,
}

/// The tokens of Rust source that matter for paths (identifiers and punctuation), with
/// comments, string, byte-string, raw-string and character literals left out.
fn tokens(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let skip_to = |i: &mut usize, line: &mut usize, end: usize| {
        *line += chars[*i..end.min(chars.len())]
            .iter()
            .filter(|&&c| c == '\n')
            .count();
        *i = end;
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            let end = (i..chars.len())
                .find(|&j| chars[j] == '\n')
                .unwrap_or(chars.len());
            skip_to(&mut i, &mut line, end);
        } else if c == '/' && next == Some('*') {
            // Block comments nest in Rust.
            let (mut depth, mut j) = (0, i);
            while j < chars.len() {
                if chars[j] == '/' && chars.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if chars[j] == '*' && chars.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            skip_to(&mut i, &mut line, j);
        } else if let Some(end) = raw_string_end(&chars, i) {
            skip_to(&mut i, &mut line, end);
        } else if c == '"' || (c == 'b' && next == Some('"')) {
            let mut j = if c == 'b' { i + 2 } else { i + 1 };
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            skip_to(&mut i, &mut line, j + 1);
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if next == Some('\\') {
                let end = (i + 2..chars.len())
                    .find(|&j| chars[j] == '\'')
                    .unwrap_or(chars.len());
                skip_to(&mut i, &mut line, end + 1);
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token {
                text: chars[start..i].iter().collect(),
                line,
            });
        } else if c == ':' && next == Some(':') {
            out.push(Token {
                text: "::".into(),
                line,
            });
            i += 2;
        } else {
            out.push(Token {
                text: c.to_string(),
                line,
            });
            i += 1;
        }
    }
    out
}

/// Where a raw string (`r"…"`, `r#"…"#`, `br"…"`) starting at `i` ends, if one does.
fn raw_string_end(chars: &[char], i: usize) -> Option<usize> {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    j += hashes;
    if chars.get(j) != Some(&'"') {
        return None;
    }
    let closing: Vec<char> = std::iter::once('"')
        .chain(std::iter::repeat_n('#', hashes))
        .collect();
    (j + 1..chars.len())
        .find(|&k| chars[k..].starts_with(&closing))
        .map(|k| k + closing.len())
}

/// The module path of a source file: `src/sim/track/mod.rs` is `sim::track`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.last_mut() {
        *last = last.trim_end_matches(".rs").to_string();
    }
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// One import that breaks the layer table.
#[derive(Clone, Debug, PartialEq)]
struct Violation {
    line: usize,
    message: String,
}

/// The first identifiers of the items of a `{…}` group starting at `open` (nested groups and
/// paths inside an item are not needed: the first segment names the module).
fn group_items(tokens: &[Token], open: usize) -> Vec<&Token> {
    let mut items = Vec::new();
    let (mut depth, mut expect_item) = (0, true);
    for t in &tokens[open..] {
        match t.text.as_str() {
            "{" => {
                depth += 1;
                expect_item = depth == 1;
            }
            "}" => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            "," if depth == 1 => expect_item = true,
            _ if expect_item && depth == 1 => {
                items.push(t);
                expect_item = false;
            }
            _ => {}
        }
    }
    items
}

/// Every layer violation in `source`, the text of `src/<relative>`.
fn violations(relative: &Path, source: &str) -> Vec<Violation> {
    let module = module_path(relative);
    let Some(layer) = module.first() else {
        return Vec::new();
    };
    if matches!(layer.as_str(), "lib" | "main") {
        // The crate root declares the modules; the binary only calls `cli`.
        return Vec::new();
    }
    let Some((_, may_use)) = LAYERS.iter().find(|(name, _)| name == layer) else {
        return vec![Violation {
            line: 1,
            message: format!(
                "module `{layer}` is not in the layer table: add it to the guide's Layout \
                 table and to LAYERS in tests/it/layers.rs"
            ),
        }];
    };
    let tokens = tokens(source);
    let mut found = Vec::new();
    let check_module = |line: usize, target: &str, path: String| {
        let breaks = target != layer
            && LAYERS.iter().any(|(name, _)| *name == target)
            && !may_use.contains(&target);
        breaks.then(|| Violation {
            line,
            message: format!(
                "`{layer}` imports `{target}` ({path}); `{layer}` may use only: {}",
                if may_use.is_empty() {
                    "nothing of the crate".to_string()
                } else {
                    may_use.join(", ")
                }
            ),
        })
    };
    // Inline modules (`mod tests { … }`): `super` inside one stays in this file.
    let mut inline_opened_at: Vec<usize> = Vec::new();
    let mut depth = 0;
    for (i, t) in tokens.iter().enumerate() {
        let next = |k: usize| tokens.get(i + k).map(|t| t.text.as_str());
        match t.text.as_str() {
            "{" => {
                depth += 1;
                if i >= 2 && tokens[i - 2].text == "mod" {
                    inline_opened_at.push(depth);
                }
                continue;
            }
            "}" => {
                if inline_opened_at.last() == Some(&depth) {
                    inline_opened_at.pop();
                }
                depth -= 1;
                continue;
            }
            _ => {}
        }
        // `a::bevy::` is a module of `a`; a leading `::bevy::` is the crate.
        let after_path_separator = i > 1
            && tokens[i - 1].text == "::"
            && tokens[i - 2]
                .text
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '>');
        if after_path_separator || i > 0 && tokens[i - 1].text == "$" || next(1) != Some("::") {
            continue;
        }
        let word = t.text.as_str();
        if word == "crate" || word == "super" {
            // Climb: `crate` goes to the root, each `super` one module up.
            let mut k = i;
            let mut at: Vec<String> = if word == "crate" {
                k += 2;
                Vec::new()
            } else {
                let mut at = module.clone();
                let mut inline = inline_opened_at.len();
                while tokens.get(k).map(|t| t.text.as_str()) == Some("super")
                    && tokens.get(k + 1).map(|t| t.text.as_str()) == Some("::")
                {
                    if inline > 0 {
                        inline -= 1;
                    } else {
                        at.pop();
                    }
                    k += 2;
                }
                if !at.is_empty() {
                    // Still inside this layer.
                    continue;
                }
                at
            };
            let written = |end: usize| {
                tokens[i..end.min(tokens.len())]
                    .iter()
                    .map(|t| t.text.as_str())
                    .collect::<String>()
            };
            match tokens.get(k) {
                Some(open) if open.text == "{" => {
                    for item in group_items(&tokens, k) {
                        found.extend(check_module(
                            item.line,
                            &item.text,
                            format!("{}{}", written(k), item.text),
                        ));
                    }
                }
                Some(first) => {
                    at.push(first.text.clone());
                    found.extend(check_module(t.line, &at[0], written(k + 1)));
                }
                None => {}
            }
        } else {
            for (prefix, kept_out_of) in KEPT_OUT {
                if word.starts_with(prefix) && kept_out_of.contains(&layer.as_str()) {
                    found.push(Violation {
                        line: t.line,
                        message: format!(
                            "`{layer}` imports {prefix} (`{word}::`); {prefix} is kept out of {}",
                            kept_out_of.join(", ")
                        ),
                    });
                }
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(files.len() > 50, "found only {} source files", files.len());
    let mut report = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(root.join("src")).unwrap();
        let source = std::fs::read_to_string(file).unwrap();
        for v in violations(relative, &source) {
            report.push(format!(
                "src/{}:{}: {}",
                relative.display(),
                v.line,
                v.message
            ));
        }
    }
    assert!(
        report.is_empty(),
        "imports that break the layer table (docs/src/layout.md):\n{}",
        report.join("\n")
    );
}

#[test]
fn offending_imports_are_caught_and_comments_are_not() {
    let check = |file: &str, source: &str| -> Vec<usize> {
        violations(Path::new(file), source)
            .iter()
            .map(|v| v.line)
            .collect()
    };
    // Bevy and candle where the table keeps them out.
    assert_eq!(check("sim/track/mod.rs", "use bevy::prelude::*;"), [1]);
    assert_eq!(
        check(
            "nn/train/steering.rs",
            "\n\nlet a = bevy::math::Vec3::ZERO;"
        ),
        [3]
    );
    assert_eq!(check("record/writer.rs", "use bevy_image::Image;"), [1]);
    assert_eq!(check("world/env.rs", "use candle_core::Tensor;"), [1]);
    assert_eq!(check("sim/math.rs", "fn f(t: &candle_nn::Linear) {}"), [1]);
    assert_eq!(
        check("world/env.rs", "use bevy::prelude::*;"),
        [] as [usize; 0]
    );
    assert_eq!(
        check("nn/train/steering.rs", "use candle_core::Tensor;"),
        [] as [usize; 0]
    );
    // Modules above, in `use` lines, groups, code paths and `super` chains.
    assert_eq!(check("sim/expert.rs", "use crate::world::Env;"), [1]);
    assert_eq!(
        check(
            "record/reader.rs",
            "use crate::{\n    sim::Frame,\n    nn::Model,\n};"
        ),
        [3]
    );
    assert_eq!(
        check("nn/plot.rs", "let x = crate::drive::Policy::load(p);"),
        [1]
    );
    assert_eq!(
        check("nn/ops/conv.rs", "use super::super::super::app::x;"),
        [1]
    );
    assert_eq!(
        check("world/env.rs", "use crate::record::EpisodeWriter;"),
        [1]
    );
    assert_eq!(check("report.rs", "use crate::sim::Frame;"), [1]);
    assert_eq!(check("error.rs", "use crate::files::write_atomic;"), [1]);
    // What stays inside the layer or goes down is fine.
    let fine = [
        (
            "drive/eval.rs",
            "use crate::{nn::Model, world::Env, report};",
        ),
        ("nn/ops/conv.rs", "use super::super::dataset::x;"),
        ("sim/track/spec.rs", "use super::Track;"),
        ("cli/replay.rs", "use crate::app::window;"),
        (
            "world/env.rs",
            "#[cfg(test)]\nmod tests {\n    use super::*;\n}",
        ),
        ("app/hud.rs", "pub(crate) fn f() {}\npub(super) fn g() {}"),
    ];
    for (file, source) in fine {
        assert_eq!(check(file, source), [] as [usize; 0], "{file}: {source}");
    }
    // Comments and string literals are not imports.
    let quiet = "// use bevy::prelude::*;\n/* crate::app::x /* nested */ bevy::x */\n\
                 /// [`crate::drive::Policy`]\nlet s = \"crate::app:: bevy::\";\n\
                 let r = r#\"candle_core::Tensor \"quoted\" crate::cli::x\"#;\nlet c = '\"';\n\
                 let l: &'static str = \"x\";";
    assert_eq!(check("sim/frame.rs", quiet), [] as [usize; 0]);
    // Lines are counted through skipped comments and strings.
    assert_eq!(
        check("sim/frame.rs", &format!("{quiet}\nuse crate::nn::Model;")),
        [8]
    );
    // A module missing from the table is itself an error.
    assert_eq!(check("python/mod.rs", "use crate::sim::Frame;"), [1]);
}

#[test]
fn the_guide_layout_table_says_what_the_check_enforces() {
    let layout =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/src/layout.md"))
            .expect("docs/src/layout.md");
    let mut seen = Vec::new();
    for row in layout.lines().filter(|l| l.starts_with("| `src/")) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let path = cells[0].trim_matches('`');
        let layer = path
            .trim_start_matches("src/")
            .trim_end_matches('/')
            .trim_end_matches(".rs");
        let (_, may_use) = LAYERS
            .iter()
            .find(|(name, _)| *name == layer)
            .unwrap_or_else(|| panic!("docs/src/layout.md row {path}: `{layer}` is not in LAYERS"));
        let may_use_cell = cells.get(2).copied().unwrap_or("");
        let (allowed, kept_out) = may_use_cell
            .split_once("never")
            .unwrap_or((may_use_cell, ""));
        let mut listed: Vec<&str> = allowed
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|m| LAYERS.iter().any(|(name, _)| name == m))
            .collect();
        let mut expected = may_use.to_vec();
        listed.sort();
        expected.sort();
        assert_eq!(
            listed, expected,
            "docs/src/layout.md row {path}: the may-use column"
        );
        for (prefix, kept_out_of) in KEPT_OUT {
            assert_eq!(
                kept_out.to_lowercase().contains(prefix),
                kept_out_of.contains(&layer),
                "docs/src/layout.md row {path}: whether {prefix} is never used"
            );
        }
        seen.push(layer.to_string());
    }
    for (name, _) in LAYERS {
        assert!(
            seen.iter().any(|s| s == name),
            "the guide's Layout table has no row for `{name}`"
        );
    }
}

/// The modules a file imports, as paths from the crate root: `crate::…` and `super::…` paths
/// (groups give one path per item), and in a folder's `mod.rs` the paths into its own children
/// (`child::item`). `children` are the child modules of this file's module.
fn imports(module: &[String], children: &[String], source: &str) -> Vec<(usize, Vec<String>)> {
    let tokens = tokens(source);
    let mut found = Vec::new();
    let ident = |t: &Token| t.text.chars().all(|c| c.is_alphanumeric() || c == '_');
    // Inline modules (`mod tests { … }`) are this file: their `super` paths are skipped.
    let (mut depth, mut inline_at) = (0, Vec::new());
    for (i, t) in tokens.iter().enumerate() {
        match t.text.as_str() {
            "{" => {
                depth += 1;
                if i >= 2 && tokens[i - 2].text == "mod" {
                    inline_at.push(depth);
                }
                continue;
            }
            "}" => {
                if inline_at.last() == Some(&depth) {
                    inline_at.pop();
                }
                depth -= 1;
                continue;
            }
            _ => {}
        }
        let starts_path = i == 0 || tokens[i - 1].text != "::";
        if !starts_path || tokens.get(i + 1).map(|t| t.text.as_str()) != Some("::") {
            continue;
        }
        let (mut at, mut k) = match t.text.as_str() {
            "crate" => (Vec::new(), i + 2),
            "super" if inline_at.is_empty() => {
                let mut at = module.to_vec();
                let mut k = i;
                while tokens.get(k).is_some_and(|t| t.text == "super")
                    && tokens.get(k + 1).is_some_and(|t| t.text == "::")
                {
                    at.pop();
                    k += 2;
                }
                (at, k)
            }
            word if children.iter().any(|c| c == word) => (module.to_vec(), i),
            _ => continue,
        };
        while let Some(t) = tokens.get(k).filter(|t| ident(t)) {
            at.push(t.text.clone());
            if tokens.get(k + 1).is_none_or(|t| t.text != "::") {
                break;
            }
            k += 2;
        }
        if tokens.get(k).is_some_and(|t| t.text == "{") {
            // Each item of the group: its path up to a nested group, `as` or the next item.
            let (mut level, mut item, mut line) = (0, Vec::new(), t.line);
            for u in &tokens[k..] {
                match u.text.as_str() {
                    "{" => level += 1,
                    "}" | "," if level == 1 => {
                        if !item.is_empty() {
                            found.push((line, [at.clone(), std::mem::take(&mut item)].concat()));
                        }
                        if u.text == "}" {
                            break;
                        }
                    }
                    "}" => level -= 1,
                    "::" => {}
                    _ if level == 1 && ident(u) && u.text != "as" => {
                        if item.is_empty() {
                            line = u.line;
                        }
                        item.push(u.text.clone());
                    }
                    _ => {}
                }
            }
        } else {
            found.push((t.line, at));
        }
    }
    found
}

/// Groups of files that import each other (strongly connected, more than one file), each as
/// its files and the imports between them.
fn import_cycles(files: &[(Vec<String>, String)]) -> Vec<Vec<String>> {
    let modules: Vec<&Vec<String>> = files.iter().map(|(m, _)| m).collect();
    let file_of = |path: &[String]| {
        (0..=path.len())
            .rev()
            .find_map(|n| modules.iter().position(|m| m.as_slice() == &path[..n]))
    };
    let mut edges: Vec<Vec<(usize, usize)>> = vec![Vec::new(); files.len()];
    for (from, (module, source)) in files.iter().enumerate() {
        let children: Vec<String> = modules
            .iter()
            .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
            .map(|m| m[module.len()].clone())
            .collect();
        for (line, path) in imports(module, &children, source) {
            if let Some(to) = file_of(&path).filter(|&to| to != from) {
                edges[from].push((to, line));
            }
        }
    }
    // Reachability is enough at this size: a file is in a cycle with each file it reaches
    // that reaches it back.
    let reach = |start: usize| {
        let (mut seen, mut stack) = (vec![false; files.len()], vec![start]);
        while let Some(v) = stack.pop() {
            for &(w, _) in &edges[v] {
                if !seen[w] {
                    seen[w] = true;
                    stack.push(w);
                }
            }
        }
        seen
    };
    let reaches: Vec<Vec<bool>> = (0..files.len()).map(reach).collect();
    let name = |i: usize| format!("src/{}", files[i].0.join("/"));
    let mut cycles: Vec<Vec<String>> = Vec::new();
    let mut placed = vec![false; files.len()];
    for a in 0..files.len() {
        if placed[a] || !reaches[a][a] {
            continue;
        }
        let group: Vec<usize> = (0..files.len())
            .filter(|&b| reaches[a][b] && reaches[b][a])
            .collect();
        let mut lines: Vec<String> = Vec::new();
        for &b in &group {
            placed[b] = true;
            for &(c, line) in edges[b].iter().filter(|(c, _)| group.contains(c)) {
                lines.push(format!("{}:{line} imports {}", name(b), name(c)));
            }
        }
        cycles.push(lines);
    }
    cycles
}

#[test]
fn no_two_files_import_each_other() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&root, &mut paths);
    let files: Vec<(Vec<String>, String)> = paths
        .iter()
        .map(|p| {
            let module = module_path(p.strip_prefix(&root).unwrap());
            (module, std::fs::read_to_string(p).unwrap())
        })
        .filter(|(m, _)| !matches!(m.as_slice(), [one] if one == "main"))
        .collect();
    let cycles = import_cycles(&files);
    assert!(
        cycles.is_empty(),
        "files that import each other (move what both need into a file of its own):\n{}",
        cycles
            .iter()
            .map(|c| c.join("\n"))
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

#[test]
fn import_cycles_are_found() {
    let file = |m: &str, s: &str| {
        (
            m.split('/').map(String::from).collect::<Vec<_>>(),
            s.to_string(),
        )
    };
    // A parent and a child importing each other, and a chain of three back to its start.
    let files = vec![
        file("sim", "pub mod track;\npub use track::Track;\n"),
        file("sim/track", "use super::Scenario;\n// use crate::nn::x;\n"),
        file("nn/a", "use crate::nn::b::X;\n"),
        file("nn/b", "fn f() { crate::nn::c::g() }\n"),
        file("nn/c", "use crate::{nn::a, sim};\n"),
        file(
            "nn/d",
            "use crate::nn::a::Y;\nmod tests { use super::*; }\n",
        ),
    ];
    let cycles = import_cycles(&files);
    assert_eq!(cycles.len(), 2, "{cycles:?}");
    assert!(
        cycles[0]
            .iter()
            .any(|l| l == "src/sim:2 imports src/sim/track")
    );
    assert!(
        cycles[0]
            .iter()
            .any(|l| l == "src/sim/track:1 imports src/sim")
    );
    assert_eq!(cycles[1].len(), 3, "{:?}", cycles[1]);
}
