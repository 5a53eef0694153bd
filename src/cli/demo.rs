//! The main job: the expert drives every scenario headlessly; a few frames and a summary are
//! written. Later stages (recording, training, evaluation) grow from here.

use crate::sim::{Expert, ExpertConfig};
use crate::world::{Env, EnvOptions};
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Scenario files; the built-in scenarios when none are given.
    #[arg(long = "scenario")]
    pub scenarios: Vec<PathBuf>,
    /// Output folder.
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
    /// Ticks per scenario (default: each scenario's episode length).
    #[arg(long)]
    pub steps: Option<u32>,
    /// PNG frames saved per scenario, evenly spaced.
    #[arg(long, default_value_t = 5)]
    pub frames: u32,
    /// DART noise on the expert's curvature, 1/m.
    #[arg(long, default_value_t = 0.0)]
    pub noise: f64,
}

/// Per-scenario results.
#[derive(Serialize, Debug)]
pub struct ScenarioSummary {
    pub scenario: String,
    pub ticks: u64,
    pub distance_m: f64,
    pub off_road_events: u32,
    pub mean_abs_lateral_offset_m: f64,
    pub max_abs_lateral_offset_m: f64,
    pub frames_per_second: f64,
    pub frames: Vec<String>,
}

pub fn run(args: &DemoArgs) -> Result<ExitCode> {
    let scenarios = super::load_scenarios(&args.scenarios)?;
    let frames_dir = args.out.join("frames");
    std::fs::create_dir_all(&frames_dir)
        .with_context(|| format!("creating {}", frames_dir.display()))?;
    let mut summaries = Vec::new();
    for scenario in scenarios {
        let name = scenario.name.clone();
        let steps = args.steps.unwrap_or(scenario.episode_steps) as u64;
        let seed = scenario.seed;
        eprintln!("[{name}] building the world ...");
        let mut env = Env::new(scenario, EnvOptions::default())
            .with_context(|| format!("scenario {name}"))?;
        let mut expert = Expert::new(ExpertConfig::default(), args.noise, seed);
        let mut obs = env.reset(seed)?.remove(0);
        let save_every = (steps / args.frames.max(1) as u64).max(1);
        let mut saved = Vec::new();
        let started = Instant::now();
        let mut ticks = 0;
        while ticks < steps && !obs.done {
            if ticks % save_every == 0
                && (saved.len() as u32) < args.frames
                && let Some(frame) = &obs.frame
            {
                let path = frames_dir.join(format!("{name}_{ticks:05}.png"));
                frame.save_png(&path)?;
                saved.push(path.display().to_string());
            }
            let action = expert.perturb(obs.info.expert_action).applied;
            obs = env.step(action)?;
            ticks += 1;
            if ticks % 200 == 0 {
                eprintln!(
                    "[{name}] tick {ticks}/{steps}  {:.0} m  {:.1} frames/s",
                    obs.state.stats.distance_m,
                    ticks as f64 / started.elapsed().as_secs_f64()
                );
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let st = &obs.state.stats;
        summaries.push(ScenarioSummary {
            scenario: name,
            ticks,
            distance_m: st.distance_m,
            off_road_events: st.off_road_events,
            mean_abs_lateral_offset_m: st.mean_abs_lateral_offset_m(),
            max_abs_lateral_offset_m: st.max_abs_lateral_offset_m,
            frames_per_second: ticks as f64 / elapsed,
            frames: saved,
        });
    }
    let mut table = String::from(
        "| scenario | ticks | distance (m) | off-road events | mean abs offset (m) | max abs offset (m) | frames/s |\n|---|---|---|---|---|---|---|\n",
    );
    for s in &summaries {
        table.push_str(&format!(
            "| {} | {} | {:.0} | {} | {:.2} | {:.2} | {:.1} |\n",
            s.scenario,
            s.ticks,
            s.distance_m,
            s.off_road_events,
            s.mean_abs_lateral_offset_m,
            s.max_abs_lateral_offset_m,
            s.frames_per_second
        ));
    }
    let json = serde_json::to_string_pretty(&summaries)?;
    std::fs::write(args.out.join("summary.json"), json).context("writing summary.json")?;
    std::fs::write(
        args.out.join("summary.md"),
        format!("# Expert drive\n\n{table}"),
    )
    .context("writing summary.md")?;
    println!("{table}");
    println!("frames and summary written to {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
