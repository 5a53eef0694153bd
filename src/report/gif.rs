//! Animated GIFs written frame by frame: plain RGB images, all the size of the first, looping.

use crate::error::Error;
use std::path::{Path, PathBuf};

/// An animated GIF written frame by frame (all frames the size of the first), looping; the
/// file is created with the first frame.
pub struct GifWriter {
    path: PathBuf,
    delay_cs: u16,
    encoder: Option<gif::Encoder<std::fs::File>>,
    size: Option<(u32, u32)>,
}

impl GifWriter {
    /// A GIF at `path` showing each frame for `delay_cs` hundredths of a second.
    pub fn new(path: &Path, delay_cs: u16) -> Self {
        Self {
            path: path.to_path_buf(),
            delay_cs: delay_cs.max(1),
            encoder: None,
            size: None,
        }
    }

    /// Where the GIF is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a `width` × `height` frame of packed RGB bytes.
    pub fn push(&mut self, width: u32, height: u32, rgb: &[u8]) -> crate::Result<()> {
        let failed = |message: String| Error::Output {
            path: self.path.clone(),
            message,
        };
        let (Ok(w), Ok(h)) = (u16::try_from(width), u16::try_from(height)) else {
            return Err(failed(format!(
                "a {width} × {height} frame is larger than a GIF holds (65 535 pixels a side)"
            )));
        };
        if rgb.len() != width as usize * height as usize * 3 {
            return Err(failed(format!(
                "{} bytes for a {width} × {height} RGB frame",
                rgb.len()
            )));
        }
        if self.encoder.is_none() {
            let file = std::fs::File::create(&self.path).map_err(|error| Error::Io {
                context: format!("creating {}", self.path.display()),
                error,
            })?;
            let mut encoder =
                gif::Encoder::new(file, w, h, &[]).map_err(|e| failed(e.to_string()))?;
            encoder
                .set_repeat(gif::Repeat::Infinite)
                .map_err(|e| failed(e.to_string()))?;
            self.encoder = Some(encoder);
            self.size = Some((width, height));
        }
        if self.size != Some((width, height)) {
            return Err(failed("frame size changed within the GIF".into()));
        }
        let mut g = gif::Frame::from_rgb_speed(w, h, rgb, 10);
        g.delay = self.delay_cs;
        let written = match self.encoder.as_mut() {
            Some(encoder) => encoder.write_frame(&g),
            None => return Err(failed("the encoder was not created".into())),
        };
        written.map_err(|e| failed(e.to_string()))
    }

    /// Closes the file and returns its path.
    pub fn finish(self) -> PathBuf {
        drop(self.encoder);
        self.path
    }
}
