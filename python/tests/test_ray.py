"""Ray collection with 2 actors on a local instance: expert episodes, training on them, then
DAgger episodes driven by the trained model."""

import subprocess
import sys

import ray

from conftest import ROOT

sys.path.insert(0, str(ROOT / "examples"))
import ray_collect  # noqa: E402


def test_two_ray_actors_collect_what_one_process_would_then_train_and_dagger(tmp_path, oval, steerlab_bin):
    import steerlab
    from test_episodes import hashes

    try:
        result = ray_collect.collect(2, [oval, "winding"], tmp_path / "ray", episodes=2, seed=3, steps=8)
        assert result["actors"] == 2 and result["episodes"] == 4 and result["frames"] == 4 * 9
        single = steerlab.record([oval, "winding"], tmp_path / "one", episodes=2, seed=3, steps=8, noise=0.02)
        assert single["episodes"] == 4
        assert hashes(tmp_path / "ray") == hashes(tmp_path / "one")
        trained = subprocess.run([steerlab_bin, "train", "--data", tmp_path / "ray", "--out", tmp_path / "model",
                                  "--epochs", "1", "--batch", "8"], capture_output=True, text=True)
        assert trained.returncode == 0, trained.stderr
        model = steerlab.Model(tmp_path / "model")
        frame = next(iter(steerlab.EpisodeReader(tmp_path / "ray" / "oval_000.mcap")))["frame"]
        mixture = model.distribution(frame)
        assert len(mixture) >= 1 and abs(sum(w for w, _, _ in mixture) - 1.0) < 1e-4

        # DAgger: the learner drives part of the ticks, the expert labels every one.
        dagger = ray_collect.collect(2, [oval], tmp_path / "dagger", episodes=2, seed=9, steps=8,
                                     model=tmp_path / "model", beta=0.5)
    finally:
        ray.shutdown()
    assert dagger["episodes"] == 2 and dagger["frames"] > 0
    steps = [s for f in dagger["files"] for s in steerlab.EpisodeReader(f)]
    # The model drove some ticks (its mixture is recorded there), the expert the others.
    assert any(s["distribution"] for s in steps) and not all(s["distribution"] for s in steps)
    assert all(s["expert_action"] is not None for s in steps)
