#!/usr/bin/env python3
"""PyTorch reference for aegpu's benchmark: the same models and protocol.

Models (ReLU hidden, linear latent, sigmoid output, MSE, Adam lr 1e-3,
float32, data uniform in [0,1) resident on the device), each timed in two
modes on a GPU: eager (fused Adam) and the whole training step captured in
one CUDA graph; on the CPU (no GPU, or --device cpu) eagerly, on every
core. Warm-up steps first, then several timed windows
(CUDA events, or the wall clock on the CPU); the median window is reported
with min and max.

Prints one JSON object per line:
  {"model", "batch", "mode", "samples_per_sec", "samples_per_sec_min",
   "samples_per_sec_max", "us_per_step", "tflops", "device", "kind"}

Usage: python3 pytorch_bench.py [--models toy,mnist,wide] [--windows 5] [--device auto|cuda|cpu]
"""
import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
except ImportError as e:  # one line, not a traceback: say which Python lacks torch
    sys.exit(f"pytorch_bench: {sys.executable} (Python {platform.python_version()}) cannot import torch ({e}); "
             "install PyTorch for it, or run the script (aegpu bench --python) with an interpreter that has it")

MODELS = [
    ("toy", [8, 6, 4], 256),
    ("mnist", [784, 512, 256, 32], 256),
    ("mnist", [784, 512, 256, 32], 4096),
    ("wide", [1024, 4096, 4096, 256], 8192),
]


def build(layers):
    enc, dec = [], []
    for i in range(len(layers) - 1):
        enc.append(nn.Linear(layers[i], layers[i + 1]))
        if i < len(layers) - 2:
            enc.append(nn.ReLU())
    for i in range(len(layers) - 1, 0, -1):
        dec.append(nn.Linear(layers[i], layers[i - 1]))
        dec.append(nn.ReLU() if i > 1 else nn.Sigmoid())
    m = nn.Sequential()
    m.add_module("encoder", nn.Sequential(*enc))
    m.add_module("decoder", nn.Sequential(*dec))
    return m


def flops_per_sample(layers):
    return 6 * 2 * sum(layers[i] * layers[i + 1] for i in range(len(layers) - 1))


def time_windows_cpu(step, batch, windows, min_s=0.3):
    steps = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        if time.perf_counter() - t0 >= min_s or steps >= 1 << 20:
            break
        steps *= 2
    rates = []
    for _ in range(windows):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(steps * batch / (time.perf_counter() - t0))
    return rates


def time_windows(step, batch, windows, min_ms=300.0):
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    steps = 1
    while True:
        start.record()
        for _ in range(steps):
            step()
        end.record()
        end.synchronize()
        if start.elapsed_time(end) >= min_ms or steps >= 1 << 20:
            break
        steps *= 2
    rates = []
    for _ in range(windows):
        start.record()
        for _ in range(steps):
            step()
        end.record()
        end.synchronize()
        rates.append(steps * batch / (start.elapsed_time(end) / 1e3))
    return rates


def run(name, layers, batch, mode, windows, kind, precision="fp32"):
    torch.manual_seed(1)
    dev = torch.device(kind)
    model = build(layers).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True) if kind == "cuda" else torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.MSELoss()
    x = torch.rand(batch, layers[0], device=dev)

    # bf16: autocast runs the matrix products in bfloat16 with float32
    # weights and optimizer, as aegpu's --precision bf16 does.
    bf16 = precision == "bf16" and kind == "cuda"

    def eager_step():
        opt.zero_grad(set_to_none=False)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            loss = loss_fn(model(x).float(), x)
        loss.backward()
        opt.step()

    for _ in range(3):
        eager_step()
    step = eager_step
    if mode == "graph":
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                eager_step()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            eager_step()
        step = g.replay
    if kind == "cuda":
        torch.cuda.synchronize()
        rates = time_windows(step, batch, windows)
        device = torch.cuda.get_device_name()
    else:
        rates = time_windows_cpu(step, batch, windows)
        device = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    med = statistics.median(rates)
    return {
        "model": name, "batch": batch, "mode": mode, "samples_per_sec": med,
        "samples_per_sec_min": min(rates), "samples_per_sec_max": max(rates),
        "us_per_step": 1e6 * batch / med, "tflops": med * flops_per_sample(layers) / 1e12,
        "device": device, "kind": kind, "precision": precision if kind == "cuda" else "fp32",
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="toy,mnist,wide")
    p.add_argument("--windows", type=int, default=5)
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"],
                   help="GPU matrix products: fp32 (TF32 off), tf32 (allow_tf32), bf16 (autocast); the CPU always runs fp32")
    a = p.parse_args()
    kind = a.device
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cuda" and not torch.cuda.is_available():
        print("pytorch_bench: no CUDA device", file=sys.stderr)
        return 2
    if kind == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = a.precision == "tf32"
        torch.backends.cudnn.allow_tf32 = a.precision == "tf32"
    else:
        # Every core (some builds default to one thread): PyTorch's best.
        torch.set_num_threads(os.cpu_count() or 1)
    wanted = set(a.models.split(","))
    for name, layers, batch in MODELS:
        if name not in wanted or (kind == "cpu" and name == "wide"):
            continue
        for mode in ("eager", "graph") if kind == "cuda" else ("eager",):
            print(json.dumps(run(name, layers, batch, mode, a.windows, kind, a.precision)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
