#!/usr/bin/env python3
"""Golden losses and parameter gradients of two small models, computed by PyTorch, for the
autograd crate's composite check (`autograd/tests/composite.rs`).

Run from the repository root:

    .venv-torch/bin/python tests/reference/make_autograd_goldens.py

(the venv is built by `../shared/tools/torch-cpu-env.sh .venv-torch`). Writes
`tests/reference/goldens/autograd.safetensors`, committed so CI needs no Python.

* `mlp.*`: x [16, 10] -> Linear(10, 32) -> ReLU -> Linear(32, 5) -> cross-entropy with
  targets [16].
* `cnn.*`: x [4, 3, 12, 12] -> Conv(3->8, 3x3, pad 1) -> batch-norm-like normalisation
  written from primitives (batch mean and biased variance over N, H, W; eps 1e-5; gamma,
  beta) -> ReLU -> MaxPool 2x2/2 -> Conv(8->16, 3x3, stride 2, pad 1) -> ReLU ->
  AdaptiveAvgPool(1) -> flatten -> Linear(16, 5) -> cross-entropy with targets [4].

Parameters are named as PyTorch names them (`<model>.fc1.weight`, ...); `<model>.loss` is
the loss and `<model>.grad.<param>` each parameter's gradient. Inputs and parameters are
float32; the reference is computed in float64 from them and stored as float32.
"""
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(6)
torch.set_num_threads(1)


def rand(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).float()


def mlp():
    p = {
        "x": rand(16, 10),
        "fc1.weight": rand(32, 10, scale=0.3),
        "fc1.bias": rand(32, scale=0.1),
        "fc2.weight": rand(5, 32, scale=0.3),
        "fc2.bias": rand(5, scale=0.1),
    }
    target = torch.randint(0, 5, (16,))

    def loss_fn(q):
        h = F.relu(q["x"] @ q["fc1.weight"].T + q["fc1.bias"])
        z = h @ q["fc2.weight"].T + q["fc2.bias"]
        return F.cross_entropy(z, target)

    return p, target, loss_fn


def cnn():
    p = {
        "x": rand(4, 3, 12, 12),
        "conv1.weight": rand(8, 3, 3, 3, scale=0.3),
        "conv1.bias": rand(8, scale=0.1),
        "bn.weight": (1 + rand(8, scale=0.1)),
        "bn.bias": rand(8, scale=0.1),
        "conv2.weight": rand(16, 8, 3, 3, scale=0.2),
        "conv2.bias": rand(16, scale=0.1),
        "fc.weight": rand(5, 16, scale=0.3),
        "fc.bias": rand(5, scale=0.1),
    }
    target = torch.randint(0, 5, (4,))

    def loss_fn(q):
        h = F.conv2d(q["x"], q["conv1.weight"], q["conv1.bias"], padding=1)
        mean = h.mean(dim=(0, 2, 3), keepdim=True)
        var = ((h - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        h = (h - mean) / torch.sqrt(var + 1e-5)
        h = h * q["bn.weight"].view(1, -1, 1, 1) + q["bn.bias"].view(1, -1, 1, 1)
        h = F.max_pool2d(F.relu(h), 2, 2)
        h = F.relu(F.conv2d(h, q["conv2.weight"], q["conv2.bias"], stride=2, padding=1))
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        z = h @ q["fc.weight"].T + q["fc.bias"]
        return F.cross_entropy(z, target)

    return p, target, loss_fn


def main():
    out = {}
    for name, make in [("mlp", mlp), ("cnn", cnn)]:
        params, target, loss_fn = make()
        q = {k: v.double().requires_grad_(k != "x") for k, v in params.items()}
        loss = loss_fn(q)
        loss.backward()
        for k, v in params.items():
            out[f"{name}.{k}"] = v.contiguous()
            if k != "x":
                out[f"{name}.grad.{k}"] = q[k].grad.float().contiguous()
        out[f"{name}.target"] = target
        out[f"{name}.loss"] = loss.detach().float().reshape(1)
    path = os.path.join(os.path.dirname(__file__), "goldens", "autograd.safetensors")
    save_file(dict(sorted(out.items())), path)
    print("wrote", path, "with", len(out), "tensors")


if __name__ == "__main__":
    main()
