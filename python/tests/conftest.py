import hashlib
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def fnv1a(data: bytes) -> int:
    """The frame content hash episodes record (FNV-1a, 64 bit)."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def steerlab_bin() -> Path:
    """The CLI built beside the bindings (same profile)."""
    exe = ROOT / "target" / "debug" / "steerlab"
    if not exe.exists():
        pytest.fail(f"{exe} is missing: run `cargo build` first (make test does)")
    return exe


@pytest.fixture(scope="session")
def oval() -> str:
    return str(ROOT / "scenarios" / "oval.ron")
