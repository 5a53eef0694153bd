//! The convolutional backbone shared by every head: it returns feature maps, heads own only
//! their own layers (the YOLOv8 / YOLOv8-Pose pattern), so one set of backbone weights serves
//! steering, classification, detection and segmentation.

use crate::nn::models::steering::config::{BackboneConfig, InputSpec, LayerSpec};
use crate::nn::ops;
use candle_core::{Result, Tensor, bail};
use candle_nn::{Init, VarBuilder};

enum Layer {
    Conv {
        weight: Tensor,
        bias: Tensor,
        spec: ops::Conv2dSpec,
    },
    MaxPool {
        kernel: usize,
        stride: usize,
    },
}

/// Input normalisation: 0–1 to −1…1.
const NORMALISE: (f64, f64) = (2.0, -1.0);

/// Normalisation, then convolutions (each followed by ReLU) and max-pools.
pub struct Backbone {
    input: InputSpec,
    normalise: bool,
    layers: Vec<Layer>,
}

impl Backbone {
    /// Builds the layers under `vb` (`conv{i}.weight`, `conv{i}.bias`, i counting layers).
    pub fn new(config: &BackboneConfig, input: InputSpec, vb: VarBuilder) -> Result<Self> {
        let mut channels = input.channels;
        let mut layers = Vec::new();
        for (i, spec) in config.layers.iter().enumerate() {
            layers.push(match *spec {
                LayerSpec::Conv {
                    out_channels,
                    kernel,
                    ..
                } => {
                    let vb = vb.pp(format!("conv{i}"));
                    let shape = (out_channels, channels, kernel, kernel);
                    channels = out_channels;
                    Layer::Conv {
                        weight: vb.get_with_hints(shape, "weight", Init::Const(0.0))?,
                        bias: vb.get_with_hints(out_channels, "bias", Init::Const(0.0))?,
                        spec: spec.conv_spec().expect("a conv layer"),
                    }
                }
                LayerSpec::MaxPool { kernel, stride } => Layer::MaxPool { kernel, stride },
            });
        }
        Ok(Self {
            input,
            normalise: config.normalise,
            layers,
        })
    }

    /// `x (B, C, H, W)`, values 0–1 → feature maps `(B, C', H', W')`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut all = self.forward_all(x)?;
        all.pop().map_or_else(|| bail!("backbone: no layers"), Ok)
    }

    /// The output of every layer, first to last (for decoders with skip connections).
    pub fn forward_all(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let InputSpec {
            channels,
            height,
            width,
        } = self.input;
        match x.dims() {
            &[_, c, h, w] if (c, h, w) == (channels, height, width) => {}
            dims => {
                bail!("backbone: expected input (B, {channels}, {height}, {width}), got {dims:?}")
            }
        }
        // PilotNet: (B, 3, 66, 200) → (B, 24, 31, 98) → (B, 36, 14, 47) → (B, 48, 5, 22)
        //           → (B, 64, 3, 20) → (B, 64, 1, 18)
        // Normalisation to −1…1 rides on the first convolution when there is one.
        let mut affine = if self.normalise {
            Some(NORMALISE)
        } else {
            None
        };
        let mut x = x.clone();
        let mut outputs = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            x = match layer {
                Layer::Conv { weight, bias, spec } => {
                    let map = affine.take().unwrap_or((1.0, 0.0));
                    ops::conv2d_of_affine(&x, map, weight, bias, *spec, true)?
                }
                Layer::MaxPool { kernel, stride } => {
                    if let Some((scale, shift)) = affine.take() {
                        x = x.affine(scale, shift)?;
                    }
                    ops::max_pool2d(&x, *kernel, *stride)?
                }
            };
            outputs.push(x.clone());
        }
        if let (Some((scale, shift)), Some(last)) = (affine, outputs.last_mut()) {
            *last = last.affine(scale, shift)?;
        }
        Ok(outputs)
    }
}
