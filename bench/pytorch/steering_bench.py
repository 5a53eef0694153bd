#!/usr/bin/env python3
"""PyTorch twin of steerlab's steering networks, for speed comparisons on the CPU.

Builds the same `pilotnet` and `lecture` networks as steerlab (same layers, shapes and
Gaussian-mixture head, NLL loss, AdamW) and measures, per preset:
  - forward latency at batch 1 (median over repeated runs, ms),
  - forward throughput at batch 64 (samples/s),
  - training throughput at batch 64: forward + backward + AdamW step (samples/s).

It prints one JSON object per preset on stdout, the format `steerlab bench train --python`
reads. Not part of the tests. See README.md next to this file for setup.
"""

import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

K = 3
SCALE = 0.05
FLOOR = 0.001


class Net(nn.Module):
    def __init__(self, preset):
        super().__init__()
        if preset == "pilotnet":
            spec = [("conv", 24, 5, 2), ("conv", 36, 5, 2), ("conv", 48, 5, 2),
                    ("conv", 64, 3, 1), ("conv", 64, 3, 1)]
            hidden = [100, 50, 10]
        elif preset == "lecture":
            spec = [("conv", 32, 3, 1), ("pool", 0, 2, 2), ("conv", 64, 3, 1), ("pool", 0, 2, 2)]
            hidden = [64]
        else:
            raise ValueError(preset)
        layers, channels = [], 3
        for kind, out, k, s in spec:
            if kind == "conv":
                layers += [nn.Conv2d(channels, out, k, stride=s), nn.ReLU()]
                channels = out
            else:
                layers.append(nn.MaxPool2d(k, s))
        self.backbone = nn.Sequential(*layers)
        with torch.no_grad():
            features = self.backbone(torch.zeros(1, 3, 66, 200)).numel()
        dense, width = [], features
        for h in hidden:
            dense += [nn.Linear(width, h), nn.ReLU()]
            width = h
        dense.append(nn.Linear(width, 3 * K))
        self.head = nn.Sequential(*dense)

    def forward(self, x):
        x = self.backbone(x * 2.0 - 1.0)
        raw = self.head(torch.flatten(x, 1))
        log_w = F.log_softmax(raw[:, :K], dim=1)
        means = raw[:, K:2 * K] * SCALE
        stds = F.softplus(raw[:, 2 * K:]) * SCALE + FLOOR
        return log_w, means, stds


def nll(log_w, means, stds, y):
    z = (y[:, None] - means) / stds
    log_normal = -0.5 * z * z - torch.log(stds) - 0.5 * math.log(2 * math.pi)
    return -torch.logsumexp(log_w + log_normal, dim=1).mean()


def timed(fn, repeats, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def bench(preset, threads, seconds):
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    net = Net(preset)
    params = sum(p.numel() for p in net.parameters())
    one = torch.rand(1, 3, 66, 200)
    batch = torch.rand(64, 3, 66, 200)
    targets = (torch.rand(64) - 0.5) * 0.1

    def repeats(fn):
        t = statistics.median(timed(fn, 3, 1))
        return max(5, int(seconds / max(t, 1e-6)))

    with torch.no_grad():
        f1 = lambda: net(one)
        latency = statistics.median(timed(f1, repeats(f1), 3))
        f64 = lambda: net(batch)
        forward = 64 / statistics.median(timed(f64, repeats(f64), 1))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = nll(*net(batch), targets)
        loss.backward()
        opt.step()

    train = 64 / statistics.median(timed(step, repeats(step), 2))
    return {
        "framework": f"pytorch {torch.__version__}",
        "preset": preset,
        "threads": threads,
        "parameters": params,
        "forward_batch1_ms": latency * 1e3,
        "forward_batch64_samples_per_s": forward,
        "train_batch64_samples_per_s": train,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", action="append", choices=["pilotnet", "lecture"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0, help="time budget per measurement")
    args = parser.parse_args()
    for preset in args.preset or ["pilotnet", "lecture"]:
        print(json.dumps(bench(preset, args.threads, args.seconds)), flush=True)


if __name__ == "__main__":
    main()
