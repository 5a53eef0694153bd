"""Frames per second from Python against the Rust `Env` in the same run.

    .venv/bin/python python/bench_step.py [--ticks 300] [--cars 1,4,16] [--json FILE]

Drives the built-in oval (200x66 camera) with the expert's actions, one car through
`steerlab.make` and N cars through `steerlab.make_vec`, then runs `steerlab bench sim` on the
same scenario from the same start poses (the scenario's seed) and prints both and their ratio
(Python's share of Rust's throughput). What a tick costs depends on what the cameras see, so
the two must drive the same ticks. `--json FILE` keeps the figures with `bench sim`'s (and the
machine they were measured on), a figures file the guide's table is rendered from.
"""

import argparse
import json
import tempfile
import subprocess
import time
from pathlib import Path

import numpy as np

import steerlab

ROOT = Path(__file__).resolve().parents[1]


def python_fps(cars: int, ticks: int) -> float:
    if cars == 1:
        env = steerlab.make("oval", max_episode_steps=10**9, terminate_on_crash=False)
        act = lambda info: info["expert_action"][:1]  # noqa: E731
    else:
        env = steerlab.make_vec("oval", num_envs=cars, max_episode_steps=10**9, terminate_on_crash=False)
        act = lambda info: info["expert_action"][:, :1]  # noqa: E731
    # The start poses `bench sim` uses (the scenario's seed), so both render the same views.
    obs, info = env.reset(options={"world_seed": env.scenario["seed"]})
    for _ in range(20):
        obs, _, _, _, info = env.step(act(info))
    started = time.perf_counter()
    for _ in range(ticks):
        obs, _, _, _, info = env.step(act(info))
    elapsed = time.perf_counter() - started
    env.close()
    return cars * ticks / elapsed


def rust_bench(cars: list[int], ticks: int) -> dict:
    """`steerlab bench sim`'s figures file for the same cars and ticks."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sim.json"
        subprocess.run([ROOT / "target/debug/steerlab", "bench", "sim", "--ticks", str(ticks),
                        "--agents", ",".join(map(str, cars)), "--json", path],
                       capture_output=True, text=True, check=True)
        return json.loads(path.read_text())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ticks", type=int, default=300)
    p.add_argument("--cars", default="1,4,16")
    p.add_argument("--json", type=Path, help="write the figures here")
    a = p.parse_args()
    cars = [int(c) for c in a.cars.split(",")]
    py = {c: python_fps(c, a.ticks) for c in cars}
    sim = rust_bench(cars, a.ticks)
    rs = {row["cars"]: row["frames_per_s"] for row in sim["rendered"]}
    print("| cars | Python frames/s | Rust frames/s | Python / Rust |")
    print("|---|---|---|---|")
    for c in cars:
        print(f"| {c} | {py[c]:.1f} | {rs[c]:.1f} | {py[c] / rs[c]:.2f} |")
    if a.json:
        # The Rust side is bench sim's own rows, kept beside these.
        rows = [{"cars": c, "python_fps": py[c]} for c in cars]
        a.json.write_text(json.dumps({"python_step": rows, "sim": sim}, indent=2))
        print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
