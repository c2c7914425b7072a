#!/usr/bin/env python3
"""PyTorch eager with the data resident on the GPU: the seed study's scenarios, one after another.

The fastest plain-PyTorch way to run what cifar-tui's `study` runs: the whole training and test
sets uploaded once as uint8, batches gathered on the device (no DataLoader), fp32, Adam (eps
1e-8, coupled L2), batch 64, the test set evaluated after every epoch. Each scenario is the same
change to the baseline as in cifar-tui's trick table. Prints one JSON object per run and a last
line with the total wall time.

Usage: torch_study_gpu.py --data DIR [--epochs 10] [--scenarios baseline,norm_inputs,...]
       [--seeds 1] [--device cuda]
"""

import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# Cumulative, as the seed study stacks them (cifar-tui's PRESETS).
SCENARIOS = {
    "baseline": [],
    "norm_inputs": ["norm"],
    "lr_schedule": ["norm", "sched"],
    "weight_decay": ["norm", "sched", "l2"],
    "init_weights": ["norm", "sched", "l2", "kaiming"],
    "dropout_dense": ["norm", "sched", "l2", "kaiming", "drop_fc"],
    "dropout_conv": ["norm", "sched", "l2", "kaiming", "drop_conv"],
    "dropout_both": ["norm", "sched", "l2", "kaiming", "drop_fc", "drop_conv"],
}


def read(folder, names):
    raw = np.concatenate(
        [np.fromfile(os.path.join(folder, n), dtype=np.uint8).reshape(-1, 3073) for n in names]
    )
    return raw[:, 1:].reshape(-1, 3, 32, 32), raw[:, 0].astype(np.int64)


class Net(nn.Module):
    def __init__(self, tricks):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.conv3 = nn.Conv2d(64, 64, 3)
        self.fc1 = nn.Linear(1024, 64)
        self.fc2 = nn.Linear(64, 10)
        self.p_conv = 0.2 if "drop_conv" in tricks else 0.0
        self.p_fc = 0.2 if "drop_fc" in tricks else 0.0
        if "kaiming" in tricks:
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        d = lambda t, p: F.dropout(t, p, self.training) if p else t
        x = F.max_pool2d(d(F.relu(self.conv1(x)), self.p_conv), 2)
        x = F.max_pool2d(d(F.relu(self.conv2(x)), self.p_conv), 2)
        x = d(F.relu(self.conv3(x)), self.p_conv)
        x = d(F.relu(self.fc1(torch.flatten(x, 1))), self.p_fc)
        return self.fc2(x)


def train(name, tricks, seed, epochs, data, dev):
    (xtr, ytr), (xte, yte) = data
    torch.manual_seed(seed)
    if "norm" in tricks:
        f = xtr.float() / 255
        mean = f.mean(dim=(0, 2, 3), keepdim=True)
        std = f.std(dim=(0, 2, 3), keepdim=True)
    else:
        mean, std = torch.zeros(1, 3, 1, 1, device=dev), torch.ones(1, 3, 1, 1, device=dev)
    prep = lambda x: (x.float() / 255 - mean) / std
    model = Net(tricks).to(dev)
    opt = torch.optim.Adam(
        model.parameters(),
        lr=2e-3 if "sched" in tricks else 1e-3,
        eps=1e-8,
        weight_decay=1e-4 if "l2" in tricks else 0.0,
    )
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.8) if "sched" in tricks else None
    start = time.perf_counter()
    first_epoch = None
    n = len(ytr)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n, device=dev)
        for i in range(0, n, 64):
            idx = order[i : i + 64]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(prep(xtr[idx])), ytr[idx]).backward()
            opt.step()
        if sched:
            sched.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(yte), 1000):
                correct += (model(prep(xte[i : i + 1000])).argmax(1) == yte[i : i + 1000]).sum()
        acc = correct.item() / len(yte)
        if first_epoch is None:
            first_epoch = time.perf_counter() - start
    seconds = time.perf_counter() - start
    return {"run": name, "seed": seed, "test_accuracy": acc, "seconds": seconds,
            "first_epoch_seconds": first_epoch}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--device", default="cuda")
    a = p.parse_args()
    dev = torch.device(a.device)
    torch.backends.cudnn.benchmark = True
    folder = a.data
    if os.path.isdir(os.path.join(folder, "cifar-10-batches-bin")):
        folder = os.path.join(folder, "cifar-10-batches-bin")
    xtr, ytr = read(folder, [f"data_batch_{i}.bin" for i in range(1, 6)])
    xte, yte = read(folder, ["test_batch.bin"])
    t0 = time.perf_counter()
    data = tuple(
        (torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)) for x, y in ((xtr, ytr), (xte, yte))
    )
    for seed in range(1, a.seeds + 1):
        for name in a.scenarios.split(","):
            print(json.dumps(train(name, SCENARIOS[name], seed, a.epochs, data, dev)), flush=True)
    print(json.dumps({"total_seconds": time.perf_counter() - t0}))


if __name__ == "__main__":
    main()
