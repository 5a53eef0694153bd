//! `steerlab figures`: the guide's blocks of measured figures rendered again from the figures
//! files they name (`<!-- figures: ../figures/main-job.json -->`); `--check` only says which
//! differ.

use crate::drive::figures::render_blocks;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct FiguresArgs {
    /// Guide chapters (Markdown) holding figures blocks.
    #[arg(required = true)]
    pub chapters: Vec<PathBuf>,
    /// Write nothing; fail when a block differs from its file's figures.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: &FiguresArgs) -> Result<ExitCode> {
    let mut stale = 0;
    for chapter in &args.chapters {
        let text = std::fs::read_to_string(chapter)
            .with_context(|| format!("reading {}", chapter.display()))?;
        let rendered = render_blocks(chapter, &text)?;
        if rendered == text {
            continue;
        }
        stale += 1;
        if args.check {
            println!("{}: its figures differ from their files", chapter.display());
        } else {
            crate::files::write_atomic(chapter, rendered.as_bytes())?;
            println!("{}: figures rendered again", chapter.display());
        }
    }
    Ok(if args.check && stale > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
