//! Command-line interface: argument parsing and dispatch.

mod bench;
mod bench_traffic;
mod bench_train;
mod calibrate;
pub mod classify;
pub mod dagger;
mod demo;
mod detect;
mod detect_eval;
mod detector;
mod episode_cmd;
pub mod eval;
mod export;
mod figures;
mod inputs;
mod localise;
mod map;
pub mod predict;
mod progress;
pub mod record;
pub mod replay;
mod scenario_cmd;
mod segment;
pub mod sim;
pub mod train;
mod values;

// For the commands that still name them through this module.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// steerlab: an end-to-end vision-to-control driving simulator.
#[derive(Parser, Debug)]
#[command(name = "steerlab", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Work with scenario files.
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
    /// The driving world in a window: keyboard, expert or policy at the wheel, the network's
    /// frame and steering distribution beside it, recording with the C key.
    Sim(sim::SimArgs),
    /// The main job: the expert drives the scenarios, a steering policy learns from its frames
    /// (behaviour cloning, then DAgger) and is scored in closed loop on unseen tracks, with a
    /// safety driver and without; report in runs/demo/.
    Demo(demo::DemoArgs),
    /// Drive the expert through scenarios and write one MCAP episode file per run.
    Record(record::RecordArgs),
    /// Play an episode back: to PNGs or a GIF, or re-simulated with a frame check.
    Replay(replay::ReplayArgs),
    /// Train a steering model on recorded episodes (the expert's actions are the labels).
    Train(train::TrainArgs),
    /// Print and plot a model's steering distribution for an image or an episode.
    Predict(predict::PredictArgs),
    /// Let a trained policy drive scenarios in closed loop and score it.
    Eval(eval::EvalArgs),
    /// Fit a policy's standard deviations to its own drives (temperature scaling).
    Calibrate(calibrate::CalibrateArgs),
    /// Behaviour cloning, then DAgger: the learner drives, the expert labels, retrain, evaluate.
    Dagger(dagger::DaggerArgs),
    /// Train the classification module (shared backbone + classifier head) on Fashion-MNIST.
    TrainClassifier(classify::TrainClassifierArgs),
    /// mAP@0.5 and COCO AP of detections against ground truth, both in COCO's JSON format.
    EvalDetections(detect_eval::EvalDetectionsArgs),
    /// Train the segmentation module (FCN on the shared backbone) on recorded class masks.
    TrainSegmenter(segment::TrainSegmenterArgs),
    /// Segment a camera frame with a trained segmenter: a coloured class mask.
    Segment(segment::SegmentArgs),
    /// Train the two-stage detector (Faster R-CNN style, on the shared backbone) on recorded boxes.
    TrainDetector(detector::TrainDetectorArgs),
    /// Detect objects in a frame or an episode: boxes drawn into a PNG or GIF, and mAP against
    /// the recorded boxes of a labelled episode.
    Detect(detect::DetectArgs),
    /// A road network from above: paved area, lanes, turn paths, the scenario's route and
    /// the path of a recorded episode.
    Map(map::MapArgs),
    /// Where the car of recorded episodes was: a particle filter around a noisy GPS fix,
    /// weighted by the steering network's posterior under each candidate's map patch.
    Localise(localise::LocaliseArgs),
    /// Render the guide's tables of measured figures again from the figures files they name
    /// (a main job writes `figures.json`).
    Figures(figures::FiguresArgs),
    /// Export recorded episodes to other formats.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// Work with episode files.
    Episode {
        #[command(subcommand)]
        command: EpisodeCommand,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// Frames and labels as a COCO dataset (annotations.json, images/, masks/).
    Coco(export::ExportCocoArgs),
}

#[derive(Subcommand, Debug)]
pub enum ScenarioCommand {
    /// Validate scenario files and print a one-line summary of each.
    Check {
        /// Scenario files (RON).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum EpisodeCommand {
    /// Read episode files through; report frames recovered and anything cut.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Camera frames per second for 1, 4 and 16 cars, and step time without rendering.
    Sim(bench::SimBenchArgs),
    /// Recording cost against the bare world, bytes per frame, and reading speed.
    Record(bench::RecordBenchArgs),
    /// Inference latency and training throughput of the steering networks (optionally against
    /// PyTorch).
    Train(bench_train::TrainBenchArgs),
    /// Towns in dense traffic over many seeds: the longest any car stands, and collisions.
    Traffic(bench_traffic::TrafficBenchArgs),
}

/// Parses the command line and runs it.
pub fn main() -> Result<std::process::ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Scenario {
            command: ScenarioCommand::Check { files },
        } => scenario_cmd::check(&files),
        Command::Sim(args) => sim::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Record(args) => record::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Predict(args) => predict::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Calibrate(args) => calibrate::run(&args),
        Command::Dagger(args) => dagger::run(&args),
        Command::TrainClassifier(args) => classify::run(&args),
        Command::EvalDetections(args) => detect_eval::run(&args),
        Command::TrainSegmenter(args) => segment::train_run(&args),
        Command::Segment(args) => segment::run(&args),
        Command::TrainDetector(args) => detector::run(&args),
        Command::Detect(args) => detect::run(&args),
        Command::Map(args) => map::run(&args),
        Command::Localise(args) => localise::run(&args),
        Command::Figures(args) => figures::run(&args),
        Command::Export {
            command: ExportCommand::Coco(args),
        } => export::run(&args),
        Command::Episode {
            command: EpisodeCommand::Check { files },
        } => episode_cmd::check(&files),
        Command::Bench {
            command: BenchCommand::Sim(args),
        } => bench::sim(&args),
        Command::Bench {
            command: BenchCommand::Record(args),
        } => bench::record(&args),
        Command::Bench {
            command: BenchCommand::Train(args),
        } => bench_train::run(&args),
        Command::Bench {
            command: BenchCommand::Traffic(args),
        } => bench_traffic::run(&args),
    }
}
