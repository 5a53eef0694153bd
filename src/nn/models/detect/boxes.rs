//! Boxes for detection: intersection over union, non-maximum suppression, and average
//! precision computed the way COCO's evaluation (pycocotools' COCOeval for boxes, all areas, at
//! most 100 detections per image) does it: the [`MAX_DETECTIONS`] best-scoring detections of
//! each image and class matched greedily by score to the unmatched ground-truth box of highest
//! IoU at or above the threshold, else to a crowd region (`iscrowd`, an ignored object)
//! overlapping it enough, which makes it neither a true nor a false positive; precision made
//! monotone, and sampled at 101 recall points.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// An axis-aligned box in pixels: `[x0, x1) × [y0, y1)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl BBox {
    pub fn new(x0: f64, y0: f64, x1: f64, y1: f64) -> Self {
        Self { x0, y0, x1, y1 }
    }

    pub fn area(&self) -> f64 {
        (self.x1 - self.x0).max(0.0) * (self.y1 - self.y0).max(0.0)
    }

    /// The area shared with `other`.
    pub fn intersection(&self, other: &BBox) -> f64 {
        let w = (self.x1.min(other.x1) - self.x0.max(other.x0)).max(0.0);
        let h = (self.y1.min(other.y1) - self.y0.max(other.y0)).max(0.0);
        w * h
    }

    /// Intersection over union; 0 when either box is empty.
    pub fn iou(&self, other: &BBox) -> f64 {
        let inter = self.intersection(other);
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// The fraction of this box inside `region` (intersection over this box's area): COCO's
    /// IoU of a detection with a crowd region, which may hold many objects, so that a box on
    /// any one of them overlaps it fully. 0 when this box is empty.
    pub fn fraction_inside(&self, region: &BBox) -> f64 {
        let area = self.area();
        if area <= 0.0 {
            0.0
        } else {
            self.intersection(region) / area
        }
    }
}

/// Colours of drawn boxes, by class index (cycled).
pub const BOX_COLOURS: [[u8; 3]; 7] = [
    [255, 140, 0],
    [255, 40, 200],
    [40, 220, 255],
    [255, 240, 40],
    [120, 255, 80],
    [255, 60, 60],
    [160, 120, 255],
];

/// Draws the one-pixel outline of `b` (pixel coordinates, clamped into the image) into an
/// image of `width` pixels per row and `channels` bytes per pixel: RGB, or RGBA with the alpha
/// set opaque.
pub fn draw_outline(pixels: &mut [u8], width: usize, channels: usize, b: &BBox, colour: [u8; 3]) {
    let height = pixels.len() / channels.max(1) / width.max(1);
    if width == 0 || height == 0 || channels < 3 {
        return;
    }
    let clamp = |v: f64, n: usize| (v.max(0.0) as usize).min(n - 1);
    let (x0, x1) = (clamp(b.x0, width), clamp(b.x1 - 1.0, width));
    let (y0, y1) = (clamp(b.y0, height), clamp(b.y1 - 1.0, height));
    let mut put = |x: usize, y: usize| {
        let p = &mut pixels[(y * width + x) * channels..][..channels];
        p[..3].copy_from_slice(&colour);
        if channels > 3 {
            p[3] = 255;
        }
    };
    for x in x0..=x1 {
        put(x, y0);
        put(x, y1);
    }
    for y in y0..=y1 {
        put(x0, y);
        put(x1, y);
    }
}

/// Indices of the boxes kept by greedy non-maximum suppression, highest score first: a box is
/// dropped when it overlaps a kept one by more than `iou_threshold`.
pub fn nms(boxes: &[BBox], scores: &[f64], iou_threshold: f64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..boxes.len().min(scores.len())).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut kept: Vec<usize> = Vec::new();
    for i in order {
        if kept
            .iter()
            .all(|&k| boxes[k].iou(&boxes[i]) <= iou_threshold)
        {
            kept.push(i);
        }
    }
    kept
}

/// A detection in image `image`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub image: usize,
    pub class: usize,
    pub bbox: BBox,
    pub score: f64,
}

/// A ground-truth object in image `image`. A crowd one (COCO's `iscrowd = 1`) is a region not
/// scored, such as an object too small to count: it adds nothing to the objects to find, and a
/// detection on it is neither a true nor a false positive.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    pub image: usize,
    pub class: usize,
    pub bbox: BBox,
    #[serde(default)]
    pub crowd: bool,
}

/// Detections scored per image and class, the best-scoring first, as COCO's `maxDets` (its
/// summary AP figures take 100); the others are left out as if never made.
pub const MAX_DETECTIONS: usize = 100;

/// Average precision of class `class` at IoU threshold `threshold`; `None` when the class has
/// no ground truth other than crowd regions (COCO leaves such classes out of the mean).
pub fn average_precision(
    detections: &[Detection],
    truths: &[GroundTruth],
    class: usize,
    threshold: f64,
) -> Option<f64> {
    let mut gts: Vec<&GroundTruth> = truths.iter().filter(|g| g.class == class).collect();
    // Crowd regions last, each group in its order (a stable sort, as COCO's mergesort): a
    // detection tries the objects first.
    gts.sort_by_key(|g| g.crowd);
    let objects = gts.iter().filter(|g| !g.crowd).count();
    if objects == 0 {
        return None;
    }
    let mut dets: Vec<&Detection> = detections.iter().filter(|d| d.class == class).collect();
    // Highest score first; equal scores in image order, then in their order (a stable sort),
    // as COCO orders them: each image's sorted by mergesort, the images' lists concatenated in
    // id order and merged by mergesort.
    dets.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.image.cmp(&b.image)));
    let mut matched = vec![false; gts.len()];
    let mut per_image: HashMap<usize, usize> = HashMap::new();
    // Each counted detection: a true positive or not. Those on crowd regions are left out:
    // COCO keeps them in its lists, but counting neither kind they only repeat the recall and
    // precision before them, which changes no sampled precision.
    let mut tp = Vec::with_capacity(dets.len());
    // COCO matches within each image in score order, then merges images by score; matching
    // greedily over all detections in score order is the same because boxes of different
    // images never match.
    for d in &dets {
        let seen = per_image.entry(d.image).or_insert(0);
        *seen += 1;
        if *seen > MAX_DETECTIONS {
            continue;
        }
        let mut best: Option<(usize, f64)> = None;
        for (j, g) in gts.iter().enumerate() {
            if g.image != d.image || (matched[j] && !g.crowd) {
                continue;
            }
            // Matched to an object, a detection does not go on to the crowd regions (all
            // after the objects).
            if g.crowd && best.is_some_and(|(m, _)| !gts[m].crowd) {
                break;
            }
            let iou = if g.crowd {
                d.bbox.fraction_inside(&g.bbox)
            } else {
                d.bbox.iou(&g.bbox)
            };
            let floor = best.map_or(threshold.min(1.0 - 1e-10), |b| b.1);
            if iou >= floor {
                best = Some((j, iou));
            }
        }
        match best {
            // A crowd region may take any number of detections.
            Some((j, _)) if gts[j].crowd => {}
            Some((j, _)) => {
                matched[j] = true;
                tp.push(true);
            }
            None => tp.push(false),
        }
    }
    let n = objects as f64;
    let (mut tps, mut fps) = (0.0, 0.0);
    let mut recall = Vec::with_capacity(tp.len());
    let mut precision = Vec::with_capacity(tp.len());
    for &hit in &tp {
        if hit {
            tps += 1.0;
        } else {
            fps += 1.0;
        }
        recall.push(tps / n);
        precision.push(tps / (tps + fps + f64::EPSILON));
    }
    for i in (1..precision.len()).rev() {
        precision[i - 1] = precision[i - 1].max(precision[i]);
    }
    // The recall points as numpy's linspace(0, 1, 101) makes them (k · 0.01, the last exactly 1),
    // so that a recall landing exactly on a point is compared as COCO compares it.
    let sum: f64 = (0..=100)
        .map(|k| {
            let r = if k == 100 {
                1.0
            } else {
                k as f64 * (1.0 / 100.0)
            };
            // The first detection reaching recall r (numpy's searchsorted, side left).
            match recall.iter().position(|&rc| rc >= r) {
                Some(i) => precision[i],
                None => 0.0,
            }
        })
        .sum();
    Some(sum / 101.0)
}

/// Mean over classes with ground truth of AP at `threshold` (mAP@0.5 for 0.5).
pub fn mean_ap(detections: &[Detection], truths: &[GroundTruth], threshold: f64) -> Option<f64> {
    let mut classes: Vec<usize> = truths.iter().map(|g| g.class).collect();
    classes.sort_unstable();
    classes.dedup();
    let aps: Vec<f64> = classes
        .iter()
        .filter_map(|&c| average_precision(detections, truths, c, threshold))
        .collect();
    (!aps.is_empty()).then(|| aps.iter().sum::<f64>() / aps.len() as f64)
}

/// COCO's AP: the mean of [`mean_ap`] over IoU thresholds 0.50, 0.55, …, 0.95.
pub fn coco_ap(detections: &[Detection], truths: &[GroundTruth]) -> Option<f64> {
    // numpy's linspace(0.5, 0.95, 10), as COCO makes them.
    let step = (0.95 - 0.5) / 9.0;
    let aps: Vec<f64> = (0..10)
        .filter_map(|i| {
            let t = if i == 9 { 0.95 } else { 0.5 + i as f64 * step };
            mean_ap(detections, truths, t)
        })
        .collect();
    (!aps.is_empty()).then(|| aps.iter().sum::<f64>() / aps.len() as f64)
}

/// COCO's JSON files: ground truth (`images`, `annotations`, `categories`) and results (a list
/// of detections), boxes as `[x, y, width, height]`.
pub mod coco {
    use super::{BBox, Detection, GroundTruth};
    use crate::error::{Error, Result};
    use serde::{Deserialize, Serialize};
    use std::path::Path;

    #[derive(Clone, Debug, Serialize, Deserialize)]
    pub struct Image {
        pub id: usize,
        pub width: u32,
        pub height: u32,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub file_name: String,
    }

    #[derive(Clone, Debug, Serialize, Deserialize)]
    pub struct Annotation {
        pub id: usize,
        pub image_id: usize,
        pub category_id: usize,
        pub bbox: [f64; 4],
        pub area: f64,
        #[serde(default)]
        pub iscrowd: u8,
    }

    #[derive(Clone, Debug, Serialize, Deserialize)]
    pub struct Category {
        pub id: usize,
        pub name: String,
    }

    /// A COCO ground-truth file.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    pub struct Dataset {
        pub images: Vec<Image>,
        pub annotations: Vec<Annotation>,
        pub categories: Vec<Category>,
    }

    /// One entry of a COCO results file.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    pub struct ResultEntry {
        pub image_id: usize,
        pub category_id: usize,
        pub bbox: [f64; 4],
        pub score: f64,
    }

    fn from_xywh(b: [f64; 4]) -> BBox {
        BBox::new(b[0], b[1], b[0] + b[2], b[1] + b[3])
    }

    fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Output {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(de).map_err(|e| Error::Output {
            path: path.to_path_buf(),
            message: format!("not a COCO file: {}: {}", e.path(), e.inner()),
        })
    }

    fn invalid(path: &Path, problems: Vec<String>) -> Error {
        Error::Output {
            path: path.to_path_buf(),
            message: format!(
                "not a usable COCO file:\n{}",
                crate::error::problem_list(&problems)
            ),
        }
    }

    /// Why a COCO `[x, y, width, height]` box is unusable, if it is.
    fn bbox_problem(b: &[f64; 4]) -> Option<&'static str> {
        if b.iter().any(|v| !v.is_finite()) {
            Some("coordinates must be finite")
        } else if b[2] < 0.0 || b[3] < 0.0 {
            Some("width and height must not be negative")
        } else {
            None
        }
    }

    /// Ground truth of a COCO file; crowd annotations (`iscrowd` not 0, as pycocotools reads
    /// it) are crowd regions. Every annotation must name a listed image and category and have
    /// a box of finite, non-negative size, and there must be images to score.
    pub fn read_truth(path: &Path) -> Result<Vec<GroundTruth>> {
        Ok(read_truth_images(path)?.0)
    }

    /// [`read_truth`] and the ids of the file's images.
    pub fn read_truth_images(
        path: &Path,
    ) -> Result<(Vec<GroundTruth>, std::collections::BTreeSet<usize>)> {
        let d: Dataset = read(path)?;
        let images: std::collections::BTreeSet<usize> = d.images.iter().map(|i| i.id).collect();
        let categories: std::collections::BTreeSet<usize> =
            d.categories.iter().map(|c| c.id).collect();
        let mut problems = Vec::new();
        if images.is_empty() {
            problems.push("images: empty; there is nothing to score".to_string());
        }
        for (i, a) in d.annotations.iter().enumerate() {
            if !images.is_empty() && !images.contains(&a.image_id) {
                problems.push(format!(
                    "annotations[{i}].image_id: {} is not among the images",
                    a.image_id
                ));
            }
            if !categories.contains(&a.category_id) {
                problems.push(format!(
                    "annotations[{i}].category_id: {} is not among the categories",
                    a.category_id
                ));
            }
            if let Some(why) = bbox_problem(&a.bbox) {
                problems.push(format!("annotations[{i}].bbox: {why}"));
            }
        }
        if !problems.is_empty() {
            return Err(invalid(path, problems));
        }
        let truth = d
            .annotations
            .iter()
            .map(|a| GroundTruth {
                image: a.image_id,
                class: a.category_id,
                bbox: from_xywh(a.bbox),
                crowd: a.iscrowd != 0,
            })
            .collect();
        Ok((truth, images))
    }

    /// A ground-truth file and a results file to score against it (`eval-detections`): both
    /// valid, every detection on an image of the truth, and at least one object to find
    /// (otherwise mAP is undefined).
    pub fn read_scored(
        truth: &Path,
        detections: &Path,
    ) -> Result<(Vec<GroundTruth>, Vec<Detection>)> {
        let (truth_boxes, images) = read_truth_images(truth)?;
        let found = read_detections(detections)?;
        if let Some((i, d)) = found
            .iter()
            .enumerate()
            .find(|(_, d)| !images.contains(&d.image))
        {
            return Err(Error::Output {
                path: detections.to_path_buf(),
                message: format!(
                    "[{i}].image_id: {} is not among the images of {}",
                    d.image,
                    truth.display()
                ),
            });
        }
        if !truth_boxes.iter().any(|g| !g.crowd) {
            return Err(Error::Output {
                path: truth.to_path_buf(),
                message: "no objects (every annotation is a crowd region, or there are none): \
                          mAP is undefined"
                    .into(),
            });
        }
        Ok((truth_boxes, found))
    }

    /// Detections of a COCO results file; every box finite and of non-negative size, every
    /// score finite.
    pub fn read_detections(path: &Path) -> Result<Vec<Detection>> {
        let r: Vec<ResultEntry> = read(path)?;
        let mut problems = Vec::new();
        for (i, d) in r.iter().enumerate() {
            if let Some(why) = bbox_problem(&d.bbox) {
                problems.push(format!("[{i}].bbox: {why}"));
            }
            if !d.score.is_finite() {
                problems.push(format!("[{i}].score: must be finite"));
            }
        }
        if !problems.is_empty() {
            return Err(invalid(path, problems));
        }
        Ok(r.iter()
            .map(|d| Detection {
                image: d.image_id,
                class: d.category_id,
                bbox: from_xywh(d.bbox),
                score: d.score,
            })
            .collect())
    }
}
