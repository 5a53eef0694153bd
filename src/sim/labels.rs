//! Labels the simulator knows for free: every pixel of a label frame names what it shows (the
//! sky, road, lane marking, ground, or one prop instance), from which come the per-pixel class
//! mask and the 2D box of every visible object (truncated to the image; hidden parts and hidden
//! objects have no pixels, so they are excluded without any depth test of our own).
//!
//! The label camera renders each object in a flat colour that encodes its id: 8 levels per
//! sRGB channel, 512 ids, decoded to the nearest level so that the sRGB round trip of the
//! render target cannot change an id.

use crate::sim::scenario::PropKind;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What a label id stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LabelClass {
    Sky,
    Road,
    LaneMarking,
    Ground,
    Prop(PropKind),
    /// A car of the traffic (a moving car; parked cars are `Prop(ParkedCar)`).
    Car,
    /// A town's buildings.
    Building,
}

impl LabelClass {
    /// Every class, in class-index order (the order of segmentation logits).
    pub fn all() -> Vec<LabelClass> {
        let mut all = vec![
            LabelClass::Sky,
            LabelClass::Road,
            LabelClass::LaneMarking,
            LabelClass::Ground,
        ];
        all.extend(PropKind::ALL.iter().map(|&k| LabelClass::Prop(k)));
        all.push(LabelClass::Car);
        all.push(LabelClass::Building);
        all
    }

    /// Index in [`LabelClass::all`].
    pub fn index(&self) -> usize {
        match self {
            LabelClass::Sky => 0,
            LabelClass::Road => 1,
            LabelClass::LaneMarking => 2,
            LabelClass::Ground => 3,
            LabelClass::Prop(k) => 4 + PropKind::ALL.iter().position(|p| p == k).unwrap_or(0),
            LabelClass::Car => 4 + PropKind::ALL.len(),
            LabelClass::Building => 5 + PropKind::ALL.len(),
        }
    }

    pub fn name(&self) -> String {
        match self {
            LabelClass::Sky => "sky".into(),
            LabelClass::Road => "road".into(),
            LabelClass::LaneMarking => "lane marking".into(),
            LabelClass::Ground => "ground".into(),
            LabelClass::Prop(k) => format!("{k:?}").to_lowercase(),
            LabelClass::Car => "car".into(),
            LabelClass::Building => "building".into(),
        }
    }

    /// Whether objects of this class get boxes (things, not stuff).
    pub fn is_object(&self) -> bool {
        matches!(self, LabelClass::Prop(_) | LabelClass::Car)
    }
}

/// Levels per channel of the id colours.
const LEVELS: u16 = 8;
/// Ids a label frame can hold.
pub const MAX_IDS: usize = (LEVELS * LEVELS * LEVELS) as usize;

/// The sRGB colour (each channel in 0–1) the label camera draws id `id` in.
pub fn id_colour(id: u16) -> [f64; 3] {
    let l = |v: u16| v as f64 / (LEVELS - 1) as f64;
    [
        l(id / (LEVELS * LEVELS) % LEVELS),
        l(id / LEVELS % LEVELS),
        l(id % LEVELS),
    ]
}

/// The id of a rendered label pixel.
pub fn decode(rgb: [u8; 3]) -> u16 {
    let level = |b: u8| ((b as f64 * (LEVELS - 1) as f64 / 255.0).round() as u16).min(LEVELS - 1);
    level(rgb[0]) * LEVELS * LEVELS + level(rgb[1]) * LEVELS + level(rgb[2])
}

/// The class of every id of a world: ids 0–3 are the stuff classes, then one id per prop
/// instance in spawn order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelTable {
    pub classes: Vec<LabelClass>,
}

impl LabelTable {
    /// A table holding the stuff classes only.
    pub fn new() -> Self {
        Self {
            classes: vec![
                LabelClass::Sky,
                LabelClass::Road,
                LabelClass::LaneMarking,
                LabelClass::Ground,
            ],
        }
    }

    /// Adds an object instance; its id, or `None` when the table is full.
    pub fn add(&mut self, class: LabelClass) -> Option<u16> {
        (self.classes.len() < MAX_IDS).then(|| {
            self.classes.push(class);
            (self.classes.len() - 1) as u16
        })
    }

    /// The id every surface of `class` shares (added on first use); `None` when the table
    /// is full.
    pub fn surface(&mut self, class: LabelClass) -> Option<u16> {
        match self.classes.iter().position(|c| *c == class) {
            Some(id) => Some(id as u16),
            None => self.add(class),
        }
    }
}

/// A visible object's box in pixels: `[x0, x1) × [y0, y1)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectBox {
    pub id: u16,
    pub class: LabelClass,
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
    /// Visible pixels.
    pub pixels: u32,
}

/// The label image of one camera frame.
#[derive(Clone, Debug)]
pub struct LabelFrame {
    pub tick: u64,
    pub width: u32,
    pub height: u32,
    /// Id of every pixel, row-major.
    pub ids: Vec<u16>,
    pub table: Arc<LabelTable>,
}

impl LabelFrame {
    /// Decodes a rendered label image (RGB8).
    pub fn from_rgb(
        tick: u64,
        width: u32,
        height: u32,
        rgb: &[u8],
        table: Arc<LabelTable>,
    ) -> Self {
        let ids = rgb
            .chunks_exact(3)
            .map(|p| decode([p[0], p[1], p[2]]))
            .collect();
        Self {
            tick,
            width,
            height,
            ids,
            table,
        }
    }

    /// Class index ([`LabelClass::index`]) of every pixel.
    pub fn class_mask(&self) -> Vec<u8> {
        self.ids
            .iter()
            .map(|&id| {
                self.table
                    .classes
                    .get(id as usize)
                    .map_or(0, |c| c.index() as u8)
            })
            .collect()
    }

    /// Boxes of the objects with at least `min_pixels` visible pixels, by id.
    pub fn boxes(&self, min_pixels: u32) -> Vec<ObjectBox> {
        let mut boxes: Vec<Option<ObjectBox>> = vec![None; self.table.classes.len()];
        for (i, &id) in self.ids.iter().enumerate() {
            let Some(class) = self.table.classes.get(id as usize) else {
                continue;
            };
            if !class.is_object() {
                continue;
            }
            let (x, y) = (i as u32 % self.width, i as u32 / self.width);
            let b = boxes[id as usize].get_or_insert(ObjectBox {
                id,
                class: *class,
                x0: x,
                y0: y,
                x1: x + 1,
                y1: y + 1,
                pixels: 0,
            });
            b.x0 = b.x0.min(x);
            b.y0 = b.y0.min(y);
            b.x1 = b.x1.max(x + 1);
            b.y1 = b.y1.max(y + 1);
            b.pixels += 1;
        }
        boxes
            .into_iter()
            .flatten()
            .filter(|b| b.pixels >= min_pixels)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_survives_its_colour_within_two_levels_of_rounding() {
        for id in 0..MAX_IDS as u16 {
            let c = id_colour(id);
            for err in [-2i32, 0, 2] {
                let byte = |v: f64| ((v * 255.0).round() as i32 + err).clamp(0, 255) as u8;
                assert_eq!(decode([byte(c[0]), byte(c[1]), byte(c[2])]), id);
            }
        }
    }
}
