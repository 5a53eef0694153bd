//! Camera frames: RGB8 images tagged with the tick they show.

use crate::error::{Error, Result};
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
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder
                .write_header()
                .map_err(|e| Error::Render(format!("PNG header: {e}")))?;
            writer
                .write_image_data(&self.rgb)
                .map_err(|e| Error::Render(format!("PNG data: {e}")))?;
        }
        Ok(out)
    }

    /// Decodes an 8-bit RGB PNG.
    pub fn from_png(png: &[u8], tick: u64, agent: usize) -> Result<Frame> {
        let bad = |e: String| Error::Render(format!("PNG frame: {e}"));
        let mut reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .map_err(|e| bad(e.to_string()))?;
        let info = reader.info();
        if info.color_type != png::ColorType::Rgb || info.bit_depth != png::BitDepth::Eight {
            return Err(bad(format!(
                "expected 8-bit RGB, got {:?} {:?}",
                info.color_type, info.bit_depth
            )));
        }
        let (width, height) = (info.width, info.height);
        if (width as u64) * (height as u64) > 64 << 20 {
            return Err(bad(format!("{width}x{height} is too large")));
        }
        let mut rgb = vec![
            0;
            reader
                .output_buffer_size()
                .ok_or_else(|| bad("size overflow".into()))?
        ];
        let out = reader
            .next_frame(&mut rgb)
            .map_err(|e| bad(e.to_string()))?;
        rgb.truncate(out.buffer_size());
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
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .map_err(|e| Error::Render(format!("PNG header: {e}")))?;
        writer
            .write_image_data(values)
            .map_err(|e| Error::Render(format!("PNG data: {e}")))?;
    }
    Ok(out)
}

/// Decodes an 8-bit grayscale PNG: width, height and values.
pub fn gray_from_png(png: &[u8]) -> Result<(u32, u32, Vec<u8>)> {
    let bad = |e: String| Error::Render(format!("PNG mask: {e}"));
    let mut reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .map_err(|e| bad(e.to_string()))?;
    let info = reader.info();
    if info.color_type != png::ColorType::Grayscale || info.bit_depth != png::BitDepth::Eight {
        return Err(bad(format!(
            "expected 8-bit grayscale, got {:?} {:?}",
            info.color_type, info.bit_depth
        )));
    }
    let (w, h) = (info.width, info.height);
    let mut values = vec![0u8; (w * h) as usize];
    reader
        .next_frame(&mut values)
        .map_err(|e| bad(e.to_string()))?;
    Ok((w, h, values))
}
