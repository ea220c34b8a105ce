#!/usr/bin/env python3
"""Peak memory of one forward + backward of the small CNN of `benches/cnn_memory.rs`, in
PyTorch, measured the same way (rise of VmHWM during the first step, after resetting it),
then the Rust one.

    .venv-torch/bin/python benches/cnn_memory.py            # the small CNN
    .venv-torch/bin/python benches/cnn_memory.py resnet34   # ResNet-34, batch 16, 224 x 224
"""
import subprocess
import sys

import torch
import torch.nn.functional as F

torch.set_num_threads(2)


def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def resnet34_step():
    import torchvision
    model = torchvision.models.resnet34()
    x = torch.rand(16, 3, 224, 224) * 2 - 1
    y = torch.arange(16) * 37 % 1000

    def step():
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
    return step


def main():
    x = torch.rand(64, 3, 32, 32) * 2 - 1
    target = torch.arange(64) % 10
    shapes = [(32, 3, 3, 3), (32,), (1, 32, 1, 1), (1, 32, 1, 1), (64, 32, 3, 3), (64,), (10, 64), (10,)]
    params = [((torch.rand(*s) * 2 - 1) * 0.2).requires_grad_(True) for s in shapes]

    def step():
        for p in params:
            p.grad = None
        h = F.conv2d(x, params[0], params[1], padding=1)
        mean = h.mean(dim=(0, 2, 3), keepdim=True)
        var = h.var(dim=(0, 2, 3), keepdim=True, unbiased=False)
        h = (h - mean) / torch.sqrt(var + 1e-5)
        h = F.relu(h * params[2] + params[3])
        h = F.max_pool2d(h, 2, 2)
        h = F.relu(F.conv2d(h, params[4], params[5], padding=1))
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        z = h @ params[6].T + params[7]
        F.cross_entropy(z, target).backward()

    resnet = "resnet34" in sys.argv
    if resnet:
        step = resnet34_step()
    # A cold first step and a warm second one, as in the Rust program (see there why).
    start = status_kb("VmRSS:")
    for label in ["cold", "warm"]:
        before = status_kb("VmRSS:")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        step()
        peak = status_kb("VmHWM:")
        print(f"pytorch\t{label}\tpeak_rise_mib\t{(peak - before) / 1024:.1f}"
              f"\tpeak_over_start_mib\t{(peak - start) / 1024:.1f}")
    out = subprocess.run(["cargo", "bench", "--bench", "cnn_memory", "--"] + (["resnet34"] if resnet else []),
                         capture_output=True, text=True, check=True)
    print("\n".join(out.stdout.strip().splitlines()[-2:]))


if __name__ == "__main__":
    main()
