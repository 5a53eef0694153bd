"""Episodes from Python: the reader against Rust-written files, sharded collection, models."""

import json
import subprocess
import time

import numpy as np
import pytest

import steerlab
from conftest import ROOT, fnv1a


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, oval):
    out = tmp_path_factory.mktemp("rec")
    summary = steerlab.record([oval], out, episodes=1, seed=4, steps=12, noise=0.02)
    assert summary["episodes"] == 1 and summary["frames"] == 13
    return out / "oval_000.mcap"


def test_reader_round_trip_with_a_rust_written_episode(recorded):
    steps = list(steerlab.EpisodeReader(recorded))
    assert [s["tick"] for s in steps] == list(range(13))
    for s in steps:
        assert s["frame"].dtype == np.uint8 and s["frame"].ndim == 3
        # The pixels are the ones the recorder hashed.
        assert fnv1a(s["frame"].tobytes()) == s["frame_hash"]
        assert s["expert_action"].shape == (2,) and s["state"]["tick"] == s["tick"]
        assert s["wheel_speed_m_s"] >= 0.0
    assert steps[-1]["action"] is None and steps[0]["action"] is not None
    frames, labels = steerlab.EpisodeReader(recorded).arrays()
    assert frames.shape[0] == labels.shape[0] == 13


def test_junction_noise_is_a_factor_from_0_to_10(tmp_path, oval):
    for bad in (-1.0, 11.0, float("nan")):
        with pytest.raises(ValueError, match="junction_noise"):
            steerlab.record([oval], tmp_path / "bad", steps=4, noise=0.02, junction_noise=bad)
    summary = steerlab.record([oval], tmp_path / "ok", steps=4, noise=0.02, junction_noise=2.0)
    assert summary["episodes"] == 1 and summary["frames"] == 5


def test_a_damaged_episode_is_an_error_after_its_good_steps(recorded, tmp_path):
    data = recorded.read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[: len(data) // 2])
    good = []
    with pytest.raises(steerlab.SteerlabError, match="cut.mcap"):
        for step in steerlab.EpisodeReader(cut):
            good.append(step["tick"])
    assert good == list(range(len(good)))
    with pytest.raises(steerlab.SteerlabError, match="missing.mcap"):
        steerlab.EpisodeReader(tmp_path / "missing.mcap")


def test_following_an_episode_being_recorded_gives_every_step_whole(tmp_path, oval, steerlab_bin):
    recorder = subprocess.Popen([steerlab_bin, "record", "--scenario", oval, "--steps", "2000",
                                 "--out", tmp_path], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    path = tmp_path / "oval_000.mcap"
    reader = None
    for _ in range(2400):
        try:
            reader = steerlab.EpisodeReader(path, follow=True)
            break
        except steerlab.SteerlabError:  # not created, or its metadata not written yet
            assert recorder.poll() is None
            time.sleep(0.05)
    assert reader is not None
    ticks = [s["tick"] for s in reader if fnv1a(s["frame"].tobytes()) == s["frame_hash"]]
    assert recorder.wait() == 0
    assert ticks == list(range(2001))


def hashes(folder):
    return {f.name: [s["frame_hash"] for s in steerlab.EpisodeReader(f)]
            for f in sorted(folder.glob("*.mcap"))}


def test_shards_are_disjoint_and_their_union_is_the_unsharded_run(tmp_path, oval, steerlab_bin):
    winding = str(ROOT / "scenarios" / "winding.ron")
    scenarios = [oval, winding]
    whole = steerlab.record(scenarios, tmp_path / "whole", episodes=3, seed=11, steps=6)
    parts = {}
    for i in range(3):
        # Shard i of 3 from the command line, as a cluster's array task would run it.
        out = tmp_path / f"shard{i}"
        subprocess.run([steerlab_bin, "record", "--scenario", oval, "--scenario", winding,
                        "--episodes", "3", "--seed", "11", "--steps", "6", "--shard", f"{i}/3",
                        "--out", out], check=True, capture_output=True)
        parts[i] = hashes(out)
    names = [n for p in parts.values() for n in p]
    assert len(names) == len(set(names)) == whole["episodes"] == 6
    union = {n: h for p in parts.values() for n, h in p.items()}
    assert union == hashes(tmp_path / "whole")


def test_shard_auto_reads_the_array_index(tmp_path, oval, steerlab_bin):
    for var in ("JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"):
        out = tmp_path / var
        env = {"PATH": "/usr/bin:/bin", var: "1"}
        if var == "SLURM_ARRAY_TASK_ID":
            env["SLURM_ARRAY_TASK_COUNT"] = "2"
        else:
            env["STEERLAB_SHARDS"] = "2"
        subprocess.run([steerlab_bin, "record", "--scenario", oval, "--episodes", "2", "--steps", "3",
                        "--shard", "auto", "--out", out], check=True, capture_output=True, env=env)
        assert sorted(p.name for p in out.glob("*.mcap")) == ["oval_001.mcap"]
    bad = subprocess.run([steerlab_bin, "record", "--scenario", oval, "--shard", "auto",
                          "--out", tmp_path / "none"], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"})
    assert bad.returncode != 0 and "JOB_COMPLETION_INDEX" in bad.stderr


def test_machine_is_what_figures_files_record(steerlab_bin, tmp_path):
    # The same record as `bench sim --json` writes: processor, threads, BLAS kernels, load.
    m = steerlab.machine()
    assert m["cpu"] and m["cores"] >= 1 and m["blas"]
    assert m["load_start"] >= 0 and m["load_end"] >= 0
    out = tmp_path / "sim.json"
    subprocess.run([steerlab_bin, "bench", "sim", "--ticks", "2", "--agents", "1", "--json", out],
                   check=True, capture_output=True)
    rust = json.loads(out.read_text())["machine"]
    assert (rust["cpu"], rust["cores"], rust["blas"]) == (m["cpu"], m["cores"], m["blas"])
