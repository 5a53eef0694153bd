//! Writing files so that a crash or Ctrl-C never leaves a half-written one behind.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` through a temporary file in the same directory, synced and renamed:
/// readers see either the old file or the whole new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    replace_with(path, |tmp| {
        std::fs::File::create(tmp)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(|e| e.to_string())
    })
}

/// Writes `value` as pretty JSON to `path` through a temporary name; errors name the file.
pub fn write_json<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_vec_pretty(value).map_err(|e| Error::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    write_atomic(path, &json)
}

/// The JSON value in `path`, or `None` when there is no such file; an unreadable value is an
/// error naming the file, with `fix` saying what to do about it.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path, fix: &str) -> Result<Option<T>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Output {
            path: path.to_path_buf(),
            message: format!("{e}; {fix}"),
        })
}

/// Like [`write_atomic`] for writers that take a path: `write` creates the temporary file,
/// which is then synced and renamed onto `path`. On any failure the temporary file is removed.
pub fn replace_with(
    path: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), String>,
) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.part"));
    let written = write(&tmp).and_then(|_| {
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| e.to_string())
    });
    written.map_err(|message| {
        let _ = std::fs::remove_file(&tmp);
        Error::Output {
            path: path.to_path_buf(),
            message,
        }
    })
}

/// Creates `dir` and its parents; the error names the folder.
pub fn create_dir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|error| Error::Io {
        context: format!("creating {}", dir.display()),
        error,
    })
}

/// Removes an earlier run's folder `dir` (`what` it holds, for the error), if there is one.
pub fn clear_earlier(dir: &Path, what: &str) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    std::fs::remove_dir_all(dir).map_err(|error| Error::Io {
        context: format!("clearing an earlier run's {what} {}", dir.display()),
        error,
    })
}

/// An exclusive lock on a folder that one writer at a time fills: `DIR/.lock`, held while this
/// lives and released when it is dropped or the process ends, however it ends (`flock`).
#[derive(Debug)]
pub struct DirLock {
    _file: std::fs::File,
}

/// Locks `dir` (created if missing) for `what`; a second writer gets an error naming the folder.
pub fn lock_dir(dir: &Path, what: &str) -> Result<DirLock> {
    create_dir_all(dir)?;
    let path = dir.join(".lock");
    let io = |context: &str, error| Error::Io {
        context: format!("{context} {}", path.display()),
        error,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io("opening", e))?;
    match file.try_lock() {
        Ok(()) => Ok(DirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Output {
            path: dir.to_path_buf(),
            message: format!(
                "another {what} is writing into this folder (it holds {}); wait for it to \
                 finish, or choose another folder",
                path.display()
            ),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io("locking", e)),
    }
}

/// The pixel layouts of the PNG files the project reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pixels {
    /// Three bytes a pixel (camera frames, plots).
    Rgb,
    /// One byte a pixel (class masks).
    Gray,
}

impl Pixels {
    fn colour_type(self) -> png::ColorType {
        match self {
            Pixels::Rgb => png::ColorType::Rgb,
            Pixels::Gray => png::ColorType::Grayscale,
        }
    }
}

/// Encodes 8-bit pixels (`width·height` of `pixels`' layout, row-major) as PNG.
pub fn encode_png(width: u32, height: u32, pixels: Pixels, data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(pixels.colour_type());
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .map_err(|e| Error::Render(format!("PNG header: {e}")))?;
        writer
            .write_image_data(data)
            .map_err(|e| Error::Render(format!("PNG data: {e}")))?;
    }
    Ok(out)
}

/// Decodes an 8-bit PNG of the layout `pixels`: width, height and the pixels. Errors start with
/// `what` ("PNG frame") and refuse images over 64 megapixels before allocating.
pub fn decode_png(bytes: &[u8], pixels: Pixels, what: &str) -> Result<(u32, u32, Vec<u8>)> {
    let bad = |e: String| Error::Render(format!("{what}: {e}"));
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .map_err(|e| bad(e.to_string()))?;
    let info = reader.info();
    if info.color_type != pixels.colour_type() || info.bit_depth != png::BitDepth::Eight {
        let expected = match pixels {
            Pixels::Rgb => "8-bit RGB",
            Pixels::Gray => "8-bit grayscale",
        };
        return Err(bad(format!(
            "expected {expected}, got {:?} {:?}",
            info.color_type, info.bit_depth
        )));
    }
    let (width, height) = (info.width, info.height);
    if (width as u64) * (height as u64) > 64 << 20 {
        return Err(bad(format!("{width}x{height} is too large")));
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| bad("size overflow".into()))?;
    let mut data = vec![0; size];
    let out = reader
        .next_frame(&mut data)
        .map_err(|e| bad(e.to_string()))?;
    data.truncate(out.buffer_size());
    Ok((width, height, data))
}

/// Reads a number written as JSON, where a number that is not finite was written as `null`
/// (serde_json writes NaN so): `null` reads as NaN (`#[serde(deserialize_with = ...)]`).
pub fn f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    use serde::Deserialize;
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}
