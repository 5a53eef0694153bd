//! The detector's data: frames and their objects in memory, read from labelled episodes, and
//! the changes made to training frames.

use crate::error::{Error, Result};
use crate::nn::data::dataset::{Augment, Jitter};
use crate::nn::device;
use crate::nn::models::detect::boxes::{BBox, GroundTruth};
use crate::nn::models::steering::config::InputSpec;
use crate::record::schema::ObjectsMsg;
use candle_core::Tensor;
use rand::{RngExt, rngs::StdRng};

/// One image's objects: boxes with their class, and boxes of objects too small to count,
/// which are neither object nor background in training and crowd regions in scoring (with
/// their class, `None` for one not among the classes, which is not scored).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImageTruth {
    pub objects: Vec<(usize, BBox)>,
    pub ignored: Vec<(Option<usize>, BBox)>,
}

impl ImageTruth {
    pub(crate) fn flipped(&self, width: f64) -> Self {
        let flip = |b: &BBox| BBox::new(width - b.x1, b.y0, width - b.x0, b.y1);
        Self {
            objects: self.objects.iter().map(|(c, b)| (*c, flip(b))).collect(),
            ignored: self.ignored.iter().map(|(c, b)| (*c, flip(b))).collect(),
        }
    }

    pub(crate) fn ignored_boxes(&self) -> Vec<BBox> {
        self.ignored.iter().map(|(_, b)| *b).collect()
    }
}

/// How a training frame is changed: mirrored left–right (its boxes with it), and its light
/// and colour jittered.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Transform {
    pub flip: bool,
    pub jitter: Option<Jitter>,
}

impl Transform {
    /// A random change: a coin for the flip (when `flip`), a photometric draw (when given).
    pub fn random(rng: &mut StdRng, flip: bool, photometric: Option<&Augment>) -> Self {
        Self {
            flip: flip && rng.random_bool(0.5),
            jitter: photometric.map(|p| p.draw(rng)),
        }
    }
}

/// Frames and their objects, in memory.
#[derive(Clone, Debug, Default)]
pub struct BoxedImages {
    pub input: Option<InputSpec>,
    pub classes: Vec<String>,
    /// RGB8 `H × W × 3` per image.
    pub frames: Vec<Vec<u8>>,
    pub truths: Vec<ImageTruth>,
}

impl BoxedImages {
    /// Empty, over the object classes the simulator labels.
    pub fn new() -> Self {
        Self {
            classes: crate::sim::labels::LabelClass::all()
                .into_iter()
                .filter(|c| c.is_object())
                .map(|c| c.name())
                .collect(),
            ..Self::default()
        }
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Splits off the images from `at` on, which are returned.
    pub fn split_off(&mut self, at: usize) -> Self {
        Self {
            input: self.input,
            classes: self.classes.clone(),
            frames: self.frames.split_off(at),
            truths: self.truths.split_off(at),
        }
    }

    /// Adds a frame (all frames the size of the first) and its objects.
    pub fn push(&mut self, width: u32, height: u32, rgb: Vec<u8>, truth: ImageTruth) -> Result<()> {
        let spec = InputSpec {
            channels: 3,
            height: height as usize,
            width: width as usize,
        };
        if *self.input.get_or_insert(spec) != spec || rgb.len() != 3 * spec.height * spec.width {
            return Err(Error::InvalidArgument(format!(
                "a {width}x{height} frame does not match the others"
            )));
        }
        // Ignored regions too: scoring takes them as crowd regions of their class.
        let unknown = truth
            .objects
            .iter()
            .map(|(c, _)| *c)
            .chain(truth.ignored.iter().filter_map(|(c, _)| *c))
            .find(|c| *c >= self.classes.len());
        if let Some(c) = unknown {
            return Err(Error::InvalidArgument(format!(
                "object class {c} of {} classes",
                self.classes.len()
            )));
        }
        self.frames.push(rgb);
        self.truths.push(truth);
        Ok(())
    }

    /// A frame's recorded objects as its truth, classes by these images' class names: objects
    /// with fewer than `min_pixels` visible pixels (or no area) are kept as ignored regions.
    pub fn truth_of(&self, objects: &ObjectsMsg, min_pixels: u32) -> ImageTruth {
        let mut truth = ImageTruth::default();
        for o in &objects.objects {
            let b = BBox::new(o.x0 as f64, o.y0 as f64, o.x1 as f64, o.y1 as f64);
            let class = self.classes.iter().position(|c| *c == o.class);
            match class {
                Some(c) if o.pixels >= min_pixels && b.area() > 0.0 => truth.objects.push((c, b)),
                _ => truth.ignored.push((class, b)),
            }
        }
        truth
    }

    /// The labelled frames of episodes recorded with `--labels`, every `every`-th; objects with
    /// fewer than `min_pixels` visible pixels are kept as ignored regions.
    pub fn from_episodes(
        files: &[std::path::PathBuf],
        every: u64,
        min_pixels: u32,
    ) -> Result<Self> {
        let mut out = Self::new();
        for file in files {
            let episode = crate::record::EpisodeReader::open(file)?;
            for step in episode.steps(true)? {
                let (Some(frame), Some(objects)) = (step.frame, step.objects) else {
                    continue;
                };
                if step.tick % every.max(1) != 0 {
                    continue;
                }
                let truth = out.truth_of(&objects, min_pixels);
                out.push(frame.width, frame.height, frame.rgb, truth)
                    .map_err(|e| Error::InvalidArgument(format!("{}: {e}", file.display())))?;
            }
        }
        Ok(out)
    }

    /// Images `(B, 3, H, W)` 0–1 of `indices`, each changed as its [`Transform`] says (none
    /// where `changes` is shorter).
    pub fn images(&self, indices: &[usize], changes: &[Transform]) -> Result<Tensor> {
        let spec = self
            .input
            .ok_or_else(|| Error::InvalidArgument("no images".into()))?;
        let (h, w) = (spec.height, spec.width);
        let mut values = Vec::with_capacity(indices.len() * 3 * h * w);
        for (n, &i) in indices.iter().enumerate() {
            let rgb = &self.frames[i];
            let change = changes.get(n).copied().unwrap_or_default();
            let start = values.len();
            for c in 0..3 {
                for y in 0..h {
                    let row = &rgb[y * w * 3..(y + 1) * w * 3];
                    for x in 0..w {
                        let x = if change.flip { w - 1 - x } else { x };
                        values.push(row[x * 3 + c] as f32 / 255.0);
                    }
                }
            }
            if let Some(jitter) = change.jitter {
                jitter.apply(&mut values[start..]);
            }
        }
        Ok(Tensor::from_vec(
            values,
            (indices.len(), 3, h, w),
            &device(),
        )?)
    }

    /// Every counted object as ground truth, `image` its index here.
    pub fn ground_truth(&self) -> Vec<GroundTruth> {
        self.scored_truth()
            .into_iter()
            .filter(|g| !g.crowd)
            .collect()
    }

    /// The ground truth detections are scored against: every counted object, and every
    /// ignored region of a known class as a crowd region, so that finding an object too small
    /// to count is neither right nor wrong (as COCO treats `iscrowd` annotations).
    pub fn scored_truth(&self) -> Vec<GroundTruth> {
        let mut out = Vec::new();
        for (image, t) in self.truths.iter().enumerate() {
            for &(class, bbox) in &t.objects {
                out.push(GroundTruth {
                    image,
                    class,
                    bbox,
                    crowd: false,
                });
            }
            for &(class, bbox) in &t.ignored {
                if let Some(class) = class {
                    out.push(GroundTruth {
                        image,
                        class,
                        bbox,
                        crowd: true,
                    });
                }
            }
        }
        out
    }
}
