"""Gymnasium environments on steerlab's headless Bevy world.

`SteerlabEnv` is one car; `SteerlabVectorEnv` is N cars in one world, stepped by one native
call. Observations are the hood camera's RGB frame, `(H, W, 3)` uint8. The action is the
path curvature in 1/m (positive turns left), optionally followed by the speed in m/s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from . import _steerlab


@dataclass(frozen=True)
class Reward:
    """The reward of one tick: `progress * Δs - lateral * |offset| / half_width - off_road *
    [off the road] - crash * [crashed this tick]`, where `Δs` is the metres driven along the
    road (the route in a town) since the last tick and `offset` the distance from its
    centreline. Pass a `Reward(...)` or a dict of these fields as `make(..., reward=...)`."""

    progress: float = 1.0
    lateral: float = 0.1
    off_road: float = 1.0
    crash: float = 10.0

    def __call__(self, before: dict, after: dict, track_length_m: float, half_width_m: float) -> float:
        ds = after["s_m"] - before["s_m"]
        if track_length_m > 0.0:
            # A closed track wraps: the shortest way round is the progress.
            ds = (ds + track_length_m / 2.0) % track_length_m - track_length_m / 2.0
        r = self.progress * ds
        r -= self.lateral * abs(after["lateral_offset_m"]) / max(half_width_m, 1e-9)
        r -= self.off_road * float(after["off_road"])
        r -= self.crash * float(after["crash"] is not None)
        return float(r)


def _reward(reward) -> Reward:
    if reward is None:
        return Reward()
    if isinstance(reward, Reward):
        return reward
    if isinstance(reward, dict):
        return Reward(**reward)
    raise TypeError(f"reward must be a steerlab.Reward or a dict of its fields, got {type(reward).__name__}")


class _Car:
    """Decodes one car's native observation."""

    @staticmethod
    def decode(native) -> tuple[np.ndarray, dict]:
        frame, mask, patch, info_json = native
        info = json.loads(info_json)
        info["expert_action"] = np.asarray(info["expert_action"], dtype=np.float64)
        if mask is not None:
            info["class_mask"] = mask
        if patch is not None:
            info["map"] = patch
        return frame, info


def _spaces(meta: dict, speed: bool) -> tuple[spaces.Box, spaces.Box]:
    obs = spaces.Box(0, 255, (meta["height"], meta["width"], 3), np.uint8)
    k = float(meta["max_curvature_per_m"])
    if speed:
        top = max(2.0 * float(meta["speed_m_s"]), 1.0)
        act = spaces.Box(np.array([-k, 0.0], np.float32), np.array([k, top], np.float32), dtype=np.float32)
    else:
        act = spaces.Box(-k, k, (1,), np.float32)
    return obs, act


def _actions(action, shape: tuple[int, ...], speed_m_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Curvatures and speeds, one per car, from an action array of `shape`."""
    a = np.asarray(action, dtype=np.float64)
    if a.shape != shape:
        raise ValueError(f"expected an action of shape {shape} (curvature 1/m{', speed m/s' if shape[-1] == 2 else ''}), got shape {a.shape}")
    a = a.reshape(-1, shape[-1])
    curvatures = np.ascontiguousarray(a[:, 0])
    speeds = np.ascontiguousarray(a[:, 1]) if shape[-1] == 2 else np.full(len(a), speed_m_s)
    return curvatures, speeds


def _world_seed(rng: np.random.Generator, options: dict | None = None) -> int:
    """The native world's seed: `options["world_seed"]` when given, else drawn from `rng`."""
    if options and "world_seed" in options:
        seed = options["world_seed"]
        if not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
            raise ValueError(f"world_seed must be an integer in [0, 2**64), got {seed!r}")
        return int(seed)
    return int(rng.integers(0, 2**63 - 1))


class SteerlabEnv(gym.Env):
    """One car in a steerlab world.

    `reset(seed=s)` starts an episode whose start pose and traffic are drawn from `s`;
    `step(action)` advances one tick (`dt_s` of the scenario) and returns the frame of that
    very tick. An episode terminates when the car crashes (leaves the pavement, touches a
    prop or a car; `terminate_on_crash=False` drives on) and is truncated at the scenario's
    episode length (`max_episode_steps` overrides it). `info` holds the privileged expert's
    action (`expert_action`, `[curvature, speed]`: the imitation label), the car's state
    (pose, speed, `s_m` along the road, `lateral_offset_m`, `off_road`, `crash`), with
    `labels=True` the class mask (`class_mask`, `(H, W)` class indices) and the visible
    objects' `boxes` (`[class, x0, y0, x1, y1, pixels]`), and with `map=True` the map patch.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, scenario: str = "straight", *, speed: bool = False, labels: bool = False,
                 map: bool = False, reward=None, terminate_on_crash: bool = True,
                 max_episode_steps: int | None = None, render_mode: str | None = "rgb_array"):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self._world = _steerlab.World(str(scenario), 1, True, labels, map, max_episode_steps)
        self._meta = json.loads(self._world.scenario_json())
        self.metadata = {**self.metadata, "render_fps": round(1.0 / self._meta["dt_s"])}
        self.render_mode = render_mode
        self.observation_space, self.action_space = _spaces(self._meta, speed)
        self.reward = _reward(reward)
        self.terminate_on_crash = terminate_on_crash
        self._state: dict | None = None
        self._frame: np.ndarray | None = None

    @property
    def scenario(self) -> dict:
        """The scenario's name, camera size, road width, speed, episode length and limits."""
        return dict(self._meta)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """`options={"world_seed": s}` starts the world exactly as the Rust `Env::reset(s)`
        does (the start poses of `steerlab record` or `bench sim` with that seed)."""
        super().reset(seed=seed)
        frame, info = _Car.decode(self._world.reset(_world_seed(self.np_random, options))[0])
        self._state, self._frame = info, frame
        return frame, info

    def step(self, action):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        k, v = _actions(action, self.action_space.shape, self._meta["speed_m_s"])
        frame, info = _Car.decode(self._world.step(k, v)[0])
        reward = self.reward(self._state, info, self._meta["track_length_m"], self._meta["road_width_m"] / 2.0)
        terminated = bool(self.terminate_on_crash and info["crash"] is not None)
        truncated = bool(info["done"] and not terminated)
        self._state, self._frame = info, frame
        return frame, reward, terminated, truncated, info

    def render(self):
        return None if self._frame is None else self._frame

    def close(self):
        self._world.close()


class SteerlabVectorEnv(VectorEnv):
    """`num_envs` cars in one steerlab world, stepped together by one native call.

    Auto-reset is `AutoresetMode.SAME_STEP`: a car that terminates (crashes) is put back at a
    new start pose in the same `step`, whose observation is then its new first frame; the
    frame it ended on is in `infos["final_obs"][i]` and its info in `infos["final_info"]`
    (masks `_final_obs`, `_final_info`). The cars share the world's clock, so the episode
    length truncates all of them on the same tick, and the world then resets as a whole.
    Per-car infos are arrays with a leading `num_envs` axis (`expert_action (N, 2)`, `s_m`,
    `lateral_offset_m`, `speed_m_s`, `off_road`, `crashed`).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20, "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, scenario: str = "straight", num_envs: int = 4, *, speed: bool = False,
                 reward=None, terminate_on_crash: bool = True, max_episode_steps: int | None = None,
                 render_mode: str | None = None):
        self._world = _steerlab.World(str(scenario), int(num_envs), True, False, False, max_episode_steps)
        self._meta = json.loads(self._world.scenario_json())
        self.num_envs = int(num_envs)
        self.render_mode = render_mode
        self.single_observation_space, self.single_action_space = _spaces(self._meta, speed)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.reward = _reward(reward)
        self.terminate_on_crash = terminate_on_crash
        self._states: list[dict] | None = None
        self._frames: np.ndarray | None = None

    @property
    def scenario(self) -> dict:
        """As `SteerlabEnv.scenario`."""
        return dict(self._meta)

    def _decode(self, natives) -> tuple[np.ndarray, list[dict]]:
        cars = [_Car.decode(n) for n in natives]
        return np.stack([f for f, _ in cars]), [i for _, i in cars]

    def _infos(self, states: list[dict]) -> dict:
        n = self.num_envs
        infos = {
            "expert_action": np.stack([s["expert_action"] for s in states]),
            "s_m": np.array([s["s_m"] for s in states]),
            "lateral_offset_m": np.array([s["lateral_offset_m"] for s in states]),
            "speed_m_s": np.array([s["speed_m_s"] for s in states]),
            "off_road": np.array([s["off_road"] for s in states], dtype=np.bool_),
            "crashed": np.array([s["crash"] is not None for s in states], dtype=np.bool_),
        }
        for key in list(infos):
            infos["_" + key] = np.ones(n, dtype=np.bool_)
        return infos

    def _seed(self) -> int:
        return _world_seed(self.np_random)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """`options={"world_seed": s}`: as `SteerlabEnv.reset`."""
        super().reset(seed=seed)
        frames, states = self._decode(self._world.reset(_world_seed(self.np_random, options)))
        self._states, self._frames = states, frames
        return frames, self._infos(states)

    def step(self, actions):
        if self._states is None:
            raise RuntimeError("call reset() before step()")
        k, v = _actions(actions, self.action_space.shape, self._meta["speed_m_s"])
        frames, states = self._decode(self._world.step(k, v))
        half = self._meta["road_width_m"] / 2.0
        length = self._meta["track_length_m"]
        rewards = np.array([self.reward(b, a, length, half) for b, a in zip(self._states, states)])
        crashed = np.array([s["crash"] is not None for s in states], dtype=np.bool_)
        terminated = crashed & self.terminate_on_crash
        world_over = any(s["done"] for s in states)
        truncated = np.full(self.num_envs, world_over, dtype=np.bool_) & ~terminated
        done = terminated | truncated
        final = {}
        if done.any():
            final_obs = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(done):
                final_obs[i] = frames[i].copy()
            final = {"final_obs": final_obs, "_final_obs": done.copy(),
                     "final_info": self._infos(states), "_final_info": done.copy()}
            if world_over:
                frames, states = self._decode(self._world.reset(self._seed()))
            else:
                natives = None
                for i in np.flatnonzero(done):
                    natives = self._world.respawn(int(i), self._seed())
                frames, states = self._decode(natives)
        # The infos of the frames returned: a restarted car's are its new episode's.
        infos = {**self._infos(states), **final}
        self._states, self._frames = states, frames
        return frames, rewards, terminated, truncated, infos

    def render(self):
        return None if self._frames is None else tuple(self._frames)

    def close_extras(self, **kwargs):
        self._world.close()
