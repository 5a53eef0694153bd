//! Figures files and the guide: the main job's `figures.json` and the benchmarks' `--json`
//! files hold what was measured with the machine it was measured on; the guide's tables of
//! measured figures sit between marks naming such a file, and [`render_blocks`] renders them
//! again from it (`steerlab figures`; a test does it and fails when a table differs), so the
//! guide cannot say what no run measured.

use crate::drive::bench::SimBench;
use crate::drive::main_job::figures::Figures;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::Path;

/// Any figures file the guide shows.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum AnyFigures {
    MainJob(Box<Figures>),
    SimBench(Box<SimBench>),
}

impl AnyFigures {
    pub fn read(path: &Path) -> Result<Self> {
        crate::files::read_json(
            path,
            "not a figures file (a main job's `figures.json` or `bench sim --json`)",
        )?
        .ok_or_else(|| Error::Output {
            path: path.to_path_buf(),
            message: "no such file".into(),
        })
    }

    pub fn markdown(&self) -> String {
        match self {
            AnyFigures::MainJob(f) => f.markdown(),
            AnyFigures::SimBench(f) => f.markdown(),
        }
    }
}

/// The marks around a block of the guide rendered from a figures file, named relative to the
/// chapter: `<!-- figures: ../figures/main-job.json -->` … `<!-- end figures -->`.
pub const BLOCK_START: &str = "<!-- figures: ";
pub const BLOCK_END: &str = "<!-- end figures -->";

/// `chapter` (the text of the guide file at `chapter_path`) with every figures block rendered
/// again from its file; errors name the chapter and the block.
pub fn render_blocks(chapter_path: &Path, chapter: &str) -> Result<String> {
    let invalid = |m: String| Error::InvalidArgument(format!("{}: {m}", chapter_path.display()));
    let mut out = String::new();
    let mut rest = chapter;
    while let Some(start) = rest.find(BLOCK_START) {
        let (before, from) = rest.split_at(start);
        out.push_str(before);
        let Some(close) = from.find("-->") else {
            return Err(invalid("a figures mark without its `-->`".into()));
        };
        let file = from[BLOCK_START.len()..close].trim();
        let Some(end) = from.find(BLOCK_END) else {
            return Err(invalid(format!("the block of {file} has no `{BLOCK_END}`")));
        };
        let path = chapter_path.parent().unwrap_or(Path::new(".")).join(file);
        let figures = AnyFigures::read(&path).map_err(|e| {
            e.context(format!(
                "{}: the figures block of {file}",
                chapter_path.display()
            ))
        })?;
        out.push_str(&from[..close + 3]);
        out.push_str("\n\n");
        out.push_str(figures.markdown().trim_end());
        out.push_str("\n\n");
        out.push_str(BLOCK_END);
        rest = &from[end + BLOCK_END.len()..];
    }
    out.push_str(rest);
    Ok(out)
}
