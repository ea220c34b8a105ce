#!/usr/bin/env python3
"""Side-by-side timing of lesson6 and PyTorch CPU on the same shapes, in one process tree.

Runs the Rust timer (`cargo bench --bench compare`) and PyTorch alternately, case by case,
with 2 threads each (RAYON_NUM_THREADS=2, torch.set_num_threads(2)), several rounds, and
prints the median time of each side, GFLOP/s and the ratio (>1 means lesson6 is faster).

    ../shared/tools/torch-cpu-env.sh .venv-torch
    cargo build --release --benches
    .venv-torch/bin/python benches/compare_torch.py [--rounds 3] [CASE ...]

Nothing else should run meanwhile: a build beside a benchmark makes both meaningless.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

THREADS = 2
PEAK_GFLOPS = 430.0  # AVX-512 FMA peak measured on the 2-core Intel Xeon (BENCHMARKS.md)


# Cardinalities of lesson 6's 24 Rossmann categorical columns (docs/lesson6.md, Embedding sizes),
# and the rows of the table one timed epoch trains on (benches/shared/mod.rs has the same).
ROSSMANN = [1116, 8, 4, 13, 32, 3, 26, 27, 5, 4, 4, 24, 9, 13, 53, 22, 7, 7, 4, 4, 9, 9, 3, 3]
EPOCH_ROWS = 16384


class Tabular(torch.nn.Module):
    """fastai v1's TabularModel for lesson 6 (docs/lesson6.md, Tabular model)."""

    def __init__(self):
        super().__init__()
        sizes = [min(600, round(1.6 * n ** 0.56)) for n in ROSSMANN]
        self.embeds = torch.nn.ModuleList([torch.nn.Embedding(n, d) for n, d in zip(ROSSMANN, sizes)])
        self.emb_drop = torch.nn.Dropout(0.04)
        self.bn_cont = torch.nn.BatchNorm1d(16)
        n_in = sum(sizes) + 16
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(n_in, 1000), torch.nn.ReLU(), torch.nn.BatchNorm1d(1000), torch.nn.Dropout(0.001),
            torch.nn.Linear(1000, 500), torch.nn.ReLU(), torch.nn.BatchNorm1d(500), torch.nn.Dropout(0.01),
            torch.nn.Linear(500, 1))

    def forward(self, x_cat, x_cont):
        x = torch.cat([e(x_cat[:, i]) for i, e in enumerate(self.embeds)], 1)
        x = torch.cat([self.emb_drop(x), self.bn_cont(x_cont)], 1)
        return torch.sigmoid(self.layers(x)) * 10.8


def torch_cases():
    cases = {}
    for m, k, n in [(1024, 1024, 1024), (2048, 2048, 2048), (512, 233, 1000), (512, 1000, 500)]:
        a, b = torch.rand(m, k) * 2 - 1, torch.rand(k, n) * 2 - 1
        cases[f"sgemm_{m}x{k}x{n}"] = (2.0 * m * n * k, lambda a=a, b=b: a @ b)
    for ci, co, hw, kk, s, p in [(3, 64, 224, 7, 2, 3), (64, 64, 56, 3, 1, 1), (256, 256, 14, 3, 1, 1)]:
        x, w = torch.rand(8, ci, hw, hw) * 2 - 1, torch.rand(co, ci, kk, kk) * 2 - 1
        ho = (hw + 2 * p - kk) // s + 1
        flops = 2.0 * 8 * co * ho * ho * ci * kk * kk
        name = f"conv_{ci}to{co}_k{kk}s{s}_{hw}"
        cases[name] = (flops, lambda x=x, w=w, s=s, p=p: F.conv2d(x, w, stride=s, padding=p))
        xl, wl = x.contiguous(memory_format=torch.channels_last), w.contiguous(memory_format=torch.channels_last)
        cases[name + "@channels_last"] = (flops, lambda x=xl, w=wl, s=s, p=p: F.conv2d(x, w, stride=s, padding=p))
        # Training: the forward, then the input and weight gradients of a given output gradient.
        dy = torch.rand(8, co, ho, ho) * 2 - 1
        for suffix, (xt, wt, dyt) in [("", (x, w, dy)),
                                      ("@channels_last", (xl, wl, dy.contiguous(memory_format=torch.channels_last)))]:
            xt, wt = xt.clone().requires_grad_(), wt.clone().requires_grad_()

            def conv_train(x=xt, w=wt, dy=dyt, s=s, p=p):
                x.grad = w.grad = None
                F.conv2d(x, w, stride=s, padding=p).backward(dy)
            cases[name + "_train" + suffix] = (3.0 * flops, conv_train)
    big = torch.rand(1 << 24) * 2 - 1
    cases["dropout_16M"] = (0.0, lambda: F.dropout(big, 0.5, training=True))

    n = 21_800_000
    param = torch.nn.Parameter(torch.rand(n) * 2 - 1)
    param.grad = torch.rand(n) * 2 - 1
    adamw = torch.optim.AdamW([param], lr=1e-3, betas=(0.9, 0.99), eps=1e-8, weight_decay=1e-2)
    cases["adamw_step_21.8M"] = (0.0, adamw.step)

    for bs in (64, 512):
        model = Tabular()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99), eps=1e-8)
        x_cat = torch.stack([torch.randint(0, n, (bs,)) for n in ROSSMANN], 1)
        x_cont = torch.rand(bs, 16) * 2 - 1
        y = torch.rand(bs, 1) + 8

        def tabular_step(model=model, opt=opt, x_cat=x_cat, x_cont=x_cont, y=y):
            opt.zero_grad()
            F.mse_loss(model(x_cat, x_cont), y).backward()
            opt.step()

        cases[f"tabular_step_bs{bs}"] = (0.0, tabular_step)

    # One epoch through a DataLoader (shuffled, drop_last as fastai), AdamW with fastai's
    # decoupled weight decay and the one-cycle schedule (lr and beta1), and a one-batch
    # validation pass, as the Learner does.
    epoch_rows = EPOCH_ROWS
    for bs in (64, 512):
        model = Tabular()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.95, 0.99), eps=1e-8, weight_decay=1e-2)
        data = torch.utils.data.TensorDataset(
            torch.stack([torch.randint(0, n, (epoch_rows,)) for n in ROSSMANN], 1),
            torch.rand(epoch_rows, 16) * 2 - 1, torch.rand(epoch_rows, 1) + 8)
        loader = torch.utils.data.DataLoader(data, batch_size=bs, shuffle=True, drop_last=True)
        valid = (data.tensors[0][:bs], data.tensors[1][:bs], data.tensors[2][:bs])

        def tabular_epoch(model=model, opt=opt, loader=loader, valid=valid):
            sched = torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=1e-3, total_steps=len(loader), pct_start=0.3, div_factor=25,
                final_div_factor=1e4, base_momentum=0.85, max_momentum=0.95)
            model.train()
            for x_cat, x_cont, y in loader:
                opt.zero_grad()
                F.mse_loss(model(x_cat, x_cont), y).backward()
                opt.step()
                sched.step()
            model.eval()
            with torch.no_grad():
                F.mse_loss(model(valid[0], valid[1]), valid[2])

        cases[f"tabular_epoch_bs{bs}"] = (0.0, tabular_epoch)

    import torchvision
    resnet = torchvision.models.resnet34()
    sgd = torch.optim.SGD(resnet.parameters(), lr=1e-3, momentum=0.9)
    xr = torch.rand(16, 3, 224, 224) * 2 - 1
    yr = torch.arange(16) * 37 % 1000

    def resnet_train():
        resnet.train()
        sgd.zero_grad()
        F.cross_entropy(resnet(xr), yr).backward()
        sgd.step()

    def resnet_infer():
        resnet.eval()
        with torch.no_grad():
            resnet(xr)

    cases["resnet34_train_bs16_224"] = (0.0, resnet_train)
    cases["resnet34_infer_bs16_224"] = (0.0, resnet_infer)

    x0 = torch.rand(64) * 2 - 1

    def tape_chain():
        y = x = x0.clone().requires_grad_(True)
        for i in range(1000):
            y = y * 0.9 if i % 2 == 0 else torch.tanh(y)
        y.sum().backward()
        assert x.grad is not None

    cases["tape_chain_1000x64"] = (0.0, tape_chain)
    return cases


def time_torch(fn, reps, grad=False):
    with torch.set_grad_enabled(grad):
        fn()
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def time_rust(case, reps, binary):
    env = dict(os.environ, RAYON_NUM_THREADS=str(THREADS))
    out = subprocess.run([binary, case, "--reps", str(reps)], env=env, check=True,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        name, ms, _ = line.split("\t")
        if name == case:
            return float(ms)
    raise RuntimeError(f"rust timer printed nothing for {case}: {out!r}")


def rust_binary():
    """Builds the compare bench and returns its executable path."""
    out = subprocess.run(["cargo", "bench", "--bench", "compare", "--no-run", "--message-format=json"],
                         check=True, capture_output=True, text=True).stdout
    import json
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "compare" and msg.get("executable"):
            return msg["executable"]
    raise RuntimeError("could not find the compare bench executable")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cases", nargs="*")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(THREADS)
    binary = rust_binary()
    cases = torch_cases()
    rust_names = [c for c in cases if "@" not in c]
    wanted = args.cases or rust_names
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, capability "
          f"{torch.backends.cpu.get_cpu_capability()}; lesson6 with RAYON_NUM_THREADS={THREADS}")
    print(f"{'case':34} {'lesson6 ms':>10} {'torch ms':>10} {'l6 GF/s':>8} {'pt GF/s':>8} {'%peak':>6} {'ratio':>6}")
    for name in wanted:
        flops = cases[name][0]
        variants = [v for v in cases if v == name or v.startswith(name + "@")]
        r, t = [], {v: [] for v in variants}
        for _ in range(args.rounds):
            r.append(time_rust(name, args.reps, binary))
            for v in variants:
                t[v].append(time_torch(cases[v][1], args.reps, grad="_train" in v or v.startswith(("tape_", "tabular_"))))
        rm = statistics.median(r)
        # PyTorch in its faster layout (NCHW or channels-last).
        best = min(variants, key=lambda v: statistics.median(t[v]))
        tm = statistics.median(t[best])
        label = name + ("" if best == name else f" (torch {best.split('@')[1]})")
        print(f"{label:34} {rm:10.3f} {tm:10.3f} {flops / rm / 1e6:8.1f} {flops / tm / 1e6:8.1f} "
              f"{100 * flops / rm / 1e6 / PEAK_GFLOPS:5.0f}% {tm / rm:6.2f}")
        # (GFLOP/s and %peak are 0 for the tape case: it times overhead, not arithmetic.)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
