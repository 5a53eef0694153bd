//! Photometric augmentation of training frames.

use rand::{RngExt, rngs::StdRng};

/// Photometric augmentation: it changes how the world looks, never where the road is, so the
/// expert's label stays true.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Augment {
    /// Largest brightness shift, in units of full scale (0.15 = ±15 %).
    pub brightness: f32,
    /// Largest relative contrast change (0.25 = ×0.75–×1.25 around the image mean).
    pub contrast: f32,
    /// Largest relative per-channel gain change (colour jitter).
    pub colour: f32,
}

impl Default for Augment {
    fn default() -> Self {
        Self {
            brightness: 0.15,
            contrast: 0.25,
            colour: 0.08,
        }
    }
}

impl Augment {
    /// Brightness and contrast varying by about ± `fraction`, each colour channel by half as
    /// much: the jitter the detector's `--colour-jitter` asks for.
    pub fn jitter(fraction: f32) -> Self {
        Self {
            brightness: 0.45 * fraction,
            contrast: fraction,
            colour: fraction / 2.0,
        }
    }

    /// One random change within these ranges.
    pub fn draw(&self, rng: &mut StdRng) -> Jitter {
        Jitter {
            shift: rng.random_range(-self.brightness..=self.brightness),
            contrast: 1.0 + rng.random_range(-self.contrast..=self.contrast),
            gains: std::array::from_fn(|_| 1.0 + rng.random_range(-self.colour..=self.colour)),
        }
    }

    /// Draws one change and applies it to an image of three planes (CHW, values 0–1).
    pub fn apply(&self, chw: &mut [f32], rng: &mut StdRng) {
        self.draw(rng).apply(chw)
    }
}

/// One drawn photometric change: a brightness shift, a contrast factor around the image's mean
/// and a gain per colour channel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Jitter {
    pub shift: f32,
    pub contrast: f32,
    pub gains: [f32; 3],
}

impl Jitter {
    /// Changes an image of three planes (CHW, values 0–1) in place.
    pub fn apply(&self, chw: &mut [f32]) {
        let plane = chw.len() / 3;
        let mean = chw.iter().sum::<f32>() / chw.len().max(1) as f32;
        for (c, values) in chw.chunks_mut(plane).enumerate() {
            for v in values {
                *v = (((*v - mean) * self.contrast + mean + self.shift) * self.gains[c])
                    .clamp(0.0, 1.0);
            }
        }
    }
}
