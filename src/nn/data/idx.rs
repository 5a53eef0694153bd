//! The IDX files of MNIST and Fashion-MNIST (LeCun's format, optionally gzipped): a magic
//! number giving the element type and rank, big-endian dimensions, then the values.

use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

fn idx_err(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Episode {
        path: path.to_path_buf(),
        message: format!("IDX file: {message}"),
    }
}

/// Reads an unsigned-byte IDX file (`.gz` decompressed on the fly): its dimensions and values.
pub fn read_u8(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let file = std::fs::File::open(path).map_err(|e| idx_err(path, e))?;
    let mut bytes = Vec::new();
    let gz = path.extension().is_some_and(|e| e == "gz");
    let read = if gz {
        flate2::read::GzDecoder::new(file).read_to_end(&mut bytes)
    } else {
        std::io::BufReader::new(file).read_to_end(&mut bytes)
    };
    read.map_err(|e| idx_err(path, e))?;
    parse_u8(&bytes).map_err(|e| idx_err(path, e))
}

/// Parses the bytes of an unsigned-byte IDX file.
pub fn parse_u8(bytes: &[u8]) -> std::result::Result<(Vec<usize>, Vec<u8>), String> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err("not an IDX file (bad magic number)".into());
    }
    if bytes[2] != 0x08 {
        return Err(format!(
            "element type {:#04x}; only unsigned bytes (0x08) are read",
            bytes[2]
        ));
    }
    let rank = bytes[3] as usize;
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err("truncated header".into());
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let count: usize = dims.iter().product();
    let values = &bytes[header..];
    if values.len() < count {
        return Err(format!(
            "truncated: {count} values declared, {} present",
            values.len()
        ));
    }
    Ok((dims, values[..count].to_vec()))
}
