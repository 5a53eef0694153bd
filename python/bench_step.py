"""Frames per second from Python against the Rust `Env` in the same run.

    .venv/bin/python python/bench_step.py [--ticks 300] [--cars 1,4,16]

Drives the built-in oval (200x66 camera) with the expert's actions, one car through
`steerlab.make` and N cars through `steerlab.make_vec`, then runs `steerlab bench sim` on the
same scenario from the same start poses (the scenario's seed) and prints both and their ratio
(Python's share of Rust's throughput). What a tick costs depends on what the cameras see, so
the two must drive the same ticks.
"""

import argparse
import json
import re
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


def rust_fps(cars: list[int], ticks: int) -> dict[int, float]:
    out = subprocess.run([ROOT / "target/debug/steerlab", "bench", "sim", "--ticks", str(ticks),
                          "--agents", ",".join(map(str, cars))], capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        m = re.match(r"\| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", line)
        if m and int(m.group(1)) in cars and int(m.group(1)) not in rows:
            rows[int(m.group(1))] = float(m.group(3))
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ticks", type=int, default=300)
    p.add_argument("--cars", default="1,4,16")
    a = p.parse_args()
    cars = [int(c) for c in a.cars.split(",")]
    py = {c: python_fps(c, a.ticks) for c in cars}
    rs = rust_fps(cars, a.ticks)
    print("| cars | Python frames/s | Rust frames/s | Python / Rust |")
    print("|---|---|---|---|")
    for c in cars:
        print(f"| {c} | {py[c]:.1f} | {rs[c]:.1f} | {py[c] / rs[c]:.2f} |")
    print(json.dumps({"python": py, "rust": rs}))


if __name__ == "__main__":
    main()
