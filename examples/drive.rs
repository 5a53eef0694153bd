//! Driving the world from Rust: the example in the README, built by `cargo test` so that it
//! keeps compiling (a test checks that the README shows exactly the lines between the markers).
//!
//!     cargo run --example drive [SCENARIO.ron]

use steerlab::sim::Scenario;
use steerlab::world::{Env, EnvOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "scenarios/oval.ron".into());
    let mut frames = 0u64;
    // README begin
    let scenario = Scenario::load(file.as_ref())?;
    let options = EnvOptions {
        agents: 1,
        render: true,
        ..EnvOptions::default() // no label frames, no map patches
    };
    let mut env = Env::new(scenario, options)?;
    let mut obs = env.reset(42)?.remove(0);
    while !obs.done {
        let action = obs.info.expert_action; // the privileged expert's label (κ in 1/m, speed)
        obs = env.step(action)?; // the frame of this very tick: frame.tick == obs.state.tick
        if let Some(frame) = &obs.frame {
            assert_eq!(frame.tick, obs.state.tick);
            frames += 1;
        }
    }
    // README end
    println!(
        "{frames} frames; the expert drove {:.0} m",
        obs.state.stats.distance_m
    );
    Ok(())
}
