//! Reading RON files (scenarios, randomisation ranges, robustness suites) with errors that
//! name the file, the line, the column and the field path, and listing every semantic problem
//! at once.

use crate::error::{Error, Result};
use std::path::Path;

/// Parses RON text into `T` without semantic checks; errors name `file`, the line, the column
/// and the field path.
pub(crate) fn parse_ron<T: serde::de::DeserializeOwned>(text: &str, file: &str) -> Result<T> {
    let syntax = |span: ron::error::Span, field: String, message: String| Error::ScenarioSyntax {
        file: file.to_string(),
        line: span.start.line,
        column: span.start.col,
        field,
        message,
    };
    // A byte-order mark, as some Windows editors write, is not part of the text.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut de = ron::Deserializer::from_str(text)
        .map_err(|e| syntax(e.span, String::new(), e.code.to_string()))?;
    let parsed: std::result::Result<T, _> = serde_path_to_error::deserialize(&mut de);
    match parsed {
        Ok(value) => {
            de.end().map_err(|code| {
                let e = de.span_error(code);
                syntax(e.span, String::new(), e.code.to_string())
            })?;
            Ok(value)
        }
        Err(e) => {
            let path = e.path().to_string();
            let field = if path == "." {
                String::new()
            } else {
                format!("{path}: ")
            };
            let spanned = de.span_error(e.into_inner());
            Err(syntax(spanned.span, field, spanned.code.to_string()))
        }
    }
}

/// Reads a RON file and hands its text to `parse` with the path to name in errors.
pub(crate) fn read_ron_file<T>(
    path: &Path,
    parse: impl FnOnce(&str, &str) -> Result<T>,
) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|error| Error::ScenarioIo {
        path: path.to_path_buf(),
        error,
    })?;
    parse(&text, &path.display().to_string())
}

/// `value` when `problems` is empty, else the error that lists them all for `file`.
pub(crate) fn valid<T>(value: T, file: &str, problems: Vec<String>) -> Result<T> {
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(Error::ScenarioInvalid {
            file: file.to_string(),
            problems,
        })
    }
}
