"""Episodes through an object store: a local S3-compatible server (moto) started here."""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

import steerlab
from test_episodes import hashes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    else:
        server.kill()
        pytest.fail("the moto server did not start")
    urllib.request.urlopen(urllib.request.Request(endpoint + "/episodes", method="PUT"))
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true",
           "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}
    yield endpoint, env
    server.kill()
    server.wait()


def client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test",
                        aws_secret_access_key="test", region_name="us-east-1")


def get(endpoint: str, key: str) -> bytes:
    return client(endpoint).get_object(Bucket="episodes", Key=key)["Body"].read()


def put(endpoint: str, key: str, data: bytes):
    client(endpoint).put_object(Bucket="episodes", Key=key, Body=data)


def test_record_uploads_each_episode_and_train_reads_it_back(s3, tmp_path, oval, steerlab_bin):
    endpoint, env = s3
    env = {**env, "STEERLAB_CACHE": str(tmp_path / "cache")}
    rec = subprocess.run([steerlab_bin, "record", "--scenario", oval, "--episodes", "2", "--steps", "20",
                          "--seed", "5", "--out", "s3://episodes/run1"], env=env, capture_output=True, text=True)
    assert rec.returncode == 0, rec.stderr
    uploads = re.findall(r"uploaded (s3://\S+): (\d+) bytes in ([\d.]+) s", rec.stdout + rec.stderr)
    assert [u[0] for u in uploads] == ["s3://episodes/run1/oval_000.mcap", "s3://episodes/run1/oval_001.mcap"]
    for _, size, seconds in uploads:
        print(f"upload: {size} bytes in {seconds} s")
    # The objects are the episodes a local run writes, frame for frame.
    local = steerlab.record([oval], tmp_path / "local", episodes=2, steps=20, seed=5)
    assert local["episodes"] == 2
    body = get(endpoint, "run1/oval_000.mcap")
    assert body == (tmp_path / "local" / "oval_000.mcap").read_bytes()
    trained = subprocess.run([steerlab_bin, "train", "--data", "s3://episodes/run1", "--out", tmp_path / "m",
                              "--epochs", "1", "--batch", "8"], env=env, capture_output=True, text=True)
    assert trained.returncode == 0, trained.stderr
    assert "2 episodes checked" in trained.stderr
    cached = tmp_path / "cache"
    assert hashes(next(cached.iterdir())) == hashes(tmp_path / "local")


def test_a_corrupt_object_is_reported_not_trained_on(s3, tmp_path, oval, steerlab_bin):
    endpoint, env = s3
    env = {**env, "STEERLAB_CACHE": str(tmp_path / "cache")}
    rec = subprocess.run([steerlab_bin, "record", "--scenario", oval, "--episodes", "2", "--steps", "20",
                          "--out", "s3://episodes/run2"], env=env, capture_output=True, text=True)
    assert rec.returncode == 0, rec.stderr
    good = get(endpoint, "run2/oval_001.mcap")
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0xFF
    put(endpoint, "run2/oval_001.mcap", bytes(flipped))
    trained = subprocess.run([steerlab_bin, "train", "--data", "s3://episodes/run2", "--out", tmp_path / "m",
                              "--epochs", "1", "--batch", "8"], env=env, capture_output=True, text=True)
    assert trained.returncode == 0, trained.stderr
    assert "left out s3://episodes/run2/oval_001.mcap: corrupt" in trained.stderr
    assert "1 episodes checked" in trained.stderr
    # With every object corrupt there is nothing to train on, and the error says so. (A fresh
    # cache: the one above holds a verified copy of oval_000, which still matches its checksum.)
    put(endpoint, "run2/oval_000.mcap", b"not an episode")
    fresh = {**env, "STEERLAB_CACHE": str(tmp_path / "cache2")}
    failed = subprocess.run([steerlab_bin, "train", "--data", "s3://episodes/run2", "--out", tmp_path / "m2",
                             "--epochs", "1"], env=fresh, capture_output=True, text=True)
    assert failed.returncode != 0 and "no usable episode files" in failed.stderr
