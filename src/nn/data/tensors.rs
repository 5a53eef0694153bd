//! The network's inputs as tensors: camera frames, map patches and navigation commands.

use crate::error::{Error, Result};
use crate::nn::device;
use crate::sim::Frame;
use crate::sim::map_input::{COMMANDS, Command};
use candle_core::Tensor;

/// Appends a frame to `out` as CHW floats 0–1, the layout the network reads.
pub(crate) fn append_chw(frame: &Frame, out: &mut Vec<f32>) {
    let plane = (frame.width * frame.height) as usize;
    let start = out.len();
    out.resize(start + 3 * plane, 0.0);
    let chw = &mut out[start..];
    for (i, px) in frame.rgb.chunks_exact(3).enumerate() {
        for c in 0..3 {
            chw[c * plane + i] = px[c] as f32 / 255.0;
        }
    }
}

/// Frames `(N, 3, H, W)`, values 0–1, as the network reads them.
pub fn frames_to_tensor(frames: &[&Frame]) -> Result<Tensor> {
    let Some(first) = frames.first() else {
        return Err(Error::InvalidArgument("no frames".into()));
    };
    let (h, w) = (first.height as usize, first.width as usize);
    let mut all = Vec::with_capacity(frames.len() * 3 * h * w);
    for f in frames {
        if (f.height as usize, f.width as usize) != (h, w) {
            return Err(Error::InvalidArgument(
                "frames of different sizes in one batch".into(),
            ));
        }
        append_chw(f, &mut all);
    }
    Ok(Tensor::from_vec(all, (frames.len(), 3, h, w), &device())?)
}

/// Map patches `(N, C, S, S)` 0–1: the first `channels` of each RGB patch (red the drivable
/// area, green the route).
pub fn maps_to_tensor(patches: &[&Frame], channels: usize) -> Result<Tensor> {
    let Some(first) = patches.first() else {
        return Err(Error::InvalidArgument("no map patches".into()));
    };
    let n = first.width as usize;
    let mut all = Vec::with_capacity(patches.len() * channels * n * n);
    for p in patches {
        if (p.width as usize, p.height as usize) != (n, n) {
            return Err(Error::InvalidArgument(format!(
                "map patches of different sizes in one batch ({}x{} and {n}x{n})",
                p.width, p.height
            )));
        }
        for c in 0..channels {
            all.extend(p.rgb.chunks_exact(3).map(|px| px[c] as f32 / 255.0));
        }
    }
    Ok(Tensor::from_vec(
        all,
        (patches.len(), channels, n, n),
        &device(),
    )?)
}

/// Commands `(N, COMMANDS)` one-hot.
pub fn commands_to_tensor(commands: &[Command]) -> Result<Tensor> {
    let mut all = vec![0f32; commands.len() * COMMANDS];
    for (i, c) in commands.iter().enumerate() {
        all[i * COMMANDS + c.index()] = 1.0;
    }
    Ok(Tensor::from_vec(
        all,
        (commands.len(), COMMANDS),
        &device(),
    )?)
}
