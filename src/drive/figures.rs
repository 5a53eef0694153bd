//! Figures files and the guide: the main job's `figures.json` and the benchmarks' `--json`
//! files hold what was measured with the machine it was measured on; the guide's tables of
//! measured figures sit between marks naming such a file, and [`render_blocks`] renders them
//! again from it (`steerlab figures`; a test does it and fails when a table differs), so the
//! guide cannot say what no run measured.

use crate::drive::bench::{PythonStepBench, SimBench, TrafficBench};
use crate::drive::main_job::figures::Figures;
use crate::drive::processes::CollectionBench;
use crate::error::{Error, Result};
use crate::nn::bench::TrainBench;
use crate::nn::metrics::detection::DetectFigures;
use serde::Deserialize;
use std::path::Path;

/// Any figures file the guide shows.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum AnyFigures {
    MainJob(Box<Figures>),
    SimBench(Box<SimBench>),
    TrainBench(Box<TrainBench>),
    TrafficBench(Box<TrafficBench>),
    Detect(Box<DetectFigures>),
    PythonStep(Box<PythonStepBench>),
    Collection(Box<CollectionBench>),
}

impl AnyFigures {
    pub fn read(path: &Path) -> Result<Self> {
        crate::files::read_json(
            path,
            "not a figures file (a main job's `figures.json`, or the `--json` of `bench sim`, \
             `bench train`, `bench traffic`, `detect`, `python/bench_step.py` or \
             `examples/ray_collect.py`)",
        )?
        .ok_or_else(|| Error::Output {
            path: path.to_path_buf(),
            message: "no such file".into(),
        })
    }

    /// The Markdown of these figures, or of their `part` (only the main job's have parts).
    pub fn markdown(&self, part: Option<&str>) -> Result<String> {
        let whole = match (self, part) {
            (AnyFigures::MainJob(f), _) => return f.markdown(part),
            (_, Some(p)) => {
                return Err(Error::InvalidArgument(format!(
                    "these figures have no parts (`#{p}`); only the main job's do"
                )));
            }
            (AnyFigures::SimBench(f), None) => f.markdown(),
            (AnyFigures::TrainBench(f), None) => f.markdown(),
            (AnyFigures::TrafficBench(f), None) => f.markdown(),
            (AnyFigures::Detect(f), None) => f.markdown(),
            (AnyFigures::PythonStep(f), None) => f.markdown(),
            (AnyFigures::Collection(f), None) => f.markdown(),
        };
        Ok(whole)
    }
}

/// The marks around a block of the guide rendered from a figures file, named relative to the
/// chapter: `<!-- figures: ../figures/main-job.json -->` … `<!-- end figures -->`; a main job's
/// file may name one part (`../figures/main-job.json#traffic`).
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
        let named = from[BLOCK_START.len()..close].trim();
        let (file, part) = match named.split_once('#') {
            Some((file, part)) => (file, Some(part)),
            None => (named, None),
        };
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
        let markdown = figures.markdown(part).map_err(|e| {
            e.context(format!(
                "{}: the figures block of {named}",
                chapter_path.display()
            ))
        })?;
        out.push_str(markdown.trim_end());
        out.push_str("\n\n");
        out.push_str(BLOCK_END);
        rest = &from[end + BLOCK_END.len()..];
    }
    out.push_str(rest);
    Ok(out)
}
