"""The PyTorch reference of `aegpu bench --quality`: the old recipe (Adam at
1e-3, a constant rate, nn.Linear's init, MSE) trained on the rows aegpu
hands over, already scaled and split as aegpu split them, keeping the
weights of the best validation epoch as aegpu does; prints one JSON line
with the MSE on the held-out rows.

    python3 pytorch_quality.py --dir DIR --layers 784,512,256,32 \
        --output sigmoid --epochs 10 --batch 256 --seed 1

DIR holds train.npy, val.npy and test.npy (float32, rows × features)."""
import argparse
import copy
import json
import sys

import numpy as np
import torch
from torch import nn


def build(layers, output):
    enc, dec = [], []
    for i in range(len(layers) - 1):
        enc.append(nn.Linear(layers[i], layers[i + 1]))
        if i < len(layers) - 2:
            enc.append(nn.ReLU())  # the code layer is linear
    rev = layers[::-1]
    for i in range(len(rev) - 1):
        dec.append(nn.Linear(rev[i], rev[i + 1]))
        if i < len(rev) - 2:
            dec.append(nn.ReLU())
    if output == "sigmoid":
        dec.append(nn.Sigmoid())
    return nn.Sequential(*enc, *dec)


def mse(model, x, batch=4096):
    model.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = x[i:i + batch]
            total += float(((model(xb) - xb) ** 2).sum())
    model.train()
    return total / x.numel()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--layers", required=True)
    p.add_argument("--output", default="linear")
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    load = lambda n: torch.from_numpy(np.load(f"{a.dir}/{n}.npy").astype(np.float32))
    train, val, test = load("train"), load("val"), load("test")
    layers = [int(v) for v in a.layers.split(",")]
    model = build(layers, a.output)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    best, best_state = float("inf"), None
    for _ in range(a.epochs):
        perm = torch.randperm(len(train))
        for i in range(0, len(train), a.batch):
            xb = train[perm[i:i + a.batch]]
            loss = ((model(xb) - xb) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if len(val):
            v = mse(model, val)
            if v < best:
                best, best_state = v, copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    json.dump({"test_mse": mse(model, test), "torch": torch.__version__, "threads": torch.get_num_threads()}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
