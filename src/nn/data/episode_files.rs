//! The episode files a training run reads.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The `.mcap` files under each path (a file, or a directory searched recursively), sorted.
pub fn episode_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "mcap") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found).map_err(|e| Error::Episode {
                path: path.clone(),
                message: e.to_string(),
            })?;
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(Error::Episode {
                path: path.clone(),
                message: "no such file or directory".into(),
            });
        }
    }
    // A file named twice (itself and inside a folder given too) is one episode.
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    if files.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "no episode files (*.mcap) under {}; record some with `steerlab record`",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(files)
}
