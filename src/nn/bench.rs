//! Training-speed benchmarks of the steering presets (`steerlab bench train`): batch-1
//! latency, batch-64 forward and training throughput with the crate's ops, the same network on
//! candle's stock ops, each backbone layer's forward and backward time, and the PyTorch twin
//! (`bench/pytorch/`) run side by side. Figures are medians over repeats filling a time budget.

use crate::error::{Error, Result};
use crate::nn::machine::Machine;
use crate::nn::models::backbone::Backbone;
use crate::nn::models::steering::config::{BackboneConfig, InputSpec, LayerSpec, ModelConfig};
use crate::nn::models::steering::{Inputs, MixtureBatch};
use crate::nn::ops;
use crate::nn::train::optim::{AdamW, AdamWParams};
use crate::nn::{Model, ModelDir, device};
use crate::report::table::markdown_table;
use candle_core::{DType, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The config of a preset, or an error naming the presets.
fn preset_config(preset: &str) -> Result<ModelConfig> {
    ModelConfig::preset(preset).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "unknown preset {preset:?}; choose from {}",
            crate::nn::models::steering::config::PRESETS.join(", ")
        ))
    })
}

/// Median seconds of `f` over repeats filling about `budget` seconds.
pub fn median_time(budget: f64, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let probe = Instant::now();
    f()?;
    let once = probe.elapsed().as_secs_f64().max(1e-6);
    let repeats = ((budget / once) as usize).clamp(3, 1000);
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(times[times.len() / 2])
}

/// One framework's figures for one preset (PyTorch's twin prints the same as JSON lines).
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
pub struct TrainBenchFigures {
    #[serde(default)]
    pub framework: String,
    pub preset: String,
    /// Not a number where it could not be measured (written as `null`).
    #[serde(deserialize_with = "crate::files::f64_or_nan")]
    pub forward_batch1_ms: f64,
    #[serde(deserialize_with = "crate::files::f64_or_nan")]
    pub forward_batch64_samples_per_s: f64,
    #[serde(deserialize_with = "crate::files::f64_or_nan")]
    pub train_batch64_samples_per_s: f64,
    /// Why a figure is missing.
    #[serde(default)]
    pub note: Option<String>,
}

/// The same network evaluated with candle's stock `conv2d`, `relu`, `max_pool2d` and
/// `matmul`, on the model's own variables.
fn stock_forward(model: &Model, images: &Tensor) -> candle_core::Result<MixtureBatch> {
    let vars = model
        .tensors()
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let mut x = images.affine(2.0, -1.0)?;
    for (i, layer) in model.config.backbone.layers.iter().enumerate() {
        x = match *layer {
            LayerSpec::Conv {
                stride, padding, ..
            } => {
                let (w, b) = (
                    &vars[&format!("backbone.conv{i}.weight")],
                    &vars[&format!("backbone.conv{i}.bias")],
                );
                x.conv2d(w, padding, stride, 1, 1)?
                    .broadcast_add(&b.reshape((1, (), 1, 1))?)?
                    .relu()?
            }
            LayerSpec::MaxPool { kernel, stride } => x.max_pool2d_with_stride(kernel, stride)?,
        };
    }
    let mut x = x.flatten_from(1)?;
    let dense = model.config.steering.hidden.len() + 1;
    for i in 0..dense {
        let (w, b) = (
            &vars[&format!("steering.dense{i}.weight")],
            &vars[&format!("steering.dense{i}.bias")],
        );
        x = x.matmul(&w.t()?)?.broadcast_add(b)?;
        if i + 1 < dense {
            x = x.relu()?;
        }
    }
    MixtureBatch::from_raw(&x, &model.config.steering.scale())
}

/// `preset` with candle's stock ops, the same weights (how far its outputs are from ours is
/// said through `say`).
pub fn measure_stock(
    preset: &str,
    budget: f64,
    say: &mut dyn FnMut(&str),
) -> Result<TrainBenchFigures> {
    let model = Model::new(preset_config(preset)?, 0)?;
    let one = Tensor::rand(0f32, 1.0, (1, 3, 66, 200), &device())?;
    let batch = Tensor::rand(0f32, 1.0, (64, 3, 66, 200), &device())?;
    let targets = ((Tensor::rand(0f32, 1.0, 64, &device())? - 0.5)? * 0.1)?;
    // Same outputs as our ops, first.
    let (ours, theirs) = (
        model.net.forward(&Inputs::camera(one.clone()))?.means,
        stock_forward(&model, &one)?.means,
    );
    let diff = (ours - theirs)?.abs()?.max_all()?.to_scalar::<f32>()?;
    let latency = median_time(budget, || {
        stock_forward(&model, &one)?.means.to_vec2::<f32>()?;
        Ok(())
    })?;
    let forward = median_time(budget, || {
        stock_forward(&model, &batch)?.means.to_vec2::<f32>()?;
        Ok(())
    })?;
    let mut optimiser = AdamW::new(
        model.varmap.data().lock().expect("variables").clone(),
        AdamWParams::default(),
    )?;
    let mut step_once = || -> Result<()> {
        let grads = stock_forward(&model, &batch)?.nll(&targets)?.backward()?;
        optimiser.update(&grads, 1e-4)?;
        Ok(())
    };
    let (train, note) = match step_once() {
        Ok(()) => (64.0 / median_time(budget, step_once)?, None),
        Err(e) => (
            f64::NAN,
            Some(format!(
                "training step fails: {}",
                e.to_string().lines().next().unwrap_or("")
            )),
        ),
    };
    say(&format!(
        "  {preset} with candle's stock ops: outputs within {diff:.1e} of ours"
    ));
    Ok(TrainBenchFigures {
        framework: "candle 0.11.1 stock conv2d/max_pool2d/matmul".into(),
        preset: preset.into(),
        forward_batch1_ms: latency * 1e3,
        forward_batch64_samples_per_s: 64.0 / forward,
        train_batch64_samples_per_s: train,
        note,
    })
}

/// `n` samples of what a model of `config` reads: random camera images, random map patches
/// and commands where it reads them.
fn random_inputs(config: &ModelConfig, n: usize) -> Result<Inputs> {
    let i = config.input;
    let maps = match &config.map {
        Some(m) => {
            let s = m.spec.size;
            Some(Tensor::rand(
                0f32,
                1.0,
                (n, m.mode.channels(), s, s),
                &device(),
            )?)
        }
        None => None,
    };
    let commands = if config.reads_commands() {
        let follow = vec![crate::sim::map_input::Command::Follow; n];
        Some(crate::nn::data::dataset::commands_to_tensor(&follow)?)
    } else {
        None
    };
    let wheel_speeds = if config.reads_wheel_speed() {
        Some(Tensor::rand(0f32, 12.0, (n, 1), &device())?)
    } else {
        None
    };
    Ok(Inputs {
        images: Tensor::rand(0f32, 1.0, (n, i.channels, i.height, i.width), &device())?,
        maps,
        commands,
        wheel_speeds,
    })
}

/// `preset` with the crate's ops: batch-1 latency, batch-64 forward and training throughput;
/// the training step's phases and kernels are said through `say`.
pub fn measure(preset: &str, budget: f64, say: &mut dyn FnMut(&str)) -> Result<TrainBenchFigures> {
    let config = preset_config(preset)?;
    let one = random_inputs(&config, 1)?;
    let batch = random_inputs(&config, 64)?;
    let model = Model::new(config, 0)?;
    let targets = ((Tensor::rand(0f32, 1.0, 64, &device())? - 0.5)? * 0.1)?;
    let latency = median_time(budget, || {
        model.net.forward(&one)?.means.to_vec2::<f32>()?;
        Ok(())
    })?;
    let forward = median_time(budget, || {
        model.net.forward(&batch)?.means.to_vec2::<f32>()?;
        Ok(())
    })?;
    let mut optimiser = AdamW::new(
        model.varmap.data().lock().expect("variables").clone(),
        AdamWParams::default(),
    )?;
    let mut phases = [0.0f64; 3];
    let mut steps = 0usize;
    ops::profile::take_profile();
    let step = median_time(budget, || {
        let t0 = Instant::now();
        let loss = model.net.forward(&batch)?.nll(&targets)?;
        let t1 = Instant::now();
        let grads = loss.backward()?;
        let t2 = Instant::now();
        optimiser.update(&grads, 1e-4)?;
        let t3 = Instant::now();
        for (p, d) in phases.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2]) {
            *p += d.as_secs_f64();
        }
        steps += 1;
        Ok(())
    })?;
    let in_ops = ops::profile::take_profile();
    let ms = |p: f64| p / steps as f64 * 1e3;
    say(&format!(
        "  {preset} training step at batch 64: forward + loss {:.1} ms, backward {:.1} ms, AdamW {:.1} ms (means)",
        ms(phases[0]),
        ms(phases[1]),
        ms(phases[2])
    ));
    let named: Vec<String> = ops::profile::NAMES
        .iter()
        .zip(in_ops)
        .filter(|(_, t)| *t > 0.0)
        .map(|(n, t)| format!("{n} {:.1} ms", ms(t)))
        .collect();
    let total = ms(phases.iter().sum());
    let rest = total - ms(in_ops.iter().sum());
    say(&format!(
        "    of which {}; candle's own ops (mixture head and loss, gradient bookkeeping, AdamW) {rest:.1} ms",
        named.join(", ")
    ));
    Ok(TrainBenchFigures {
        framework: "steerlab (candle 0.11.1 + own conv/pool/dense ops)".into(),
        preset: preset.into(),
        forward_batch1_ms: latency * 1e3,
        forward_batch64_samples_per_s: 64.0 / forward,
        train_batch64_samples_per_s: 64.0 / step,
        note: None,
    })
}

/// Forward and backward time of each backbone layer at batch 64.
pub fn layer_profile(
    preset: &str,
    budget: f64,
    say: &mut dyn FnMut(&str),
) -> Result<Vec<LayerTime>> {
    let config = preset_config(preset)?;
    let mut shape = (
        config.input.channels,
        config.input.height,
        config.input.width,
    );
    say(&format!(
        "  {preset} layers at batch 64 (forward / backward, ms):"
    ));
    let mut times = Vec::new();
    for (i, layer) in config.backbone.layers.iter().enumerate() {
        let next = layer.output(shape).map_err(Error::InvalidArgument)?;
        // The layer alone, as a one-layer backbone on its own variables.
        let varmap = candle_nn::VarMap::new();
        let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &device());
        let single = BackboneConfig {
            normalise: false,
            layers: vec![*layer],
        };
        let (channels, height, width) = shape;
        let input = InputSpec {
            channels,
            height,
            width,
        };
        let net = Backbone::new(&single, input, vb)?;
        let image = Tensor::rand(0f32, 1.0, (64, channels, height, width), &device())?;
        // As in training: the first layer's input is the image, which needs no gradient.
        let var;
        let x = if i == 0 {
            &image
        } else {
            var = Var::from_tensor(&image)?;
            var.as_tensor()
        };
        let fwd = median_time(budget / 4.0, || {
            net.forward(x)?;
            Ok(())
        })?;
        let out = net.forward(x)?.sum_all()?;
        let bwd = median_time(budget / 4.0, || {
            out.backward()?;
            Ok(())
        })?;
        let name = match *layer {
            LayerSpec::Conv {
                out_channels,
                kernel,
                stride,
                ..
            } => format!("conv {out_channels}×{kernel}×{kernel} /{stride}"),
            LayerSpec::MaxPool { kernel, stride } => {
                format!("max pool {kernel}×{kernel} /{stride}")
            }
        };
        // The first layer's input is the image: no input gradient.
        let name = if i == 0 {
            format!("{name} (the image: no input gradient)")
        } else {
            name
        };
        say(&format!(
            "    layer {i} {name:<44} {:>7.1} / {:>7.1}",
            fwd * 1e3,
            bwd * 1e3
        ));
        times.push(LayerTime {
            preset: preset.into(),
            layer: name,
            forward_ms: fwd * 1e3,
            backward_ms: bwd * 1e3,
        });
        shape = next;
    }
    Ok(times)
}

/// The PyTorch twin (`bench/pytorch/steering_bench.py`) run by `python` on `presets`.
pub fn pytorch(
    python: &Path,
    presets: &[String],
    threads: usize,
    seconds: f64,
) -> Result<Vec<TrainBenchFigures>> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/pytorch/steering_bench.py");
    let mut cmd = std::process::Command::new(python);
    cmd.arg(&script)
        .arg("--threads")
        .arg(threads.to_string())
        .arg("--seconds")
        .arg(seconds.to_string());
    for p in presets {
        cmd.arg("--preset").arg(p);
    }
    let out = cmd.output().map_err(|error| Error::Io {
        context: format!("running {} {}", python.display(), script.display()),
        error,
    })?;
    if !out.status.success() {
        return Err(Error::InvalidArgument(format!(
            "{} failed:\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| Error::InvalidArgument(format!("PyTorch output line {l}: {e}")))
        })
        .collect()
}

/// One backbone layer's forward and backward time at batch 64.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayerTime {
    pub preset: String,
    pub layer: String,
    pub forward_ms: f64,
    pub backward_ms: f64,
}

/// What `bench train` measures: the presets, the seconds per measurement, candle's stock ops
/// too, and a Python with PyTorch and its threads to run the twin.
#[derive(Clone, Debug)]
pub struct TrainBenchOptions<'a> {
    pub presets: &'a [String],
    pub seconds: f64,
    pub stock: bool,
    pub pytorch: Option<(&'a Path, usize)>,
}

/// `bench train`'s figures, with the machine they were measured on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainBench {
    pub machine: Machine,
    /// Seconds spent on each measurement.
    pub seconds: f64,
    pub rows: Vec<TrainBenchFigures>,
    pub layers: Vec<LayerTime>,
}

/// Runs the training-speed benchmark `options` describe; each stage's details through `say`.
pub fn train_bench(options: &TrainBenchOptions, say: &mut dyn FnMut(&str)) -> Result<TrainBench> {
    for p in options.presets {
        preset_config(p)?;
    }
    let machine = Machine::here();
    let (mut rows, mut layers) = (Vec::new(), Vec::new());
    for preset in options.presets {
        rows.push(measure(preset, options.seconds, say)?);
        layers.extend(layer_profile(preset, options.seconds, say)?);
        if options.stock {
            rows.push(measure_stock(preset, options.seconds, say)?);
        }
    }
    if let Some((python, threads)) = options.pytorch {
        rows.extend(pytorch(python, options.presets, threads, options.seconds)?);
    }
    Ok(TrainBench {
        machine: machine.ended(),
        seconds: options.seconds,
        rows,
        layers,
    })
}

impl TrainBench {
    /// The tables `bench train` prints and the guide shows.
    pub fn markdown(&self) -> String {
        let mut r = format!(
            "{}; medians over {:.0} s of repeats per figure, f32.\n\n",
            self.machine.measured_on(),
            self.seconds
        );
        let figure = |x: f64, unit: &str, digits: usize| {
            if x.is_finite() && x > 0.0 {
                format!("{x:.digits$} {unit}")
            } else {
                "–".into()
            }
        };
        let rows = self.rows.iter().map(|row| {
            vec![
                row.framework.clone(),
                format!("`{}`", row.preset),
                figure(row.forward_batch1_ms, "ms", 2),
                figure(row.forward_batch64_samples_per_s, "samples/s", 0),
                figure(row.train_batch64_samples_per_s, "samples/s", 0),
            ]
        });
        r.push_str(&markdown_table(
            &[
                "framework",
                "preset",
                "batch 1 forward",
                "forward, batch 64",
                "training step, batch 64",
            ],
            rows,
        ));
        for row in self.rows.iter().filter(|r| r.note.is_some()) {
            r.push_str(&format!(
                "\n{} `{}`: {}\n",
                row.framework,
                row.preset,
                row.note.as_deref().unwrap_or("")
            ));
        }
        // Each preset against PyTorch, where both were measured.
        let ours = self
            .rows
            .iter()
            .filter(|r| r.framework.starts_with("steerlab"));
        for own in ours {
            let torch = self.rows.iter().find(|r| {
                r.preset == own.preset && r.framework.to_lowercase().starts_with("pytorch")
            });
            if let Some(torch) = torch {
                r.push_str(&format!(
                    "\n`{}` trains at {:.2}× PyTorch's samples/s and answers one frame in {:.2} of \
                     its time.\n",
                    own.preset,
                    own.train_batch64_samples_per_s / torch.train_batch64_samples_per_s,
                    own.forward_batch1_ms / torch.forward_batch1_ms
                ));
            }
        }
        let mut presets: Vec<&str> = self.layers.iter().map(|l| l.preset.as_str()).collect();
        presets.dedup();
        for preset in presets {
            r.push_str(&format!(
                "\nEach backbone layer of `{preset}` alone, batch 64:\n\n"
            ));
            let rows = (self.layers.iter().filter(|l| l.preset == preset)).map(|l| {
                vec![
                    l.layer.clone(),
                    format!("{:.1}", l.forward_ms),
                    format!("{:.1}", l.backward_ms),
                ]
            });
            r.push_str(&markdown_table(
                &["layer", "forward ms", "backward ms"],
                rows,
            ));
        }
        r
    }
}
