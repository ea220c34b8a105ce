#!/usr/bin/env python3
"""A small `torch.save`d state dict for the `.pth` reader's test (`nn/tests/pth.rs`).

Run from the repository root:

    .venv-torch/bin/python tests/reference/make_pth_fixture.py

Writes `tests/reference/goldens/small_state.pth` (a Linear(3, 2) and a BatchNorm1d(2), as
`torch.save(Sequential(...).state_dict())` writes them, running statistics set) and
`small_state.safetensors` with the same tensors, the expected values.
"""
import os

import torch
from safetensors.torch import save_file

torch.manual_seed(0)
m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
with torch.no_grad():
    m[1].running_mean.copy_(torch.tensor([0.5, -0.25]))
    m[1].running_var.copy_(torch.tensor([2.0, 0.75]))
    m[1].num_batches_tracked.fill_(7)
d = os.path.join(os.path.dirname(__file__), "goldens")
torch.save(m.state_dict(), os.path.join(d, "small_state.pth"))
save_file({k: v.contiguous() for k, v in m.state_dict().items()}, os.path.join(d, "small_state.safetensors"))
print(sorted(m.state_dict()))
