//! Writing files so that a crash or Ctrl-C never leaves a half-written one behind.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` through a temporary file in the same directory, synced and renamed:
/// readers see either the old file or the whole new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    replace_with(path, |tmp| {
        std::fs::File::create(tmp)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(|e| e.to_string())
    })
}

/// Like [`write_atomic`] for writers that take a path: `write` creates the temporary file,
/// which is then synced and renamed onto `path`. On any failure the temporary file is removed.
pub fn replace_with(
    path: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), String>,
) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.part"));
    let written = write(&tmp).and_then(|_| {
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| e.to_string())
    });
    written.map_err(|message| {
        let _ = std::fs::remove_file(&tmp);
        Error::Output {
            path: path.to_path_buf(),
            message,
        }
    })
}

/// Creates `dir` and its parents; the error names the folder.
pub fn create_dir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|error| Error::Io {
        context: format!("creating {}", dir.display()),
        error,
    })
}
