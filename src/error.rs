//! The crate's error type: every variant names the file, field or fix concerned.

use std::path::PathBuf;

/// Errors returned by the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A scenario, ranges or suite file could not be read from disk.
    #[error("{path}: cannot read the file: {error}")]
    ScenarioIo {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A scenario file is not valid RON for the scenario schema.
    #[error("{file}:{line}:{column}: {field}{message}")]
    ScenarioSyntax {
        file: String,
        line: usize,
        column: usize,
        /// Field path such as `props[2].kind`, with a trailing ": ", or empty.
        field: String,
        message: String,
    },
    /// A scenario (or ranges, or suite) parsed but its values are inconsistent; every problem
    /// is listed, each naming its field.
    #[error("{file}: invalid:\n{}", problem_list(.problems))]
    ScenarioInvalid { file: String, problems: Vec<String> },
    /// No GPU or software Vulkan driver could be opened.
    #[error(
        "no Vulkan adapter found ({detail}). Install a Vulkan driver: on Debian/Ubuntu run \
         `apt-get install libvulkan1 mesa-vulkan-drivers` (Mesa's lavapipe renders on the CPU), \
         or run `make setup`"
    )]
    NoVulkanAdapter { detail: String },
    /// The renderer failed while producing a frame.
    #[error("renderer: {0}")]
    Render(String),
    /// The caller passed arguments the environment cannot honour.
    #[error("{0}")]
    InvalidArgument(String),
    /// An episode file cannot be used.
    #[error("{path}: {message}")]
    Episode { path: PathBuf, message: String },
    /// Writing an output file failed.
    #[error("{path}: {message}")]
    Output { path: PathBuf, message: String },
    /// A model checkpoint cannot be used (missing file, config and weights that disagree).
    #[error("{path}: {message}")]
    Model { path: PathBuf, message: String },
    /// A tensor computation failed.
    #[error("tensor computation: {0}")]
    Tensor(String),
    /// A file or folder operation failed; `context` says which (`creating runs/record`).
    #[error("{context}: {error}")]
    Io {
        context: String,
        error: std::io::Error,
    },
    /// Another error, with what was being done when it happened (`scenario winding: …`).
    #[error("{context}: {error}")]
    Context { context: String, error: Box<Error> },
}

impl Error {
    /// This error with what was being done when it happened written in front of it, as
    /// `context: error`.
    pub fn context(self, context: impl Into<String>) -> Self {
        Error::Context {
            context: context.into(),
            error: Box::new(self),
        }
    }
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Tensor(e.to_string())
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The problems of an invalid file, one a line: the same problem repeated (a million duplicate
/// control points) is listed once with its count, and after [`LISTED_PROBLEMS`] lines the rest
/// are counted.
pub(crate) fn problem_list(problems: &[String]) -> String {
    let mut distinct: Vec<(&str, usize)> = Vec::new();
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for p in problems {
        match seen.get(p.as_str()) {
            Some(&i) => distinct[i].1 += 1,
            None => {
                seen.insert(p.as_str(), distinct.len());
                distinct.push((p, 1));
            }
        }
    }
    let mut lines: Vec<String> = distinct
        .iter()
        .take(LISTED_PROBLEMS)
        .map(|(p, n)| match n {
            1 => format!("  - {p}"),
            n => format!("  - {p} ({n} times)"),
        })
        .collect();
    if distinct.len() > LISTED_PROBLEMS {
        let rest: usize = distinct[LISTED_PROBLEMS..].iter().map(|(_, n)| n).sum();
        lines.push(format!("  - and {rest} more problems"));
    }
    lines.join("\n")
}

/// How many distinct problems an invalid file's error lists.
pub const LISTED_PROBLEMS: usize = 20;
