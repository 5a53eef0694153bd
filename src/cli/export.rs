//! `steerlab export coco`: recorded frames and their labels as a COCO dataset (images, boxes
//! of visible props, and per-frame class masks as grayscale PNGs for segmentation), readable by
//! any COCO tool. Props too small to count are crowd annotations (`iscrowd` 1), which COCO's
//! evaluation ignores, so that finding one is not scored as a false positive.

use crate::nn::models::detect::boxes::coco::{Annotation, Category, Dataset, Image};
use crate::record::EpisodeReader;
use crate::sim::labels::LabelClass;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ExportCocoArgs {
    /// Episode files recorded with labels (`steerlab record --labels`), or folders of them.
    #[arg(required = true)]
    pub episodes: Vec<PathBuf>,
    /// Output folder: annotations.json, images/, masks/.
    #[arg(long)]
    pub out: PathBuf,
    /// Objects with fewer visible pixels are annotated as crowd regions (`iscrowd` 1): not
    /// counted, and detections on them are neither right nor wrong.
    #[arg(long, default_value_t = 10)]
    pub min_pixels: u32,
}

/// The categories: the object classes, numbered from 1 as COCO does.
pub fn categories() -> Vec<Category> {
    LabelClass::all()
        .into_iter()
        .filter(LabelClass::is_object)
        .enumerate()
        .map(|(i, c)| Category {
            id: i + 1,
            name: c.name(),
        })
        .collect()
}

pub fn run(args: &ExportCocoArgs) -> Result<ExitCode> {
    let files = crate::nn::data::dataset::episode_files(&args.episodes)?;
    let (images_dir, masks_dir) = (args.out.join("images"), args.out.join("masks"));
    for d in [&images_dir, &masks_dir] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let categories = categories();
    let mut dataset = Dataset {
        images: Vec::new(),
        annotations: Vec::new(),
        categories: categories.clone(),
    };
    let (mut unlabelled, mut crowd) = (0, 0);
    for file in &files {
        let stem = file
            .file_stem()
            .map_or("episode".into(), |s| s.to_string_lossy().into_owned());
        let episode = EpisodeReader::open(file)?;
        let mut steps = episode.steps(false)?;
        for step in steps.by_ref() {
            let (Some(png), Some(objects)) = (&step.png, &step.objects) else {
                unlabelled += 1;
                continue;
            };
            let id = dataset.images.len() + 1;
            let name = format!("{stem}_{:05}.png", step.tick);
            crate::files::write_atomic(&images_dir.join(&name), png)?;
            if let Some(mask) = &step.class_mask_png {
                crate::files::write_atomic(&masks_dir.join(&name), mask)?;
            }
            dataset.images.push(Image {
                id,
                width: objects.width,
                height: objects.height,
                file_name: format!("images/{name}"),
            });
            for o in &objects.objects {
                let Some(category) = categories.iter().find(|c| c.name == o.class) else {
                    continue;
                };
                let small = o.pixels < args.min_pixels;
                crowd += usize::from(small);
                let (w, h) = ((o.x1 - o.x0) as f64, (o.y1 - o.y0) as f64);
                dataset.annotations.push(Annotation {
                    id: dataset.annotations.len() + 1,
                    image_id: id,
                    category_id: category.id,
                    bbox: [o.x0 as f64, o.y0 as f64, w, h],
                    area: w * h,
                    iscrowd: small.into(),
                });
            }
        }
        if let Some(cut) = &steps.outcome().cut {
            eprintln!("warning: {}: {cut}", file.display());
        }
    }
    if dataset.images.is_empty() {
        bail!(
            "no labelled frames in {} episode file(s): record them with `steerlab record --labels`",
            files.len()
        );
    }
    crate::files::write_atomic(
        &args.out.join("annotations.json"),
        serde_json::to_string(&dataset)?.as_bytes(),
    )?;
    println!(
        "{} images, {} objects ({crowd} more under {} pixels as crowd regions) in {} categories \
         ({} frames without labels skipped) → {}",
        dataset.images.len(),
        dataset.annotations.len() - crowd,
        args.min_pixels,
        categories.len(),
        unlabelled,
        args.out.join("annotations.json").display()
    );
    Ok(ExitCode::SUCCESS)
}
