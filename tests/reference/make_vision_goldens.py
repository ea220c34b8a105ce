#!/usr/bin/env python3
"""Golden values for the image augmentation (`nn/tests/vision.rs`), computed by PyTorch.

Run from the repository root:

    .venv-torch/bin/python tests/reference/make_vision_goldens.py

Writes `tests/reference/goldens/vision.safetensors`:

* `img` [3, 10, 14] and `grid` [6, 7, 2] (points in [-1.4, 1.4], some outside the image);
  `grid_<mode>`: `F.grid_sample(img, grid, 'bilinear', mode, align_corners=True)` for the
  padding modes zeros, border and reflection.
* `aug_<mode>` [3, 8, 8]: one augmentation with fixed parameters, written out with torch ops
  from docs/lesson6.md, Augmentation (not with fastai): the resize target (shorter side 8:
  8 x 11), the symmetric warp's homography solved with `torch.linalg.solve`, rotation 15
  degrees then zoom 1.2 about (row 0.3, column 0.7) with the aspect fix, `grid_sample`,
  brightness 0.6 and contrast 1.3 in logit space, the horizontal flip, and the crop at
  (0.25, 0.8).
"""
import math
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(6)
out = {}
img = torch.rand(3, 10, 14)
grid = torch.rand(6, 7, 2) * 2.8 - 1.4
out["img"], out["grid"] = img, grid
for mode in ("zeros", "border", "reflection"):
    out[f"grid_{mode}"] = F.grid_sample(img[None], grid[None], "bilinear", mode, align_corners=True)[0]

size = 8
h, w = img.shape[1:]
ratio = min(h / size, w / size)
th, tw = round(h / ratio), round(w / ratio)
ys, xs = torch.linspace(-1, 1, th, dtype=torch.float64), torch.linspace(-1, 1, tw, dtype=torch.float64)
gy, gx = torch.meshgrid(ys, xs, indexing="ij")
m = [0.1, -0.2, 0.3, 0.05]
orig = [(-1, -1), (-1, 1), (1, -1), (1, 1)]
targ = [(-1 - m[3], -1 - m[1]), (-1 - m[2], 1 + m[1]), (1 + m[3], -1 - m[0]), (1 + m[2], 1 + m[0])]
rows, rhs = [], []
for (x, y), (X, Y) in zip(targ, orig):
    rows += [[x, y, 1, 0, 0, 0, -X * x, -X * y], [0, 0, 0, x, y, 1, -Y * x, -Y * y]]
    rhs += [X, Y]
c = torch.linalg.solve(torch.tensor(rows, dtype=torch.float64), torch.tensor(rhs, dtype=torch.float64))
d = c[6] * gx + c[7] * gy + 1
wx, wy = (c[0] * gx + c[1] * gy + c[2]) / d, (c[3] * gx + c[4] * gy + c[5]) / d
t = math.radians(15)
R = torch.tensor([[math.cos(t), -math.sin(t), 0], [math.sin(t), math.cos(t), 0], [0, 0, 1]], dtype=torch.float64)
s, r, col = 1.2, 0.3, 0.7
Z = torch.tensor([[1 / s, 0, (1 - 1 / s) * (2 * col - 1)], [0, 1 / s, (1 - 1 / s) * (2 * r - 1)], [0, 0, 1]], dtype=torch.float64)
M = R @ Z
M[0, 1] *= th / tw
M[1, 0] *= tw / th
px, py = M[0, 0] * wx + M[0, 1] * wy + M[0, 2], M[1, 0] * wx + M[1, 1] * wy + M[1, 2]
flow = torch.stack([px, py], -1).float()
for mode in ("zeros", "border", "reflection"):
    y = F.grid_sample(img[None], flow[None], "bilinear", mode, align_corners=True)[0].double()
    L = torch.logit(y.clamp(1e-7, 1 - 1e-7)) + math.log(0.6 / 0.4)
    y = torch.sigmoid(L * 1.3).float()
    y = torch.flip(y, [2])
    row0, col0 = int((th - size + 1) * 0.25), int((tw - size + 1) * 0.8)
    out[f"aug_{mode}"] = y[:, row0:row0 + size, col0:col0 + size].contiguous()

path = os.path.join(os.path.dirname(__file__), "goldens", "vision.safetensors")
save_file({k: v.contiguous() for k, v in out.items()}, path)
print(f"wrote {path}: {sorted(out)}")
