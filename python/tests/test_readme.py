"""The Python examples of the README and the guide, run as written."""

import re

import numpy as np
import pytest

from conftest import ROOT


def readme_python_blocks() -> list[str]:
    """The README's Python blocks, then the guide's Python chapter's."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## From Python", 1)[1].split("\n## ", 1)[0]
    guide = (ROOT / "docs" / "src" / "python.md").read_text()
    return re.findall(r"```python\n(.*?)```", section + guide, re.S)


def test_quick_example_runs():
    first = readme_python_blocks()[0]
    scope = {}
    exec(compile(first, "README.md (From Python)", "exec"), scope)
    assert scope["obs"].shape[2] == 3 and np.isfinite(scope["reward"])


def test_behaviour_cloning_loop_learns():
    # PyTorch is not among the package's requirements (4 GB with its CUDA libraries): this runs where
    # it is installed, e.g. `pip install torch` into .venv.
    torch = pytest.importorskip("torch")
    loop = next(b for b in readme_python_blocks() if "import torch" in b or ", torch," in b)
    assert len(loop.strip().splitlines()) <= 15, "the README promises a 15-line loop"
    torch.manual_seed(0)
    np.random.seed(0)
    scope = {}
    exec(compile(loop, "README.md (behaviour cloning)", "exec"), scope)
    y, net, env = scope["y"], scope["net"], scope["env"]
    # It fits: far better than the best constant (the labels' variance).
    assert scope["loss"].item() < 0.2 * y.var().item()
    # And the network drives from other starts, 300 ticks each, without leaving the road.
    for seed in (1, 2, 3):
        obs, info = env.reset(seed=seed)
        for _ in range(300):
            action = net(torch.tensor(obs[None]).permute(0, 3, 1, 2).float() / 255)[0].detach().numpy() / 20
            obs, reward, terminated, truncated, info = env.step(action)
            assert not terminated and not info["off_road"], f"seed {seed}: left the road"
            if truncated:
                break
