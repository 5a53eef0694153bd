"""The cluster recipes in deploy/, run here as each array task would run on its node."""

import os
import subprocess

import yaml

from conftest import ROOT
from test_episodes import hashes


def test_slurm_array_tasks_together_record_the_whole_run(tmp_path, steerlab_bin):
    import steerlab

    for task in range(8):
        env = {**os.environ, "STEERLAB": str(steerlab_bin), "OUT": str(tmp_path / "slurm"), "EPISODES": "2",
               "STEPS": "3", "SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_MIN": "0",
               "SLURM_ARRAY_TASK_COUNT": "8"}
        subprocess.run(["bash", ROOT / "deploy" / "record-array.slurm"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
    whole = steerlab.record([ROOT / "scenarios/oval.ron", ROOT / "scenarios/winding.ron"], tmp_path / "one",
                            episodes=2, steps=3, noise=0.02)
    assert whole["episodes"] == 4
    assert hashes(tmp_path / "slurm") == hashes(tmp_path / "one")


def test_kubernetes_indexed_job_pods_split_the_run(tmp_path, steerlab_bin):
    job = yaml.safe_load((ROOT / "deploy" / "record-indexed-job.yaml").read_text())
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    container = spec["template"]["spec"]["containers"][0]
    shards = {e["name"]: e["value"] for e in container["env"]}["STEERLAB_SHARDS"]
    assert int(shards) == spec["completions"]
    command = [str(steerlab_bin)] + container["command"][1:]
    # Smaller runs than the manifest's, same split.
    command[command.index("--episodes") + 1] = "1"
    command[command.index("--out") + 1] = str(tmp_path / "k8s")
    command += ["--steps", "3"]
    for index in range(spec["completions"]):
        env = {**os.environ, "JOB_COMPLETION_INDEX": str(index), "STEERLAB_SHARDS": shards}
        subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    files = sorted(p.name for p in (tmp_path / "k8s").glob("*.mcap"))
    assert files == ["oval_000.mcap", "winding_000.mcap"]
