"""steerlab from Python: Gymnasium environments on the headless Bevy world, recorded
episodes as numpy arrays, trained steering models, and expert/DAgger collection.

    env = steerlab.make("oval")             # a scenario file or a shipped scenario's name
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(info["expert_action"][:1])

Errors from the simulator are `steerlab.SteerlabError` (a bad scenario, a damaged episode,
a model that does not match its config, a closed environment); a wrong action shape is a
`ValueError` naming the expected shape.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import gymnasium
import numpy as np

# wgpu (in debug-assertion builds) captures a backtrace at every lock it takes when library
# backtraces are on, as `RUST_BACKTRACE=1` turns them on: ~3 ms a tick with 16 cars. As the
# `steerlab` command does, keep them off unless `RUST_LIB_BACKTRACE` asks for them. Set before
# the native module loads (the Rust standard library reads it once).
os.environ.setdefault("RUST_LIB_BACKTRACE", "0")

from . import _steerlab  # noqa: E402
from ._steerlab import SteerlabError  # noqa: E402
from .env import Reward, SteerlabEnv, SteerlabVectorEnv

__all__ = [
    "EpisodeReader", "Model", "Reward", "SteerlabEnv", "SteerlabError", "SteerlabVectorEnv",
    "machine", "make", "make_vec", "record", "record_dagger",
]

# `gymnasium.make("steerlab/Drive-v0", scenario=...)` and `gymnasium.make_vec(...,
# vectorization_mode="vector_entry_point")` build the same environments.
if "steerlab/Drive-v0" not in gymnasium.registry:
    gymnasium.register(id="steerlab/Drive-v0", entry_point="steerlab.env:SteerlabEnv",
                       vector_entry_point="steerlab.env:SteerlabVectorEnv")


def make(scenario: str | Path = "oval", **options) -> SteerlabEnv:
    """A one-car `gymnasium.Env` on `scenario` (a `.ron` file or a shipped scenario's name).
    Options: `speed` (the action also sets the speed), `labels` (class mask and boxes in
    `info`), `map` (the map patch in `info`), `reward` (a `Reward` or a dict of its weights),
    `terminate_on_crash`, `max_episode_steps`, `render_mode`."""
    return SteerlabEnv(str(scenario), **options)


def make_vec(scenario: str | Path = "oval", num_envs: int = 4, **options) -> SteerlabVectorEnv:
    """`num_envs` cars in one world as a `gymnasium.vector.VectorEnv` (auto-reset in the same
    step; see `SteerlabVectorEnv`)."""
    return SteerlabVectorEnv(str(scenario), num_envs, **options)


class EpisodeReader:
    """The steps of a recorded episode file (`.mcap`), in order. Each step is a dict: `tick`,
    `frame` (`(H, W, 3)` uint8 or None), `map` (the map patch, when recorded), `action` and
    `expert_action` (`[curvature 1/m, speed m/s]`), `state`, `driver`, `distribution` (the
    policy's mixture when a model drove), `route` (in a town) and `frame_hash`. A damaged
    file raises `SteerlabError` naming the file and where it broke, after the steps before
    the damage. With `follow=True` a file still being recorded (`steerlab record` holds it) is
    read as it grows: each step once whole, a chunk (about 5 s of recording) behind the
    writer, until the writer closes it; iterating waits for the writer (holding the GIL)."""

    def __init__(self, path: str | Path, follow: bool = False):
        self.path = Path(path)
        self.follow = follow
        # Opening checks the file now, so a missing or foreign file fails here.
        self._first = _steerlab.read_episode(str(self.path), follow)

    def __iter__(self) -> Iterator[dict]:
        steps = self._first or _steerlab.read_episode(str(self.path), self.follow)
        self._first = None
        for frame, patch, info_json in steps:
            step = json.loads(info_json)
            step["frame"] = frame
            step["map"] = patch
            for key in ("action", "expert_action"):
                if step[key] is not None:
                    step[key] = np.asarray(step[key], dtype=np.float64)
            yield step

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All frames `(T, H, W, 3)` and the expert's curvature labels `(T,)`."""
        frames, labels = [], []
        for step in self:
            if step["frame"] is not None:
                frames.append(step["frame"])
                labels.append(step["expert_action"][0])
        return np.stack(frames), np.asarray(labels, dtype=np.float32)


class Model:
    """A trained steering model directory (from `steerlab train` or `dagger`)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._model = _steerlab.Model(str(self.path))

    @property
    def input_shape(self) -> tuple[int, int]:
        """`(height, width)` of the frames it reads."""
        return self._model.input_shape

    def distribution(self, frame: np.ndarray, map: np.ndarray | None = None) -> list[tuple[float, float, float]]:
        """The Gaussian mixture over curvature for one `(H, W, 3)` uint8 frame (and the map
        patch for a navigation model): `[(weight, mean 1/m, std_dev 1/m), ...]`."""
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        if map is not None:
            map = np.ascontiguousarray(map, dtype=np.uint8)
        return self._model.distribution(frame, map)

    def mode(self, frame: np.ndarray, map: np.ndarray | None = None) -> float:
        """The mean of the heaviest component: the curvature the policy steers by mode."""
        return max(self.distribution(frame, map))[1]


def machine() -> dict:
    """This machine as steerlab's figures files record it: `cpu`, `cores`, `blas` (the OpenBLAS
    kernels in use), `load_start` and `load_end` (the 1-minute load average now)."""
    return json.loads(_steerlab.machine())


def record(scenarios, out: str | Path, *, episodes: int = 1, seed: int = 0, noise: float = 0.0,
           steps: int | None = None, shard: tuple[int, int] = (0, 1), labels: bool = False,
           map: bool = False, noise_correlation: float = 0.0, speed_noise: float = 0.0,
           junction_noise: float = 1.0) -> dict:
    """Records expert episodes exactly as `steerlab record` does, this shard's share
    (`shard=(i, n)`: episode k of the run, scenarios then episodes, belongs to shard k mod n),
    into `out`; `noise` is the expert's DART noise (1/m), correlated over `noise_correlation`
    seconds (0: white), `speed_noise` the same on its speed (m/s), `junction_noise` the factor
    on the curvature noise in and just before junctions (0 to 10, `--junction-noise`). Returns
    the summary (`episodes`, `frames`, `files`, ...)."""
    if isinstance(scenarios, (str, Path)):
        scenarios = [scenarios]
    summary = _steerlab.record_expert([str(s) for s in scenarios], str(out), episodes, seed, noise,
                                      steps, tuple(shard), labels, map, noise_correlation,
                                      speed_noise, junction_noise)
    return json.loads(summary)


def record_dagger(scenario: str | Path, model: str | Path, path: str | Path, *, seed: int = 0,
                  episode: int = 0, beta: float = 0.5, steps: int | None = None) -> dict:
    """Records one DAgger episode into `path`: each tick the expert steers with probability
    `beta`, else the model; every frame carries the expert's label."""
    return json.loads(_steerlab.record_dagger(str(scenario), str(model), str(path), seed, episode,
                                              beta, steps))
