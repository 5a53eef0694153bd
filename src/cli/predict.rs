//! `steerlab predict`: a model's steering distribution for an image or every frame of an episode.

use crate::nn::ModelDir;
use crate::nn::data::dataset::{BatchStream, Dataset, StreamSpec, frames_to_tensor};
use crate::nn::models::steering::Inputs;
use crate::nn::{Model, SteeringDistribution};
use crate::report::RGBColor;
use crate::report::plot::{GREEN, LinePanel, RED, line_panels_sized};
use crate::sim::Frame;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct PredictArgs {
    /// Model directory (config.json + model.safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// A PNG camera frame or an MCAP episode.
    pub input: PathBuf,
    /// Where to draw the distribution (image) or the predictions along the episode.
    #[arg(long, default_value = "prediction.png")]
    pub plot: PathBuf,
    /// Frames per forward pass for episodes.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
}

fn describe(d: &SteeringDistribution) -> String {
    let parts: Vec<String> = d
        .components()
        .iter()
        .map(|c| {
            format!(
                "w {:.3} mean {:+.4} sigma {:.4}",
                c.weight, c.mean, c.std_dev
            )
        })
        .collect();
    format!(
        "mode {:+.4} 1/m, mean {:+.4} 1/m | {}",
        d.mode(),
        d.mean(),
        parts.join(" | ")
    )
}

fn check_size(model: &Model, frame: &Frame, source: &Path) -> Result<()> {
    let i = model.config.input;
    if (frame.width as usize, frame.height as usize) != (i.width, i.height) {
        bail!(
            "{}: image is {}x{} but the model reads {}x{} (scenario camera.width_px {}, camera.height_px {}; \
             or re-render an episode with `steerlab replay --resimulate --camera-width W --camera-height H --frames DIR`)",
            source.display(),
            frame.width,
            frame.height,
            i.width,
            i.height,
            i.width,
            i.height
        );
    }
    Ok(())
}

pub fn run(args: &PredictArgs) -> Result<ExitCode> {
    let model = Model::load(&args.model)?;
    let is_png = args
        .input
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if is_png {
        let bytes = std::fs::read(&args.input)
            .with_context(|| format!("reading {}", args.input.display()))?;
        let frame = Frame::from_png(&bytes, 0, 0)
            .with_context(|| format!("{}: not a PNG image", args.input.display()))?;
        check_size(&model, &frame, &args.input)?;
        let started = std::time::Instant::now();
        if model.config.map_channels() > 0 || model.config.reads_commands() {
            bail!(
                "{} reads a map or a navigation command beside the camera, which a PNG frame \
                 does not carry; give it an episode recorded with --map instead",
                args.model.display()
            );
        }
        let inputs = Inputs::camera(frames_to_tensor(&[&frame])?);
        let dist = model.predict(&inputs)?.remove(0);
        let ms = started.elapsed().as_secs_f64() * 1e3;
        println!("{}", describe(&dist));
        println!("entropy {:.3} nats; inference {ms:.1} ms", dist.entropy());
        plot_distribution(&dist, &args.plot)?;
        println!("plot: {}", args.plot.display());
        return Ok(ExitCode::SUCCESS);
    }
    // An episode goes through the training data pipeline: the same decoding and batching.
    let data = Arc::new(Dataset::load(std::slice::from_ref(&args.input))?);
    for warning in &data.warnings {
        eprintln!("warning: {warning}");
    }
    data.check_input(&model.config.input)?;
    let stream = BatchStream::new(
        data.clone(),
        StreamSpec {
            order: (0..data.samples.len()).collect(),
            batch_size: args.batch.max(1),
            skip_batches: 0,
            augment: None,
            seed: 0,
            epoch: 0,
            workers: 2,
            map_channels: model.config.map_channels(),
            commands: model.config.reads_commands(),
            // The label the expert gave on the drive, whatever the model reads.
            route_blind: false,
            components: model.config.steering.components,
            target: model.config.target,
            speed: false,
            wheel_speed: model.config.reads_wheel_speed(),
            braking_weight: None,
            pose: false,
        },
    );
    let mut predicted = Vec::with_capacity(data.samples.len());
    let mut speed = crate::nn::models::steering::speed::SpeedScore::default();
    for batch in stream {
        let (steering, speeds) = model.predict_all(&batch?.inputs)?;
        for (d, s) in speeds
            .iter()
            .flatten()
            .zip(&data.samples[predicted.len()..])
        {
            speed.add(d, s.speed_m_s as f64, s.car_speed_m_s as f64);
        }
        predicted.extend(steering);
    }
    let ticks: Vec<u64> = data.samples.iter().map(|s| s.tick).collect();
    let expert: Vec<f64> = data
        .samples
        .iter()
        .map(|s| s.curvature_per_m as f64)
        .collect();
    println!(
        "{:>6} {:>9} {:>9} {:>9} {:>7} {:>6}",
        "tick", "expert", "mode", "sigma", "NLL", "PIT u"
    );
    let every = (predicted.len() / 20).max(1);
    let mut nll = 0.0;
    let mut mae = 0.0;
    let mut calibration = crate::nn::Calibration::default();
    for (i, d) in predicted.iter().enumerate() {
        let lp = d.log_prob(expert[i]);
        nll -= lp;
        mae += (d.mode() - expert[i]).abs();
        calibration.add(d, expert[i]);
        if i % every == 0 {
            let sigma = d.components()[d.most_likely_component()].std_dev;
            println!(
                "{:>6} {:>+9.4} {:>+9.4} {:>9.4} {:>7.2} {:>6.3}",
                ticks[i],
                expert[i],
                d.mode(),
                sigma,
                -lp,
                d.cdf(expert[i])
            );
        }
    }
    let n = predicted.len() as f64;
    let pct = |v: Option<f64>| v.map_or("–".into(), |v| format!("{:.1} %", v * 100.0));
    println!(
        "{} frames: mean NLL {:.3}, mean |mode - expert| {:.4} 1/m; expert inside the central \
         68.3 % / 95.4 % intervals {} / {}, calibration error {:.3}",
        predicted.len(),
        nll / n,
        mae / n,
        pct(calibration.coverage_1_sigma()),
        pct(calibration.coverage_2_sigma()),
        calibration.pit_calibration_error().unwrap_or(f64::NAN)
    );
    if let Some(error) = speed.mean_abs_error_m_s() {
        let braking = speed.braking_mean_abs_error_m_s();
        println!(
            "speed head: mean |commanded - expert target| {error:.2} m/s over {} frames; {} \
             braking frames (target {:.0} m/s or more below the car's speed): {}, asked for more \
             than the car's speed on {}",
            speed.frames,
            speed.braking_frames,
            crate::nn::models::steering::speed::BRAKING_M_S,
            braking.map_or("–".into(), |e| format!("{e:.2} m/s")),
            speed.braking_asked_faster
        );
    }
    plot_episode(&ticks, &expert, &predicted, &args.plot)?;
    println!("plot: {}", args.plot.display());
    Ok(ExitCode::SUCCESS)
}

/// The density over curvature with its mode marked.
fn plot_distribution(dist: &SteeringDistribution, path: &Path) -> Result<()> {
    // The range covers every component that carries at least 5 % of the weight.
    let shown = dist.components().iter().filter(|c| c.weight >= 0.05);
    let (lo, hi) = shown.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), c| {
        (
            lo.min(c.mean - 4.0 * c.std_dev),
            hi.max(c.mean + 4.0 * c.std_dev),
        )
    });
    let curve: Vec<(f64, f64)> = (0..=2000)
        .map(|i| lo + (hi - lo) * i as f64 / 2000.0)
        .map(|x| (x, dist.pdf(x)))
        .collect();
    let peak = curve.iter().map(|p| p.1).fold(0.0, f64::max);
    let panel = LinePanel {
        title: "steering distribution".into(),
        x_label: "curvature (1/m)".into(),
        y_label: "density".into(),
        series: vec![
            ("density".into(), curve),
            ("mode".into(), vec![(dist.mode(), 0.0), (dist.mode(), peak)]),
        ],
        colours: vec![crate::report::plot::BLUE, GREEN],
    };
    Ok(line_panels_sized(path, (640, 300), &[panel])?)
}

/// Along an episode: the expert's curvature, the policy's mode, and the mode ± 1σ of its
/// most likely component.
fn plot_episode(
    ticks: &[u64],
    expert: &[f64],
    predicted: &[SteeringDistribution],
    path: &Path,
) -> Result<()> {
    let at = |f: &dyn Fn(usize) -> f64| -> Vec<(f64, f64)> {
        ticks
            .iter()
            .enumerate()
            .map(|(i, t)| (*t as f64, f(i)))
            .collect()
    };
    let sigma = |i: usize| {
        let d = &predicted[i];
        d.components()[d.most_likely_component()].std_dev
    };
    let light = RGBColor(150, 190, 230);
    let panel = LinePanel {
        title: "policy versus expert".into(),
        x_label: "tick".into(),
        y_label: "curvature (1/m)".into(),
        series: vec![
            ("expert".into(), at(&|i| expert[i])),
            ("policy mode".into(), at(&|i| predicted[i].mode())),
            (
                "mode + 1 sigma".into(),
                at(&|i| predicted[i].mode() + sigma(i)),
            ),
            (
                "mode - 1 sigma".into(),
                at(&|i| predicted[i].mode() - sigma(i)),
            ),
        ],
        colours: vec![RED, crate::report::plot::BLUE, light, light],
    };
    Ok(line_panels_sized(path, (1000, 340), &[panel])?)
}
