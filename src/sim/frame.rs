//! Camera frames: RGB8 images tagged with the tick they show.

use crate::error::Result;
use crate::files::{Pixels, decode_png, encode_png};
use std::path::Path;

/// One camera image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Simulation tick shown (equal to the `tick` of the state it belongs to).
    pub tick: u64,
    /// Agent whose camera took it.
    pub agent: usize,
    pub width: u32,
    pub height: u32,
    /// RGB8, row-major, sRGB-encoded, `width * height * 3` bytes.
    pub rgb: Vec<u8>,
}

impl Frame {
    /// The pixel at column `x`, row `y`.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 3) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Mean colour of the rectangle `[x0, x1) × [y0, y1)`.
    pub fn mean_rgb(&self, x0: u32, x1: u32, y0: u32, y1: u32) -> [f64; 3] {
        let mut sum = [0.0; 3];
        let mut n = 0.0;
        for y in y0..y1.min(self.height) {
            for x in x0..x1.min(self.width) {
                let p = self.pixel(x, y);
                for c in 0..3 {
                    sum[c] += p[c] as f64;
                }
                n += 1.0;
            }
        }
        sum.map(|s| if n > 0.0 { s / n } else { 0.0 })
    }

    /// FNV-1a hash of the pixels, for cheap equality checks across runs.
    pub fn content_hash(&self) -> u64 {
        crate::sim::math::fnv1a(&[&self.rgb])
    }

    /// Encodes the frame as PNG.
    pub fn to_png(&self) -> Result<Vec<u8>> {
        encode_png(self.width, self.height, Pixels::Rgb, &self.rgb)
    }

    /// Decodes an 8-bit RGB PNG.
    pub fn from_png(png: &[u8], tick: u64, agent: usize) -> Result<Frame> {
        let (width, height, rgb) = decode_png(png, Pixels::Rgb, "PNG frame")?;
        Ok(Frame {
            tick,
            agent,
            width,
            height,
            rgb,
        })
    }

    /// Writes the frame as a PNG file (through a temporary name, so a crash leaves no half file).
    pub fn save_png(&self, path: &Path) -> Result<()> {
        crate::files::write_atomic(path, &self.to_png()?)
    }
}

/// Encodes an 8-bit grayscale PNG (class masks).
pub fn gray_png(width: u32, height: u32, values: &[u8]) -> Result<Vec<u8>> {
    encode_png(width, height, Pixels::Gray, values)
}

/// Decodes an 8-bit grayscale PNG: width, height and values.
pub fn gray_from_png(png: &[u8]) -> Result<(u32, u32, Vec<u8>)> {
    decode_png(png, Pixels::Gray, "PNG mask")
}
