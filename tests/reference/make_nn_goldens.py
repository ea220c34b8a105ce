#!/usr/bin/env python3
"""Golden values for the nn crate (`nn/tests/reference.rs`), computed by PyTorch.

Run from the repository root:

    .venv-torch/bin/python tests/reference/make_nn_goldens.py

Writes `tests/reference/goldens/nn.safetensors` (committed; CI needs no Python):

* `linear.*`, `emb.*`: a layer's weights, an input, its output and the gradients of
  sum(out * grad_out) with respect to the weights (and the input for Linear).
* `bn1d.*`, `bn2d.*`: BatchNorm1d on [16, 5] and BatchNorm2d on [4, 3, 5, 5] in training
  mode for 3 steps (inputs `x0..x2`): each step's output `y<i>`, the running statistics and
  num_batches_tracked after the 3 steps, the gradients of step 0, and an eval-mode output.
* `sgd.*`, `adamw.*`: a parameter `p0` and gradients `g0..g9`; the parameter after each of
  10 steps `p1..p10`. SGD is torch.optim.SGD(momentum=0.9) after fastai's decoupled weight
  decay p *= 1 - lr*wd. AdamW is PyTorch 1.0's Adam (as fastai v1 used it; docs/lesson6.md,
  AdamW and weight decay): p -= lr*sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v)+eps), after the same
  decay; written out here, since today's torch.optim.Adam adds eps in a different place.
"""
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(46)
torch.set_num_threads(1)
out = {}


def put(name, t):
    out[name] = t.detach().contiguous()


# Linear
lin = torch.nn.Linear(7, 4)
x = torch.randn(3, 7, requires_grad=True)
y = lin(x)
g = torch.randn_like(y)
(y * g).sum().backward()
for k, v in [("weight", lin.weight), ("bias", lin.bias), ("x", x), ("out", y), ("grad_out", g),
             ("grad_weight", lin.weight.grad), ("grad_bias", lin.bias.grad), ("grad_x", x.grad)]:
    put(f"linear.{k}", v)

# Embedding
emb = torch.nn.Embedding(6, 3)
idx = torch.tensor([[0, 5, 2], [2, 2, 1]])
y = emb(idx)
g = torch.randn_like(y)
(y * g).sum().backward()
put("emb.weight", emb.weight)
put("emb.idx", idx)
put("emb.out", y)
put("emb.grad_out", g)
put("emb.grad_weight", emb.weight.grad)

# BatchNorm, training for 3 steps, then eval.
for name, bn, shape in [("bn1d", torch.nn.BatchNorm1d(5), (16, 5)), ("bn2d", torch.nn.BatchNorm2d(3), (4, 3, 5, 5))]:
    with torch.no_grad():
        bn.weight.copy_(torch.rand(bn.weight.shape) + 0.5)
        bn.bias.copy_(torch.randn(bn.bias.shape) * 0.1)
    put(f"{name}.weight", bn.weight)
    put(f"{name}.bias", bn.bias)
    bn.train()
    for i in range(3):
        xi = (torch.randn(*shape) * (1 + i) + i).requires_grad_(True)
        yi = bn(xi)
        put(f"{name}.x{i}", xi)
        put(f"{name}.y{i}", yi)
        if i == 0:
            gi = torch.randn_like(yi)
            (yi * gi).sum().backward()
            put(f"{name}.grad_out", gi)
            put(f"{name}.grad_x", xi.grad)
            put(f"{name}.grad_weight", bn.weight.grad)
            put(f"{name}.grad_bias", bn.bias.grad)
    put(f"{name}.running_mean", bn.running_mean)
    put(f"{name}.running_var", bn.running_var)
    put(f"{name}.num_batches_tracked", bn.num_batches_tracked)
    bn.eval()
    xe = torch.randn(*shape)
    put(f"{name}.x_eval", xe)
    put(f"{name}.y_eval", bn(xe))

# Optimisers over 10 steps, in float64, stored float32.
lr, wd = 0.05, 0.1
p0 = torch.randn(37, dtype=torch.float64)
grads = [torch.randn(37, dtype=torch.float64) for _ in range(10)]
put("opt.p0", p0.float())
for i, gi in enumerate(grads):
    put(f"opt.g{i}", gi.float())

p = p0.clone().requires_grad_(True)
sgd = torch.optim.SGD([p], lr=lr, momentum=0.9)
for i, gi in enumerate(grads):
    with torch.no_grad():
        p.mul_(1 - lr * wd)
    p.grad = gi.clone()
    sgd.step()
    put(f"sgd.p{i + 1}", p.detach().float())

b1, b2, eps = 0.9, 0.99, 1e-8
p, m, v = p0.clone(), torch.zeros(37, dtype=torch.float64), torch.zeros(37, dtype=torch.float64)
for t, gi in enumerate(grads, start=1):
    p = p * (1 - lr * wd)
    m = b1 * m + (1 - b1) * gi
    v = b2 * v + (1 - b2) * gi * gi
    p = p - lr * (1 - b2 ** t) ** 0.5 / (1 - b1 ** t) * m / (v.sqrt() + eps)
    put(f"adamw.p{t}", p.float())

for k in list(out):
    if out[k].dtype == torch.float64:
        out[k] = out[k].float()
path = os.path.join(os.path.dirname(__file__), "goldens", "nn.safetensors")
save_file(dict(sorted(out.items())), path)
print("wrote", path, "with", len(out), "tensors")
