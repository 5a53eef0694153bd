//! A convolutional layer of a trunk as configs name it, with the shape it outputs and the
//! weights it holds.

use crate::nn::ops::Conv2dSpec;
use serde::{Deserialize, Serialize};

/// Largest kernel, stride or padding of a layer.
pub const MAX_KERNEL: usize = 64;
/// Most channels of a layer, or units of a dense layer.
pub const MAX_WIDTH: usize = 65_536;

/// One backbone layer. Every convolution is followed by a ReLU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerSpec {
    Conv {
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    MaxPool {
        kernel: usize,
        stride: usize,
    },
}

impl LayerSpec {
    /// Output (C, H, W) of this layer for an input (C, H, W), or why it does not fit.
    pub fn output(
        &self,
        (c, h, w): (usize, usize, usize),
    ) -> Result<(usize, usize, usize), String> {
        let (kernel, stride, padding, channels) = match *self {
            LayerSpec::Conv {
                out_channels,
                kernel,
                stride,
                padding,
            } => (kernel, stride, padding, out_channels),
            LayerSpec::MaxPool { kernel, stride } => (kernel, stride, 0, c),
        };
        if kernel == 0 || stride == 0 || channels == 0 {
            return Err("kernel, stride and channels must be at least 1".into());
        }
        if kernel > MAX_KERNEL || stride > MAX_KERNEL || padding > MAX_KERNEL {
            return Err(format!(
                "kernel, stride and padding must be at most {MAX_KERNEL}"
            ));
        }
        if channels > MAX_WIDTH {
            return Err(format!("{channels} channels: the limit is {MAX_WIDTH}"));
        }
        let (ph, pw) = (h + 2 * padding, w + 2 * padding);
        if ph < kernel || pw < kernel {
            return Err(format!(
                "a {kernel}x{kernel} window does not fit a {h}x{w} input"
            ));
        }
        Ok((
            channels,
            (ph - kernel) / stride + 1,
            (pw - kernel) / stride + 1,
        ))
    }

    pub fn conv_spec(&self) -> Option<Conv2dSpec> {
        match *self {
            LayerSpec::Conv {
                stride, padding, ..
            } => Some(Conv2dSpec { stride, padding }),
            LayerSpec::MaxPool { .. } => None,
        }
    }
}

/// Weights of the convolutions `layers` over `channels` input channels (counted in f64: a
/// hostile config must not overflow).
pub fn conv_parameters(channels: usize, layers: &[LayerSpec]) -> f64 {
    let (mut c, mut total) = (channels as f64, 0.0);
    for layer in layers {
        if let LayerSpec::Conv {
            out_channels,
            kernel,
            ..
        } = *layer
        {
            let out = out_channels as f64;
            total += c * out * (kernel * kernel) as f64 + out;
            c = out;
        }
    }
    total
}
