#!/usr/bin/env python3
"""Golden logits of torchvision's ResNet-34 for `nn/tests/resnet.rs`, computed by PyTorch.

Run from the repository root:

    .venv-torch/bin/python tests/reference/make_resnet_golden.py

A seeded random initialisation would have to ship its 87 MB of weights; instead every
parameter and buffer is set by a closed formula of its name and element index (the same
formula the Rust test evaluates), so the golden file holds only the input and the logits.
The formula keeps the activations in a sane range through the 36 layers: conv weights with
an RMS of sqrt(2 / fan_in) (as kaiming), batch-norm weights near 1, running variances in
[1, 1.5]. The model runs in eval mode (running statistics). Writes
`tests/reference/goldens/resnet34.safetensors`: `x` [2, 3, 64, 64] and `logits` [2, 1000].
"""
import os

import numpy as np
import torch
import torchvision
from safetensors.torch import save_file


def key(name):
    return sum(name.encode()) % 997


def formula(name, shape):
    n = int(np.prod(shape))
    s = np.sin(0.37 * np.arange(n, dtype=np.float64) + key(name))
    if name.endswith("running_var"):
        v = 1.0 + 0.25 * (1.0 + s)
    elif name.endswith("running_mean"):
        v = 0.1 * s
    elif "bn" in name or "downsample.1" in name:
        v = 1.0 + 0.1 * s if name.endswith("weight") else 0.1 * s
    elif name == "fc.weight":
        v = s / np.sqrt(512.0)
    elif name == "fc.bias":
        v = 0.01 * s
    else:  # a convolution's weight
        fan_in = int(np.prod(shape[1:]))
        v = s * np.sqrt(2.0 / fan_in) * np.sqrt(2.0)
    return torch.from_numpy(v.reshape(shape).astype(np.float32))


torch.set_num_threads(1)
model = torchvision.models.resnet34()
with torch.no_grad():
    for name, t in model.state_dict().items():
        if not name.endswith("num_batches_tracked"):
            t.copy_(formula(name, tuple(t.shape)))
model.eval()
j = np.arange(2 * 3 * 64 * 64, dtype=np.float64)
x = torch.from_numpy((0.5 * np.sin(0.05 * j) + 0.1 * np.cos(0.013 * j)).reshape(2, 3, 64, 64).astype(np.float32))
with torch.no_grad():
    logits = model(x)
path = os.path.join(os.path.dirname(__file__), "goldens", "resnet34.safetensors")
save_file({"x": x.contiguous(), "logits": logits.contiguous()}, path)
print(f"wrote {path}: logits in [{logits.min():.3f}, {logits.max():.3f}]")
