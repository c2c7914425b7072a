#!/usr/bin/env python3
"""PyTorch reference for `cifar-tui bench`: the seed notebook's pipeline, measured the same way.

The seed experiment trained the TensorFlow-tutorial CNN with PyTorch: torchvision-style CIFAR-10
(uint8 arrays turned into PIL images, then ToTensor) through a DataLoader, batch 64, Adam lr 1e-3,
and the test set evaluated after every epoch. This script reads the same binary files as
cifar-tui and prints one JSON object with, per repetition:

  bare_step        img/s of forward+backward+Adam on one fixed batch of 64 (NCHW)
  bare_step_cl     the same with channels_last tensors (PyTorch's fastest CPU layout here)
  epoch            img/s of one notebook-style epoch: DataLoader+PIL+ToTensor training on the
                   training images, then evaluation on the 10,000 test images
  eval             img/s of the notebook-style evaluation alone
  epoch_mem_cl     img/s of PyTorch's best plain epoch: every image in memory as one uint8
                   tensor, batches cut by index and scaled to [0, 1] on the fly, channels_last
                   model and batches, then the same evaluation of the 10,000 test images

With --paced, the script takes turns with its caller: it prints "ready" once the data is read,
then runs one repetition each time a line arrives on stdin and prints that repetition's figures
as one JSON line, until stdin closes. `cifar-tui bench` runs one of its own repetitions between
two of these, so a machine that speeds up or slows down over minutes weighs on both sides alike.

Usage: torch_reference.py --data DIR [--reps 3] [--steps 50] [--epoch-images 50000]
       [--device cpu|cuda] [--threads N] [--paced]
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image


def read_split(folder, names):
    images, labels = [], []
    for name in names:
        raw = np.fromfile(os.path.join(folder, name), dtype=np.uint8).reshape(-1, 3073)
        labels.append(raw[:, 0].astype(np.int64))
        # CHW planes -> HWC, as torchvision's CIFAR10 keeps them.
        images.append(raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return np.concatenate(images), np.concatenate(labels)


class Cifar(torch.utils.data.Dataset):
    """torchvision.datasets.CIFAR10's __getitem__: PIL image, then ToTensor."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        img = Image.fromarray(self.images[i])
        # transforms.ToTensor(): HWC uint8 -> CHW float in [0, 1]
        x = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).float().div(255)
        return x, int(self.labels[i])


class Net(nn.Module):
    """The TensorFlow-tutorial CNN: 122,570 parameters."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.conv3 = nn.Conv2d(64, 64, 3)
        self.fc1 = nn.Linear(1024, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.conv3(x))
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return F.log_softmax(self.fc2(x), dim=1)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bare_step(device, steps, channels_last):
    model = Net().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(64, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (64,), device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)

    def one():
        opt.zero_grad()
        F.nll_loss(model(x), y).backward()
        opt.step()

    for _ in range(5):
        one()
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        one()
    sync(device)
    return steps * 64 / (time.perf_counter() - t)


def evaluate(model, loader, device):
    model.eval()
    correct = n = 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            correct += (model(x).argmax(1) == y).sum().item()
            n += len(y)
    model.train()
    return correct / n


def epoch(device, train, test):
    model = Net().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_loader = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test, batch_size=64, shuffle=False)
    t = time.perf_counter()
    for x, y in train_loader:
        x, y = x.to(device), y.to(device)
        opt.zero_grad()
        F.nll_loss(model(x), y).backward()
        opt.step()
    t_eval = time.perf_counter()
    acc = evaluate(model, test_loader, device)
    sync(device)
    end = time.perf_counter()
    return len(train) / (end - t), len(test) / (end - t_eval), acc


def epoch_in_memory(device, tr_x, tr_y, te_x, te_y):
    """One epoch with no DataLoader and no PIL: what a tuned plain PyTorch loop does."""
    cl = torch.channels_last
    model = Net().to(device).to(memory_format=cl)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    # NHWC uint8 as read; a permuted view of it is channels_last NCHW.
    x_all = torch.from_numpy(np.ascontiguousarray(tr_x)).to(device).permute(0, 3, 1, 2)
    y_all = torch.from_numpy(tr_y).to(device)
    tx = torch.from_numpy(np.ascontiguousarray(te_x)).to(device).permute(0, 3, 1, 2)
    ty = torch.from_numpy(te_y).to(device)
    order = torch.randperm(len(y_all), device=device)
    t = time.perf_counter()
    for i in range(0, len(order), 64):
        idx = order[i : i + 64]
        x = x_all[idx].float().div_(255).contiguous(memory_format=cl)
        opt.zero_grad()
        F.nll_loss(model(x), y_all[idx]).backward()
        opt.step()
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(ty), 1000):
            x = tx[i : i + 1000].float().div_(255).contiguous(memory_format=cl)
            correct += (model(x).argmax(1) == ty[i : i + 1000]).sum().item()
    sync(device)
    return len(y_all) / (time.perf_counter() - t), correct / len(ty)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--epoch-images", type=int, default=50000)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--paced", action="store_true",
                   help="one repetition per line read from stdin, each printed as a JSON line")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    folder = a.data
    if os.path.isdir(os.path.join(folder, "cifar-10-batches-bin")):
        folder = os.path.join(folder, "cifar-10-batches-bin")
    tr_x, tr_y = read_split(folder, [f"data_batch_{i}.bin" for i in range(1, 6)])
    te_x, te_y = read_split(folder, ["test_batch.bin"])
    train = Cifar(tr_x[: a.epoch_images], tr_y[: a.epoch_images])
    test = Cifar(te_x, te_y)

    figures = {"bare_step": [], "bare_step_cl": [], "epoch": [], "eval": [], "epoch_mem_cl": []}

    def rep():
        figures["bare_step"].append(bare_step(device, a.steps, False))
        figures["bare_step_cl"].append(bare_step(device, a.steps, True))
        e, ev, acc = epoch(device, train, test)
        figures["epoch"].append(e)
        figures["eval"].append(ev)
        e_mem, acc_mem = epoch_in_memory(
            device, tr_x[: a.epoch_images], tr_y[: a.epoch_images], te_x, te_y
        )
        figures["epoch_mem_cl"].append(e_mem)
        n = len(figures["eval"])
        print(f"PyTorch rep {n}/{a.reps}: " + ", ".join(
            f"{k} {v[-1]:.0f} img/s" for k, v in figures.items())
            + f", acc {acc:.3f} (in memory {acc_mem:.3f})",
            file=sys.stderr, flush=True)

    if a.paced:
        print("ready", flush=True)
        for _ in sys.stdin:
            rep()
            print(json.dumps({k: v[-1] for k, v in figures.items()}), flush=True)
    else:
        for _ in range(a.reps):
            rep()
    out = {
        "torch": torch.__version__,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "reps": figures,
        "median": {k: statistics.median(v) for k, v in figures.items()},
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
