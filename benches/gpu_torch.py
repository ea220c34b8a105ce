#!/usr/bin/env python3
"""PyTorch on CUDA, timed on the same cases as `benches/gpu.rs`, for the issue's ratios.

    python3 benches/gpu_torch.py          # on the GPU machine, with a CUDA build of torch

Prints a table in the layout of gpu.rs: the device-to-device copy and the bandwidth share of
dropout, a permuted copy and batch norm (64, 256, 56, 56; training and inference), ResNet's
stem max pool (3x3/2 on (64, 64, 112, 112), forward + backward), the Rossmann store
embedding's backward (1116 x 81, batch 512), all 24 of the model's embeddings looked up and
back (batch 512), ResNet-34's convolutions shape by shape (forward, input and weight
gradients), a Rossmann epoch at batch 512 (the model, data and schedule of
compare_torch.py's tabular_epoch_bs512, each batch moved to the GPU before its step, as the
Learner does) and a ResNet-34 training step at batch 64, 224 x 224 (cuDNN, benchmark mode,
TF32 off as on our side; with the most memory it reserved and allocated). Exits with a
one-line reason where torch or CUDA is missing.
"""
import os
import statistics
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit("skipped: no torch in this Python")
if not torch.cuda.is_available():
    sys.exit("skipped: torch sees no CUDA device")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_torch import EPOCH_ROWS, ROSSMANN, Tabular  # noqa: E402

dev = torch.device("cuda")
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.backends.cudnn.benchmark = True


def timed(reps, f):
    """Median seconds of `reps` runs of `f`, each followed by a synchronisation."""
    f()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        f()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def row(name, seconds, gbs=None, share=None, extra=""):
    cols = f"{name:<44} {seconds * 1e3:>9.3f}"
    if gbs is not None:
        cols += f" {gbs:>10.0f} {share:>7.0f}%"
    print(cols + extra)


print(f"device: {torch.cuda.get_device_name()} (torch {torch.__version__})")
n = 64 * 256 * 56 * 56
x = torch.rand(64, 256, 56, 56, device=dev) * 2 - 1
nbytes = 2 * 4 * n
copy = timed(20, lambda: x.clone())
copy_bw = nbytes / copy / 1e9
print(f"{'kernel':<44} {'ms':>9} {'GB/s':>10} {'of copy':>8}")
row("device-to-device copy, 51M f32", copy, copy_bw, 100)
drop = timed(20, lambda: F.dropout(x, 0.5, training=True))
row("dropout forward, 51M f32", drop, nbytes / drop / 1e9, 100 * nbytes / drop / 1e9 / copy_bw)
nhwc = x.permute(0, 2, 3, 1)
permuted = timed(20, lambda: nhwc.contiguous())
row("permuted copy NCHW -> NHWC, 51M f32", permuted, nbytes / permuted / 1e9, 100 * nbytes / permuted / 1e9 / copy_bw)

xb = x.clone().requires_grad_(True)
w = torch.ones(256, device=dev, requires_grad=True)
b = torch.zeros(256, device=dev, requires_grad=True)
rm, rv = torch.zeros(256, device=dev), torch.ones(256, device=dev)
dy = x * 0.5


def bn():
    y = F.batch_norm(xb, rm, rv, w, b, training=True)
    y.backward(dy)


t = timed(10, bn)
bn_bytes = 8 * 4 * n
row("batch norm fwd+bwd (64,256,56,56)", t, bn_bytes / t / 1e9, 100 * bn_bytes / t / 1e9 / copy_bw)
with torch.no_grad():
    t = timed(20, lambda: F.batch_norm(x, rm, rv, w, b, training=False))
row("batch norm eval (64,256,56,56)", t, nbytes / t / 1e9, 100 * nbytes / t / 1e9 / copy_bw)

stem = (torch.rand(64, 64, 112, 112, device=dev) * 2 - 1).requires_grad_(True)
pool_dy = torch.rand(64, 64, 56, 56, device=dev) * 0.5


def max_pool():
    # autograd.grad, not backward: nothing accumulates into stem.grad between runs.
    torch.autograd.grad(F.max_pool2d(stem, 3, 2, 1), stem, pool_dy)


t = timed(20, max_pool)
pool_bytes = 2 * 4 * stem.numel() + 2 * 12 * pool_dy.numel()
row("max pool 3x3/2 fwd+bwd (64,64,112,112)", t, pool_bytes / t / 1e9, 100 * pool_bytes / t / 1e9 / copy_bw)

emb = torch.nn.Embedding(1116, 81).to(dev)
ids = (torch.arange(512, device=dev) * 7919) % 1116
grad = torch.rand(512, 81, device=dev) * 2 - 1
out = emb(ids)
row("embedding backward 1116x81, batch 512", timed(50, lambda: torch.autograd.grad(out, emb.weight, grad, retain_graph=True)))

tab = Tabular().to(dev)
codes = torch.stack([torch.randint(0, n, (512,)) for n in ROSSMANN], 1).to(dev)
emb_params = [e.weight for e in tab.embeds]
emb_dy = torch.rand(512, sum(p.shape[1] for p in emb_params), device=dev) * 2 - 1


def embeddings():
    x = torch.cat([e(codes[:, i]) for i, e in enumerate(tab.embeds)], 1)
    torch.autograd.grad(x, emb_params, emb_dy)


row("24 embeddings lookup + backward, batch 512", timed(50, embeddings))

model = Tabular().to(dev)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.95, 0.99), eps=1e-8, weight_decay=1e-2)
data = torch.utils.data.TensorDataset(
    torch.stack([torch.randint(0, k, (EPOCH_ROWS,)) for k in ROSSMANN], 1),
    torch.rand(EPOCH_ROWS, 16) * 2 - 1, torch.rand(EPOCH_ROWS, 1) + 8)
loader = torch.utils.data.DataLoader(data, batch_size=512, shuffle=True, drop_last=True)


def epoch():
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=1e-3, total_steps=len(loader), pct_start=0.3, div_factor=25,
        final_div_factor=1e4, base_momentum=0.85, max_momentum=0.95)
    model.train()
    for x_cat, x_cont, y in loader:
        x_cat, x_cont, y = x_cat.to(dev), x_cont.to(dev), y.to(dev)
        opt.zero_grad()
        F.mse_loss(model(x_cat, x_cont), y).backward()
        opt.step()
        sched.step()


row(f"Rossmann epoch, {EPOCH_ROWS} rows, batch 512", timed(5, epoch))

import torchvision  # noqa: E402

print(f"{'convolution (batch, c -> co, size, count)':<44} {'fwd ms':>9} {'dx ms':>9} {'dw ms':>9} {'TFLOP/s':>9}")
for c, co, k, stride, hw, count in [(3, 64, 7, 2, 224, 1), (64, 64, 3, 1, 56, 6), (128, 128, 3, 1, 28, 7),
                                    (256, 256, 3, 1, 14, 11), (512, 512, 3, 1, 7, 5)]:
    xc = (torch.rand(64, c, hw, hw, device=dev) * 2 - 1).requires_grad_(True)
    wc = ((torch.rand(co, c, k, k, device=dev) * 2 - 1) * 0.1).requires_grad_(True)
    yc = F.conv2d(xc, wc, None, stride, k // 2)
    dyc = yc.detach() * 0.5
    fwd = timed(10, lambda: F.conv2d(xc, wc, None, stride, k // 2))
    dx = timed(10, lambda: torch.autograd.grad(yc, xc, dyc, retain_graph=True))
    dw = timed(10, lambda: torch.autograd.grad(yc, wc, dyc, retain_graph=True))
    flops = 2 * c * k * k * co * yc.numel() / co
    print(f"{f'{k}x{k}/{stride}, 64, {c} -> {co}, {hw}, x{count}':<44} {fwd * 1e3:>9.3f} {dx * 1e3:>9.3f} "
          f"{dw * 1e3:>9.3f} {3 * flops / (fwd + dx + dw) / 1e12:>9.1f}")
    del xc, wc, yc, dyc

resnet = torchvision.models.resnet34().to(dev)
sgd = torch.optim.SGD(resnet.parameters(), lr=1e-3, momentum=0.9)
xr = torch.rand(64, 3, 224, 224, device=dev) * 2 - 1
yr = torch.arange(64, device=dev) * 37 % 1000


def step():
    sgd.zero_grad()
    F.cross_entropy(resnet(xr), yr).backward()
    sgd.step()


torch.cuda.reset_peak_memory_stats()
t = timed(5, step)
row("ResNet-34 training step, batch 64, 224", t, extra=f" {64 / t:>10.0f} img/s")
print(f"{'ResNet-34 step, device memory high-water':<44} {torch.cuda.max_memory_reserved() / 2**30:>9.2f} GiB"
      f" reserved, {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB allocated")
