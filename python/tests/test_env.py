"""The Gymnasium environment: the checker, determinism, errors, vector auto-reset."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import steerlab


@pytest.fixture(scope="module")
def env(oval):
    env = steerlab.make(oval, max_episode_steps=40)
    yield env
    env.close()


def test_check_env_passes(oval):
    env = gym.make("steerlab/Drive-v0", scenario=oval, max_episode_steps=40)
    with pytest.warns() as caught:
        check_env(env.unwrapped)
        import warnings
        warnings.warn("sentinel", UserWarning)
    # Only the checker's advice to normalise a physical (1/m) action range is expected.
    problems = [str(w.message) for w in caught
                if "sentinel" not in str(w.message) and "symmetric" not in str(w.message)]
    assert problems == []
    env.close()


def test_spaces_and_observation(env):
    obs, info = env.reset(seed=3)
    h, w = env.scenario["height"], env.scenario["width"]
    assert env.observation_space == gym.spaces.Box(0, 255, (h, w, 3), np.uint8)
    assert obs.shape == (h, w, 3) and obs.dtype == np.uint8
    assert obs in env.observation_space
    assert obs.std() > 5, "a rendered frame has contrast"
    assert info["expert_action"].shape == (2,)
    assert np.array_equal(env.render(), obs)


def test_same_seed_same_frames(env):
    def run(seed):
        obs, info = env.reset(seed=seed)
        frames = [obs.copy()]
        for _ in range(5):
            obs, reward, terminated, truncated, info = env.step(info["expert_action"][:1].astype(np.float32))
            frames.append(obs.copy())
            assert isinstance(reward, float) and not terminated
            # The speedometer reads the car's speed with its sensors' errors.
            assert abs(info["wheel_speed_m_s"] - info["speed_m_s"]) <= 0.1 * info["speed_m_s"] + 0.1
        return frames

    a, b, c = run(7), run(7), run(8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0]), "another seed starts elsewhere"


def test_world_seed_option_fixes_the_start_whatever_the_seed(env):
    a, _ = env.reset(seed=1, options={"world_seed": 42})
    a = a.copy()
    b, _ = env.reset(seed=2, options={"world_seed": 42})
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="world_seed"):
        env.reset(options={"world_seed": -1})


def test_expert_drives_with_positive_reward_and_truncates(env):
    obs, info = env.reset(seed=1)
    total, steps, truncated = 0.0, 0, False
    while not truncated:
        obs, reward, terminated, truncated, info = env.step(info["expert_action"][:1])
        assert not terminated
        total += reward
        steps += 1
    assert steps == 40
    # The expert moves forward at cruise speed along the road.
    assert total > 0.5 * 40 * env.scenario["dt_s"] * env.scenario["speed_m_s"]


def test_wrong_action_shape_is_a_value_error(env):
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"expected an action of shape \(1,\)"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([np.nan]))


def test_crash_terminates_with_a_penalty(oval):
    env = steerlab.make(oval, max_episode_steps=400)
    env.reset(seed=2)
    limit = env.action_space.high
    for _ in range(400):
        _, reward, terminated, truncated, info = env.step(limit)
        if terminated:
            break
    assert terminated and info["crash"] is not None
    assert reward < -5
    env.close()


def test_errors_are_python_exceptions(tmp_path):
    with pytest.raises(steerlab.SteerlabError, match="no-such-track"):
        steerlab.make("no-such-track")
    bad = tmp_path / "bad.ron"
    bad.write_text("(name: \"bad\", track: 12)")
    with pytest.raises(steerlab.SteerlabError, match="bad.ron"):
        steerlab.make(bad)
    env = steerlab.make("oval", max_episode_steps=5)
    env.reset(seed=0)
    env.close()
    with pytest.raises(steerlab.SteerlabError, match="closed"):
        env.step(np.zeros(1))


def test_vector_env_restarts_a_crashed_car_in_the_same_step(oval):
    envs = steerlab.make_vec(oval, num_envs=3, max_episode_steps=400)
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    obs, infos = envs.reset(seed=5)
    assert obs.shape == (3, *envs.single_observation_space.shape) and obs in envs.observation_space
    with pytest.raises(ValueError, match=r"\(3, 1\)"):
        envs.step(np.zeros(3))
    # Car 0 steers as hard as it can until it leaves the road; the others follow the expert.
    for _ in range(400):
        actions = infos["expert_action"][:, :1].copy()
        actions[0] = envs.single_action_space.high
        obs, rewards, terminated, truncated, infos = envs.step(actions)
        assert rewards.shape == (3,) and not truncated.any()
        if terminated[0]:
            break
    assert terminated[0] and not terminated[1:].any()
    assert list(infos["_final_obs"]) == [True, False, False]
    assert infos["final_obs"][0].shape == obs[0].shape and infos["final_obs"][1] is None
    assert infos["final_info"]["crashed"][0]
    # The returned frame and info are car 0's new episode: back on the road, no crash.
    assert not infos["crashed"][0] and abs(infos["lateral_offset_m"][0]) < 1.0
    assert not np.array_equal(obs[0], infos["final_obs"][0])
    envs.close()


def test_vector_env_truncates_together_and_starts_over(oval):
    envs = steerlab.make_vec(oval, num_envs=2, max_episode_steps=4)
    obs, infos = envs.reset(seed=9)
    for t in range(4):
        obs, rewards, terminated, truncated, infos = envs.step(infos["expert_action"][:, :1])
    assert truncated.all() and not terminated.any()
    assert infos["_final_obs"].all() and infos["final_info"]["s_m"].shape == (2,)
    # The returned frames are the new episode's first, not the last ones.
    assert not np.array_equal(obs[0], infos["final_obs"][0])
    envs.close()
