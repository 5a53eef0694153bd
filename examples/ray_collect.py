"""Collects expert and DAgger episodes with K Ray actors, each with steerlab worlds of its own,
into MCAP episode files that `steerlab train --data OUT` trains on.

    python examples/ray_collect.py --actors 2 --scenario oval winding --episodes 4 --out runs/ray
    python examples/ray_collect.py --actors 2 --scenario oval --episodes 4 --model runs/train/model --out runs/ray-dagger
    steerlab train --data runs/ray --out runs/ray-model

Actor i of K records episode k of the run (scenarios in order, then episodes) when k mod K = i,
the same split as `steerlab record --shard i/K`, so the files, seeds and frames are those of a
single-process run whatever K is. On a cluster, `ray.init(address="auto")` instead of a local
instance (`--address auto`) spreads the same actors over its nodes.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402


@ray.remote
class Collector:
    """One actor: its share of the run's episodes, recorded by steerlab's own recorder."""

    def __init__(self, index: int, count: int):
        import steerlab  # imported in the actor's process: native worlds are not picklable

        self.steerlab, self.index, self.count = steerlab, index, count

    def expert(self, scenarios, out, episodes, seed, steps, noise):
        return self.steerlab.record(scenarios, out, episodes=episodes, seed=seed, steps=steps,
                                    noise=noise, shard=(self.index, self.count))

    def dagger(self, scenarios, model, out, episodes, seed, steps, beta):
        frames, files = 0, []
        for k, (scenario, episode) in enumerate((s, e) for s in scenarios for e in range(episodes)):
            if k % self.count != self.index:
                continue
            name = Path(scenario).stem
            path = Path(out) / f"{name}_dagger_{episode:03}.mcap"
            done = self.steerlab.record_dagger(scenario, model, path, seed=seed + k, episode=episode,
                                               beta=beta, steps=steps)
            frames += done["frames"]
            files.append(str(path))
        return {"episodes": len(files), "frames": frames, "files": files}


def collect(actors: int, scenarios, out, episodes=1, seed=0, steps=None, noise=0.02, model=None,
            beta=0.5, address=None) -> dict:
    """Runs the collection; returns the totals and the frames per second of the whole run."""
    if not ray.is_initialized():
        if address:
            ray.init(address=address)
        else:
            ray.init(num_cpus=actors, include_dashboard=False, log_to_driver=False,
                     object_store_memory=80 * 1024**2, _node_ip_address="127.0.0.1")
    Path(out).mkdir(parents=True, exist_ok=True)
    workers = [Collector.remote(i, actors) for i in range(actors)]
    started = time.perf_counter()
    if model is None:
        jobs = [w.expert.remote(scenarios, str(out), episodes, seed, steps, noise) for w in workers]
    else:
        jobs = [w.dagger.remote(scenarios, str(model), str(out), episodes, seed, steps, beta) for w in workers]
    parts = ray.get(jobs)
    seconds = time.perf_counter() - started
    frames = sum(p["frames"] for p in parts)
    return {
        "actors": actors,
        "episodes": sum(p["episodes"] for p in parts),
        "frames": frames,
        "seconds": seconds,
        "frames_per_s": frames / seconds,
        "files": sorted(f for p in parts for f in p["files"]),
    }


def record_jobs(jobs: int, a) -> dict:
    """`steerlab record --jobs N` of the same expert episodes, timed from outside."""
    import subprocess

    exe = Path(__file__).resolve().parents[1] / "target/debug/steerlab"
    scenarios = [s if s.endswith(".ron") else f"scenarios/{s}.ron" for s in a.scenario]
    cmd = [str(exe), "record", "--jobs", str(jobs), "--episodes", str(a.episodes), "--seed", str(a.seed),
           "--noise", str(a.noise), "--out", f"{a.out}-jobs{jobs}", "--scenario", *scenarios]
    if a.steps:
        cmd += ["--steps", str(a.steps)]
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout
    seconds = time.perf_counter() - started
    frames = int(out.split("episodes, ")[1].split(" frames")[0])
    return {"collection": f"`steerlab record --jobs {jobs}`", "seconds": seconds, "frames": frames}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--actors", type=int, default=2)
    p.add_argument("--scenario", nargs="+", default=["oval"])
    p.add_argument("--episodes", type=int, default=2, help="episodes per scenario")
    p.add_argument("--steps", type=int, default=None, help="ticks per episode")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--noise", type=float, default=0.02, help="DART noise on the expert, 1/m")
    p.add_argument("--model", default=None, help="a model directory: record DAgger episodes")
    p.add_argument("--beta", type=float, default=0.5, help="DAgger: the expert's share of ticks")
    p.add_argument("--address", default=None, help="an existing Ray cluster (e.g. auto)")
    p.add_argument("--out", default="runs/ray")
    p.add_argument("--compare", action="store_true",
                   help="then record the same expert episodes in this one process (OUT-one) and compare")
    p.add_argument("--json", type=Path, default=None,
                   help="with --compare: also time `steerlab record --jobs 1` and `--jobs 2` of the same "
                        "episodes and write every collection's figures, with the machine, to this file")
    a = p.parse_args()
    if a.json:
        import steerlab

        machine = steerlab.machine()  # its load now; the load at the end is added below
    result = collect(a.actors, a.scenario, a.out, a.episodes, a.seed, a.steps, a.noise, a.model, a.beta, a.address)
    print(json.dumps({k: v for k, v in result.items() if k != "files"}))
    if a.compare:
        import steerlab

        ray.shutdown()  # its idle workers would share the cores with the one process
        started = time.perf_counter()
        one = steerlab.record(a.scenario, f"{a.out}-one", episodes=a.episodes, seed=a.seed, steps=a.steps,
                              noise=a.noise)
        seconds = time.perf_counter() - started
        print(json.dumps({"actors": 0, "episodes": one["episodes"], "frames": one["frames"], "seconds": seconds,
                          "frames_per_s": one["frames"] / seconds}))
        print(f"Ray with {a.actors} actors / one process: {result['frames_per_s'] / (one['frames'] / seconds):.2f}")
        if a.json:
            rows = [{"collection": "one process (`steerlab.record`)", "seconds": seconds, "frames": one["frames"]},
                    {"collection": f"Ray, {a.actors} actors (`ray_collect.py --actors {a.actors}`)",
                     "seconds": result["seconds"], "frames": result["frames"]}]
            rows += [record_jobs(jobs, a) for jobs in (1, 2)]
            machine["load_end"] = steerlab.machine()["load_end"]
            figures = {"machine": machine, "episodes": a.episodes, "steps": a.steps,
                       "scenarios": a.scenario, "collections": rows}
            a.json.write_text(json.dumps(figures, indent=2))
            print(f"wrote {a.json}")
    print(f"train on them: steerlab train --data {a.out}")


if __name__ == "__main__":
    main()
