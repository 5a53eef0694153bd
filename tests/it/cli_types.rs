//! The command line is a thin shell: `src/cli` defines no type another layer could use. A type
//! there is a clap argument (it derives `Parser`, `Args`, `Subcommand` or `ValueEnum`) or a
//! progress display on the terminal (it holds an indicatif `ProgressBar` or the training bar);
//! anything else (a value the library computes with, a drawing, a model) belongs below.

use std::path::{Path, PathBuf};

const CLAP_DERIVES: [&str; 4] = ["Parser", "Args", "Subcommand", "ValueEnum"];
const DISPLAYS: [&str; 2] = ["ProgressBar", "progress::Bar"];

/// The types defined in `source` that are neither clap arguments nor progress displays, as
/// `(line, name)`.
fn library_types(source: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = source.lines().collect();
    let mut found = Vec::new();
    let mut fenced_test = false;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("#[cfg(test)]") {
            fenced_test = true;
        }
        if fenced_test {
            continue;
        }
        // A top-level item: `[pub[(…)]] struct|enum|trait|type|union Name`.
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = words
            .iter()
            .position(|w| matches!(*w, "struct" | "enum" | "trait" | "type" | "union"))
        else {
            continue;
        };
        if !words[..at].iter().all(|w| w.starts_with("pub")) {
            continue;
        }
        let Some(name) = words.get(at + 1) else {
            continue;
        };
        let name: String = name
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // The attributes above it.
        let mut attributes = String::new();
        let mut k = i;
        while k > 0 {
            let above = lines[k - 1].trim_start();
            let attribute_line = above.starts_with("#[")
                || above.starts_with("///")
                || above.ends_with(',')
                || above.ends_with(")]");
            if attribute_line {
                attributes.push_str(above);
                k -= 1;
            } else {
                break;
            }
        }
        let derives_clap = attributes.contains("derive(")
            && CLAP_DERIVES.iter().any(|d| {
                attributes
                    .split(|c: char| !c.is_alphanumeric() && c != ':' && c != '_')
                    .any(|w| w == *d || w == format!("clap::{d}"))
            });
        // The item's text: its line when it ends there (`type X = …;`, `struct X;`), else to its
        // closing brace at the start of a line.
        let body: String = if line.trim_end().ends_with(';') {
            line.to_string()
        } else {
            lines[i..]
                .iter()
                .take_while(|l| !l.starts_with('}'))
                .take(200)
                .copied()
                .collect::<Vec<_>>()
                .join("\n")
        };
        let displays = DISPLAYS.iter().any(|d| body.contains(d));
        if !derives_clap && !displays {
            found.push((i + 1, name));
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable folder") {
        let path = entry.expect("readable entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_command_line_defines_no_type_another_layer_could_use() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src/cli"), &mut files);
    files.sort();
    assert!(
        files.len() > 10,
        "found only {} files in src/cli",
        files.len()
    );
    let mut problems = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        for (line, name) in library_types(&source) {
            problems.push(format!(
                "{}:{line}: `{name}` is neither a clap argument nor a progress display: move it \
                 into the layer that computes with it",
                file.strip_prefix(&root).unwrap().display()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn library_types_in_the_command_line_are_caught() {
    let source = "\
/// Arguments.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    pub x: u32,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Run(RunArgs),
}

pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

/// A value the library could use.
#[derive(Clone, Debug)]
pub enum ShardSpec {
    Auto,
}

struct Canvas {
    rgb: Vec<u8>,
}

pub(crate) type Line = Box<dyn Fn() -> String>;

pub(crate) struct Bar {
    bar: Option<ProgressBar>,
}

#[cfg(test)]
mod tests {
    struct Fixture;
}
";
    let names: Vec<String> = library_types(source).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["ShardSpec", "Canvas", "Line"]);
}
