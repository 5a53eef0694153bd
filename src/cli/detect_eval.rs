//! `steerlab eval-detections`: mAP@0.5 and COCO AP@[.5:.95] of a COCO results file against a
//! COCO ground-truth file (`tools/coco_check.py` compares the figures with pycocotools).

use crate::nn::models::detect::boxes::{coco, coco_ap, mean_ap};
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct EvalDetectionsArgs {
    /// COCO ground truth (images, annotations, categories).
    #[arg(long)]
    pub truth: PathBuf,
    /// COCO results: a list of {image_id, category_id, bbox, score}.
    #[arg(long)]
    pub detections: PathBuf,
}

pub fn run(args: &EvalDetectionsArgs) -> Result<ExitCode> {
    let (truth, detections) = coco::read_scored(&args.truth, &args.detections)?;
    let figures = serde_json::json!({
        "objects": truth.iter().filter(|g| !g.crowd).count(),
        "crowd_regions": truth.iter().filter(|g| g.crowd).count(),
        "detections": detections.len(),
        "map50": mean_ap(&detections, &truth, 0.5),
        "map75": mean_ap(&detections, &truth, 0.75),
        "ap": coco_ap(&detections, &truth),
    });
    println!("{}", serde_json::to_string_pretty(&figures)?);
    Ok(ExitCode::SUCCESS)
}
