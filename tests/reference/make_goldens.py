#!/usr/bin/env python3
"""Golden reference files for the `tensor` crate, computed by PyTorch.

Run from the repository root:

    .venv-torch/bin/python tests/reference/make_goldens.py

(the venv is built by `../shared/tools/torch-cpu-env.sh .venv-torch`). The script writes one
`.safetensors` file per op family into `tests/reference/goldens/`; they are committed, so CI
needs no Python. `tensor/tests/reference.rs` reads them. The output is deterministic: every
case draws its data from its own generator seeded with the CRC-32 of its name, so rerunning
the script reproduces the files byte for byte, and adding a case changes no other case.

Layout of a file
----------------
Tensors are named `<case>.<role>`:

* inputs, stored float32 (index tensors int64), contiguous: `.x`, `.w`, `.b`, `.a`, `.idx`,
  `.src`, `.cond`, `.t`, `.f`, `.x0`, `.x1`, ...
* `.out` the result (float32; int64 for argmax/argmin), and `.indices` for max pooling;
* for ops that have a backward rule, `.grad_out` (a fixed random upstream gradient, float32)
  and `.grad_<input>` = d(sum(out * grad_out)) / d(<input>), the gradient with respect to the
  *stored* input (broadcast inputs get the reduced gradient, as in PyTorch).

Inputs are float32; the reference output and gradients are computed in float64 from those
float32 values (autograd in float64) and then rounded to float32, so they are the exact
answer to within half an ulp, not one particular float32 summation order.

The file's `__metadata__` maps every case name to its spec, `key=value` tokens separated by
spaces, then ` | ` and a free-text description:

* `op=<name>`: the Rust op (`add`, `sum`, `conv2d`, `max_pool2d`, `index_add`, `pad2d`, ...);
* op parameters: `dim=1`, `dims=0,2`, `keepdim=1`, `unbiased=0`, `stride=2,2`,
  `padding=3,3`, `kernel=7,7`, `size=3,3`, `pads=l,r,t,b`, `mode=reflect`, `n=3`, `e=2.5`, ...
* `view.<input>=<view>[/<view>...]`: the op's input is a non-contiguous view of the stored
  tensor, which the Rust test must build before calling the op:
  `permute:0,3,1,2`, `transpose:0,1`, `narrow:dim,start,len`, `expand:4,3,5`.
  The gradient `.grad_<input>` is with respect to the stored tensor; apply the same view to
  it to get the gradient with respect to the op's input.

The key `__about__` describes the file.
"""
import json
import os
import struct
import zlib

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "goldens")


# ----------------------------------------------------------------------------- helpers


def gen(name, salt=""):
    """A generator private to one case, seeded by its name."""
    return torch.Generator().manual_seed(zlib.crc32((name + salt).encode()))


def randn(g, *shape, scale=1.0, shift=0.0):
    return (torch.randn(shape, generator=g, dtype=torch.float64) * scale + shift).float()


def uniform(g, *shape, lo=0.0, hi=1.0):
    return (torch.rand(shape, generator=g, dtype=torch.float64) * (hi - lo) + lo).float()


def randint(g, lo, hi, *shape):
    return torch.randint(lo, hi, shape, generator=g, dtype=torch.int64)


def apply_view(t, spec):
    """Applies a `/`-separated chain of views (see the module docstring)."""
    if not spec:
        return t
    for v in spec.split("/"):
        kind, args = v.split(":")
        nums = [int(a) for a in args.split(",")]
        if kind == "permute":
            t = t.permute(*nums)
        elif kind == "transpose":
            t = t.transpose(*nums)
        elif kind == "narrow":
            t = t.narrow(*nums)
        elif kind == "expand":
            t = t.expand(*nums)
        else:
            raise ValueError(v)
    return t


def ints(xs):
    return ",".join(str(int(x)) for x in xs)


class Family:
    """One golden file: its tensors and its case specs."""

    def __init__(self, name, about):
        self.name = name
        self.tensors = {}
        self.meta = {"__about__": about}

    def case(self, name, op, doc, inputs, fn, params=None, views=None, grads=()):
        """Records one case.

        `inputs` maps role -> stored tensor; `fn(**viewed_inputs)` computes the result in
        float64 and returns a tensor or a dict with at least `out`; `grads` names the inputs
        whose gradients are stored (requires a floating `out`).
        """
        assert name not in self.meta, name
        assert "." not in name and " " not in name, name
        params = dict(params or {})
        views = dict(views or {})
        leaves, args = {}, {}
        for role, v in inputs.items():
            v = v.contiguous()
            self.tensors[f"{name}.{role}"] = v
            if v.is_floating_point():
                assert v.dtype == torch.float32, (name, role)
                leaf = v.double().requires_grad_(role in grads)
            else:
                assert role not in grads
                leaf = v
            leaves[role] = leaf
            args[role] = apply_view(leaf, views.get(role))
        result = fn(**args)
        if not isinstance(result, dict):
            result = {"out": result}
        for role, r in result.items():
            r = r.detach()
            self.tensors[f"{name}.{role}"] = (r.float() if r.is_floating_point() else r).contiguous()
        if grads:
            out = result["out"]
            grad_out = randn(gen(name, "grad_out"), *out.shape)
            self.tensors[f"{name}.grad_out"] = grad_out
            gs = torch.autograd.grad(out, [leaves[r] for r in grads], grad_out.double())
            for role, g in zip(grads, gs):
                self.tensors[f"{name}.grad_{role}"] = g.float().contiguous()
        tokens = [f"op={op}"]
        tokens += [f"{k}={v}" for k, v in params.items()]
        tokens += [f"view.{k}={v}" for k, v in views.items()]
        assert all(" " not in t and "|" not in t for t in tokens), tokens
        self.meta[name] = " ".join(tokens) + " | " + doc

    def save(self):
        os.makedirs(OUT_DIR, exist_ok=True)
        path = os.path.join(OUT_DIR, f"{self.name}.safetensors")
        write_safetensors(path, self.tensors, self.meta)
        back = load_file(path)
        assert back.keys() == self.tensors.keys()
        assert all(torch.equal(back[k], v) for k, v in self.tensors.items())
        return path


DTYPES = {torch.float32: "F32", torch.int64: "I64"}


def write_safetensors(path, tensors, metadata):
    """Writes the safetensors format with a fixed order (`safetensors.torch.save_file` orders
    the metadata as a hash map does, so its bytes change from run to run): the header's keys
    sorted, int64 tensors first (8-byte aligned), then float32 ones, each group by name."""
    names = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
    header, blobs, offset = {"__metadata__": dict(sorted(metadata.items()))}, [], 0
    for k in names:
        t = tensors[k]
        blob = t.contiguous().numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[k] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                     "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))


# ----------------------------------------------------------------------------- element-wise


def elementwise():
    fam = Family(
        "elementwise",
        "Element-wise unary maths, broadcasting binary ops, comparisons (f32 0/1 masks) and "
        "where_cond. Unary and binary cases store gradients; comparisons do not.",
    )
    positive = lambda g, *s: uniform(g, *s, lo=0.05, hi=4.0)  # noqa: E731
    signed = lambda g, *s: randn(g, *s, scale=2.0)  # noqa: E731
    away_from_zero = lambda g, *s: (  # noqa: E731
        uniform(g, *s, lo=0.25, hi=3.0) * torch.where(torch.rand(s, generator=g) < 0.5, -1.0, 1.0)
    ).float()

    unary = [
        # name, op, fn, input sampler, params
        ("exp", lambda x: x.exp(), signed, {}),
        ("log", lambda x: x.log(), positive, {}),
        ("sigmoid", lambda x: x.sigmoid(), lambda g, *s: randn(g, *s, scale=12.0), {}),
        ("tanh", lambda x: x.tanh(), lambda g, *s: randn(g, *s, scale=3.0), {}),
        ("relu", lambda x: x.relu(), signed, {}),
        ("sqrt", lambda x: x.sqrt(), positive, {}),
        ("neg", lambda x: -x, signed, {}),
        ("abs", lambda x: x.abs(), signed, {}),
        ("sqr", lambda x: x * x, signed, {}),
        ("recip", lambda x: x.reciprocal(), away_from_zero, {}),
        ("powf", lambda x: x.pow(2.5), positive, {"e": "2.5"}),
        ("affine", lambda x: x * 1.7 + (-0.3), signed, {"mul": "1.7", "add": "-0.3"}),
        ("clamp", lambda x: x.clamp(-0.5, 0.8), signed, {"min": "-0.5", "max": "0.8"}),
    ]
    for op, fn, sample, params in unary:
        # A plain [7, 13] tensor, and a transposed view of a stored [13, 7] tensor (rank 3 odd
        # sizes for a few), so that strided reads are exercised too.
        name = f"{op}_7x13"
        fam.case(name, op, f"{op} of a contiguous [7, 13]", {"x": sample(gen(name), 7, 13)},
                 fn, params, grads=("x",))
        name = f"{op}_t_13x7"
        fam.case(name, op, f"{op} of x^T: x stored [13, 7], Rust transposes it to [7, 13]",
                 {"x": sample(gen(name), 13, 7)}, fn, params, views={"x": "transpose:0,1"},
                 grads=("x",))
    name = "powf_int_signed"
    fam.case(name, "powf", "x^3 of signed x (an integral exponent of a negative base), [2, 3, 33]",
             {"x": signed(gen(name), 2, 3, 33)}, lambda x: x.pow(3.0), {"e": "3"}, grads=("x",))
    name = "exp_permuted_3d"
    fam.case(name, "exp", "exp of x stored [5, 3, 4], Rust permutes it (2, 0, 1) to [4, 5, 3]",
             {"x": signed(gen(name), 5, 3, 4)}, lambda x: x.exp(), views={"x": "permute:2,0,1"},
             grads=("x",))
    name = "relu_narrow"
    fam.case(name, "relu", "relu of x stored [7, 33], Rust narrows dim 1 to 5..5+13",
             {"x": signed(gen(name), 7, 33)}, lambda x: x.relu(), views={"x": "narrow:1,5,13"},
             grads=("x",))

    binary = [
        ("add", lambda a, b: a + b, signed, signed),
        ("sub", lambda a, b: a - b, signed, signed),
        ("mul", lambda a, b: a * b, signed, signed),
        ("div", lambda a, b: a / b, signed, away_from_zero),
        ("pow", lambda a, b: a.pow(b), positive, lambda g, *s: randn(g, *s, scale=1.5)),
        ("maximum", lambda a, b: torch.maximum(a, b), signed, signed),
        ("minimum", lambda a, b: torch.minimum(a, b), signed, signed),
    ]
    # (suffix, a shape, b shape, views, doc)
    layouts = [
        ("same_7x13", (7, 13), (7, 13), {}, "same shape [7, 13]"),
        ("row_bcast", (7, 13), (13,), {}, "[7, 13] with [13] (a bias row)"),
        ("outer_bcast", (2, 1, 33), (5, 1), {}, "[2, 1, 33] with [5, 1] -> [2, 5, 33]"),
        ("scalar", (3, 7), (), {}, "[3, 7] with a 0-d tensor"),
        ("lhs_bcast", (1, 13), (3, 7, 13), {}, "[1, 13] with [3, 7, 13]: the lhs broadcasts"),
        ("transposed", (13, 7), (7, 13), {"a": "transpose:0,1"},
         "a stored [13, 7], Rust transposes it to [7, 13]; b [7, 13]"),
        ("expanded", (7, 13), (1, 13), {"b": "expand:7,13"},
         "b stored [1, 13], Rust expands it to [7, 13] (a stride-0 view); a [7, 13]"),
    ]
    for op, fn, sa, sb in binary:
        for suffix, ash, bsh, views, doc in layouts:
            name = f"{op}_{suffix}"
            g = gen(name)
            fam.case(name, op, f"{op}: {doc}", {"a": sa(g, *ash), "b": sb(g, *bsh)}, fn,
                     views=views, grads=("a", "b"))

    compare = [
        ("eq", torch.eq), ("ne", torch.ne), ("lt", torch.lt),
        ("le", torch.le), ("gt", torch.gt), ("ge", torch.ge),
    ]
    for op, fn in compare:
        # Small integers, so that equal pairs are common.
        name = f"{op}_bcast"
        g = gen(name)
        a = randint(g, -2, 3, 7, 13).float()
        b = randint(g, -2, 3, 13).float()
        fam.case(name, op, f"{op} mask (f32 0/1): [7, 13] with [13], small integers so ties occur",
                 {"a": a, "b": b}, lambda a, b, fn=fn: fn(a, b).double())
        name = f"{op}_transposed"
        g = gen(name)
        a = randint(g, -2, 3, 13, 7).float()
        b = randint(g, -2, 3, 7, 1).float()
        fam.case(name, op, f"{op} mask: a stored [13, 7] transposed by Rust to [7, 13], b [7, 1]",
                 {"a": a, "b": b}, lambda a, b, fn=fn: fn(a, b).double(), views={"a": "transpose:0,1"})

    name = "where_cond_bcast"
    g = gen(name)
    fam.case(name, "where_cond", "where(cond != 0, t, f): cond [7, 1], t [7, 13], f [13]",
             {"cond": randint(g, 0, 2, 7, 1).float(), "t": signed(g, 7, 13), "f": signed(g, 13)},
             lambda cond, t, f: torch.where(cond != 0, t, f), grads=("t", "f"))
    name = "where_cond_same"
    g = gen(name)
    fam.case(name, "where_cond", "where(cond != 0, t, f), all [3, 5, 7]; cond holds 0, 1 and 2",
             {"cond": randint(g, 0, 3, 3, 5, 7).float(), "t": signed(g, 3, 5, 7),
              "f": signed(g, 3, 5, 7)},
             lambda cond, t, f: torch.where(cond != 0, t, f), grads=("t", "f"))
    return fam


# ----------------------------------------------------------------------------- reductions


def reduce():
    fam = Family(
        "reduce",
        "sum, mean, var, max, min over sets of dims (with and without keepdim), sum_all, "
        "mean_all, argmax/argmin (int64 output).",
    )
    ops = {
        "sum": lambda x, dims, keep: x.sum(dim=dims, keepdim=keep),
        "mean": lambda x, dims, keep: x.mean(dim=dims, keepdim=keep),
        "var_unbiased": lambda x, dims, keep: x.var(dim=dims, keepdim=keep, unbiased=True),
        "var_biased": lambda x, dims, keep: x.var(dim=dims, keepdim=keep, unbiased=False),
        "max": lambda x, dims, keep: x.amax(dim=dims, keepdim=keep),
        "min": lambda x, dims, keep: x.amin(dim=dims, keepdim=keep),
    }
    # (suffix, stored shape, dims, keepdim, views, doc)
    layouts = [
        ("d1_7x13", (7, 13), [1], False, {}, "[7, 13] over dim 1"),
        ("d0_keep_33x3", (33, 3), [0], True, {}, "[33, 3] over dim 0, keepdim"),
        ("d02_3x5x33", (3, 5, 33), [0, 2], False, {}, "[3, 5, 33] over dims 0 and 2"),
        ("d12_keep_2x7x13", (2, 7, 13), [1, 2], True, {}, "[2, 7, 13] over dims 1 and 2, keepdim"),
        ("t_d1", (13, 7), [1], False, {"x": "transpose:0,1"},
         "x stored [13, 7], transposed by Rust to [7, 13], over dim 1"),
        ("perm_d02", (5, 3, 17), [0, 2], True, {"x": "permute:2,0,1"},
         "x stored [5, 3, 17], permuted by Rust (2, 0, 1) to [17, 5, 3], over dims 0 and 2, keepdim"),
    ]
    for opname, fn in ops.items():
        op = opname.split("_")[0]
        params_extra = {}
        if op == "var":
            params_extra = {"unbiased": "1" if opname.endswith("unbiased") else "0"}
        for suffix, shape, dims, keep, views, doc in layouts:
            name = f"{opname}_{suffix}"
            shift = 100.0 if op == "var" and suffix == "d1_7x13" else 0.0
            x = randn(gen(name), *shape, shift=shift)
            extra = " (values around 100: a one-pass variance would lose digits)" if shift else ""
            fam.case(name, op, f"{opname}: {doc}{extra}", {"x": x},
                     lambda x, fn=fn, dims=dims, keep=keep: fn(x, dims, keep),
                     {"dims": ints(dims), "keepdim": int(keep), **params_extra}, views,
                     grads=("x",))
    for op, fn in [("sum_all", torch.sum), ("mean_all", torch.mean)]:
        name = f"{op}_3x7x13"
        fam.case(name, op, f"{op} of [3, 7, 13] -> 0-d", {"x": randn(gen(name), 3, 7, 13)}, fn,
                 grads=("x",))
        name = f"{op}_transposed"
        fam.case(name, op, f"{op} of x stored [13, 33] transposed by Rust",
                 {"x": randn(gen(name), 13, 33)}, fn, views={"x": "transpose:0,1"}, grads=("x",))
    for op, fn in [("argmax", torch.argmax), ("argmin", torch.argmin)]:
        for suffix, shape, dim, keep, views, doc in [
            ("d1_7x13", (7, 13), 1, False, {}, "[7, 13] along dim 1"),
            ("d0_keep_33x5", (33, 5), 0, True, {}, "[33, 5] along dim 0, keepdim"),
            ("d1_2x17x3", (2, 17, 3), 1, False, {}, "[2, 17, 3] along dim 1"),
            ("t_d1", (13, 7), 1, False, {"x": "transpose:0,1"},
             "x stored [13, 7], transposed by Rust to [7, 13], along dim 1"),
        ]:
            name = f"{op}_{suffix}"
            fam.case(name, op, f"{op} (int64): {doc}", {"x": randn(gen(name), *shape)},
                     lambda x, fn=fn, dim=dim, keep=keep: fn(x, dim=dim, keepdim=keep),
                     {"dim": dim, "keepdim": int(keep)}, views)
    return fam


# ----------------------------------------------------------------------------- softmax


def softmax():
    fam = Family("softmax", "softmax and log_softmax along one dim, with gradients.")
    for op, fn in [("softmax", torch.softmax), ("log_softmax", torch.log_softmax)]:
        for suffix, shape, dim, scale, views, doc in [
            ("d1_7x13", (7, 13), 1, 1.0, {}, "[7, 13] along dim 1"),
            ("d0_33x3", (33, 3), 0, 1.0, {}, "[33, 3] along dim 0"),
            ("large_2x3x37", (2, 3, 37), 2, 40.0, {},
             "[2, 3, 37] along dim 2, logits ~ N(0, 40^2): naive exp would overflow"),
            ("d1_4x9x5", (4, 9, 5), 1, 3.0, {}, "[4, 9, 5] along the middle dim"),
            ("t_d1", (13, 7), 1, 2.0, {"x": "transpose:0,1"},
             "x stored [13, 7], transposed by Rust to [7, 13], along dim 1"),
            ("single_1x1", (1, 1), 1, 1.0, {}, "[1, 1]: one class"),
        ]:
            name = f"{op}_{suffix}"
            fam.case(name, op, f"{op}: {doc}", {"x": randn(gen(name), *shape, scale=scale)},
                     lambda x, fn=fn, dim=dim: fn(x, dim), {"dim": dim}, views, grads=("x",))
    return fam


# ----------------------------------------------------------------------------- matmul


def matmul():
    fam = Family("matmul", "torch.matmul semantics: batched, broadcast batch dims, 1-D operands "
                           "promoted and their dim removed; with gradients.")
    # (name, a stored shape, b stored shape, views, doc)
    for name, ash, bsh, views, doc in [
        ("mm_7x13_13x33", (7, 13), (13, 33), {}, "[7, 13] x [13, 33]"),
        ("mm_65x130_130x97", (65, 130), (130, 97), {},
         "[65, 130] x [130, 97]: larger than a micro-tile, no size a multiple of 8"),
        ("mm_bt", (7, 13), (33, 13), {"b": "transpose:0,1"},
         "[7, 13] x b^T: b stored [33, 13], transposed by Rust to [13, 33]"),
        ("mm_at", (13, 7), (13, 33), {"a": "transpose:0,1"},
         "a^T x [13, 33]: a stored [13, 7], transposed by Rust to [7, 13]"),
        ("bmm_2x7x13_2x13x5", (2, 7, 13), (2, 13, 5), {}, "batched [2, 7, 13] x [2, 13, 5]"),
        ("bmm_bcast", (3, 1, 7, 13), (2, 13, 9), {},
         "[3, 1, 7, 13] x [2, 13, 9] -> [3, 2, 7, 9]: batch dims broadcast"),
        ("bmm_rhs_2d", (4, 5, 17), (17, 3), {}, "[4, 5, 17] x [17, 3]: a 2-D rhs for every batch"),
        ("bmm_batch1", (1, 5, 17), (1, 17, 3), {}, "batch 1: [1, 5, 17] x [1, 17, 3]"),
        ("vm_13_13x7", (13,), (13, 7), {}, "1-D lhs: [13] x [13, 7] -> [7]"),
        ("mv_2x7x13_13", (2, 7, 13), (13,), {}, "1-D rhs: [2, 7, 13] x [13] -> [2, 7]"),
        ("dot_33", (33,), (33,), {}, "1-D x 1-D: [33] x [33] -> 0-d"),
        ("bmm_permuted", (13, 2, 7), (2, 13, 5), {"a": "permute:1,2,0"},
         "a stored [13, 2, 7], permuted by Rust (1, 2, 0) to [2, 7, 13]; b [2, 13, 5]"),
    ]:
        g = gen(name)
        fam.case(name, "matmul", doc, {"a": randn(g, *ash), "b": randn(g, *bsh)}, lambda a, b: a @ b,
                 views=views, grads=("a", "b"))
    return fam


# ----------------------------------------------------------------------------- convolution


def conv():
    fam = Family(
        "conv",
        "conv2d (cross-correlation) with gradients of input, weight and bias; im2col against "
        "F.unfold (its gradient is col2im / F.fold).",
    )
    # (name, x stored shape, w shape, stride, padding, bias, views, doc)
    for name, xsh, wsh, stride, padding, bias, views, doc in [
        ("conv_s1_3x3", (2, 3, 9, 11), (4, 3, 3, 3), (1, 1), (1, 1), True, {},
         "3x3, stride 1, padding 1, bias"),
        ("conv_s2_7x7", (2, 3, 19, 17), (5, 3, 7, 7), (2, 2), (3, 3), True, {},
         "7x7, stride 2, padding 3, bias (the ResNet stem on a small odd image)"),
        ("conv_s2_3x3_b1", (1, 7, 13, 13), (8, 7, 3, 3), (2, 2), (1, 1), False, {},
         "batch 1, 3x3, stride 2, padding 1, no bias, 7 input channels"),
        ("conv_1x1", (2, 13, 7, 7), (6, 13, 1, 1), (1, 1), (0, 0), False, {},
         "1x1, stride 1, no padding (the pointwise path: no im2col)"),
        ("conv_1x1_s2", (2, 8, 7, 9), (16, 8, 1, 1), (2, 2), (0, 0), True, {},
         "1x1, stride 2 (a ResNet downsampling shortcut), odd image"),
        ("conv_rect", (2, 2, 8, 13), (3, 2, 3, 2), (1, 2), (2, 0), True, {},
         "3x2 kernel, stride (1, 2), padding (2, 0)"),
        ("conv_nhwc", (2, 9, 11, 3), (4, 3, 3, 3), (1, 1), (1, 1), True, {"x": "permute:0,3,1,2"},
         "x stored NHWC [2, 9, 11, 3], permuted by Rust (0, 3, 1, 2) to [2, 3, 9, 11]; 3x3 s1 p1"),
        ("conv_5x5_p2_33", (1, 2, 33, 33), (3, 2, 5, 5), (1, 1), (2, 2), True, {},
         "5x5, padding 2, batch 1, a 33x33 image"),
    ]:
        g = gen(name)
        inputs = {"x": randn(g, *xsh), "w": randn(g, *wsh, scale=0.3)}
        if bias:
            inputs["b"] = randn(g, wsh[0])
        fn = (lambda x, w, b=None, stride=stride, padding=padding:
              F.conv2d(x, w, b, stride=stride, padding=padding))
        fam.case(name, "conv2d", doc, inputs, fn,
                 {"stride": ints(stride), "padding": ints(padding), "kernel": ints(wsh[2:])},
                 views, grads=tuple(inputs))
    for name, xsh, kernel, stride, padding, doc in [
        ("im2col_3x3_s1_p1", (2, 3, 5, 7), (3, 3), (1, 1), (1, 1), "3x3, stride 1, padding 1"),
        ("im2col_7x7_s2_p3", (1, 2, 11, 9), (7, 7), (2, 2), (3, 3), "7x7, stride 2, padding 3"),
        ("im2col_rect", (2, 2, 6, 9), (2, 3), (2, 1), (0, 1), "2x3, stride (2, 1), padding (0, 1)"),
    ]:
        fam.case(name, "im2col", f"im2col ([N, C*kh*kw, L], = F.unfold): {doc}",
                 {"x": randn(gen(name), *xsh)},
                 lambda x, k=kernel, s=stride, p=padding: F.unfold(x, k, padding=p, stride=s),
                 {"kernel": ints(kernel), "stride": ints(stride), "padding": ints(padding)},
                 grads=("x",))
    return fam


# ----------------------------------------------------------------------------- pooling


def pool():
    fam = Family(
        "pool",
        "max_pool2d (values and int64 indices flat within each H*W plane), avg_pool2d "
        "(count_include_pad=True), adaptive_avg_pool2d, adaptive_max_pool2d; with gradients.",
    )
    for name, xsh, kernel, stride, padding, views, doc in [
        ("maxpool_3x3_s2_p1", (2, 3, 13, 11), (3, 3), (2, 2), (1, 1), {},
         "3x3, stride 2, padding 1 (the ResNet stem pool) on an odd image"),
        ("maxpool_2x2_s2_b1", (1, 4, 7, 7), (2, 2), (2, 2), (0, 0), {},
         "2x2, stride 2, batch 1, 7x7 (the last row and column are dropped)"),
        ("maxpool_rect", (2, 2, 9, 8), (3, 2), (2, 1), (1, 0), {}, "3x2, stride (2, 1), padding (1, 0)"),
        ("maxpool_nhwc", (2, 9, 10, 3), (3, 3), (2, 2), (1, 1), {"x": "permute:0,3,1,2"},
         "x stored NHWC [2, 9, 10, 3], permuted by Rust (0, 3, 1, 2) to [2, 3, 9, 10]; 3x3 s2 p1"),
    ]:
        fam.case(name, "max_pool2d", f"max_pool2d: {doc}", {"x": randn(gen(name), *xsh)},
                 lambda x, k=kernel, s=stride, p=padding: dict(
                     zip(("out", "indices"), F.max_pool2d(x, k, s, p, return_indices=True))),
                 {"kernel": ints(kernel), "stride": ints(stride), "padding": ints(padding)},
                 views, grads=("x",))
    for name, xsh, kernel, stride, padding, views, doc in [
        ("avgpool_3x3_s2_p1", (2, 3, 13, 11), (3, 3), (2, 2), (1, 1), {},
         "3x3, stride 2, padding 1 (padding counts in the divisor)"),
        ("avgpool_2x2_s2_b1", (1, 3, 7, 9), (2, 2), (2, 2), (0, 0), {}, "2x2, stride 2, batch 1, 7x9"),
        ("avgpool_rect", (2, 2, 9, 8), (3, 2), (1, 2), (1, 1), {}, "3x2, stride (1, 2), padding (1, 1)"),
        ("avgpool_narrow", (2, 3, 9, 16), (3, 3), (1, 1), (1, 1), {"x": "narrow:3,2,11"},
         "x stored [2, 3, 9, 16], narrowed by Rust on dim 3 to 2..13; 3x3 s1 p1"),
    ]:
        fam.case(name, "avg_pool2d", f"avg_pool2d: {doc}", {"x": randn(gen(name), *xsh)},
                 lambda x, k=kernel, s=stride, p=padding: F.avg_pool2d(x, k, s, p, count_include_pad=True),
                 {"kernel": ints(kernel), "stride": ints(stride), "padding": ints(padding)},
                 views, grads=("x",))
    for name, xsh, size, doc in [
        ("adaptive_avg_1x1", (2, 5, 7, 7), (1, 1), "to 1x1 (global average pool)"),
        ("adaptive_avg_3x3", (2, 3, 13, 11), (3, 3), "13x11 to 3x3: uneven, overlapping bins"),
        ("adaptive_avg_2x4_b1", (1, 2, 5, 9), (2, 4), "batch 1, 5x9 to 2x4"),
        ("adaptive_avg_up", (1, 2, 3, 3), (4, 5), "3x3 to 4x5: more outputs than inputs"),
    ]:
        fam.case(name, "adaptive_avg_pool2d", f"adaptive_avg_pool2d: {doc}",
                 {"x": randn(gen(name), *xsh)},
                 lambda x, size=size: F.adaptive_avg_pool2d(x, size), {"size": ints(size)},
                 grads=("x",))
    for name, xsh, size, doc in [
        ("adaptive_max_1x1", (2, 5, 7, 7), (1, 1), "to 1x1 (global max pool)"),
        ("adaptive_max_3x3", (2, 3, 13, 11), (3, 3), "13x11 to 3x3: uneven, overlapping bins"),
    ]:
        fam.case(name, "adaptive_max_pool2d",
                 f"adaptive_max_pool2d: {doc}; its gradient is max_pool2d_backward with these indices",
                 {"x": randn(gen(name), *xsh)},
                 lambda x, size=size: dict(
                     zip(("out", "indices"), F.adaptive_max_pool2d(x, size, return_indices=True))),
                 {"size": ints(size)}, grads=("x",))
    return fam


# ----------------------------------------------------------------------------- indexing


def index():
    fam = Family(
        "index",
        "index_select (embedding lookup; its gradient is index_add into zeros), index_add, "
        "gather (its gradient is scatter_add into zeros), scatter_add; with gradients.",
    )
    for name, xsh, dim, idx, views, doc in [
        ("index_select_emb", (13, 7), 0, [3, 0, 12, 3, 7, 3, 1, 12, 5], {},
         "dim 0 of a [13, 7] table: an embedding lookup with repeated rows"),
        ("index_select_d1", (3, 13, 5), 1, [12, 0, 4, 4], {}, "dim 1 of [3, 13, 5], a repeat"),
        ("index_select_d2", (2, 3, 9), 2, [8, 1, 1, 0, 8, 2, 3], {}, "last dim of [2, 3, 9]"),
        ("index_select_t", (7, 13), 0, [1, 12, 1, 6], {"x": "transpose:0,1"},
         "x stored [7, 13], transposed by Rust to [13, 7]; dim 0"),
    ]:
        fam.case(name, "index_select", f"index_select: {doc}",
                 {"x": randn(gen(name), *xsh), "idx": torch.tensor(idx, dtype=torch.int64)},
                 lambda x, idx, dim=dim: x.index_select(dim, idx), {"dim": dim}, views, grads=("x",))
    for name, xsh, dim, idx, doc in [
        ("index_add_d0", (13, 7), 0, [3, 0, 12, 3, 3, 5], "dim 0 of [13, 7], repeated rows add up"),
        ("index_add_d1", (5, 13), 1, [0, 12, 6, 6, 2, 0], "dim 1 of [5, 13], repeats"),
        ("index_add_d1_3d", (2, 6, 3), 1, [5, 5, 5, 0], "dim 1 of [2, 6, 3], one row hit 3 times"),
    ]:
        g = gen(name)
        ssh = list(xsh)
        ssh[dim] = len(idx)
        fam.case(name, "index_add", f"index_add (out of place): {doc}",
                 {"x": randn(g, *xsh), "idx": torch.tensor(idx, dtype=torch.int64),
                  "src": randn(g, *ssh)},
                 lambda x, idx, src, dim=dim: x.index_add(dim, idx, src), {"dim": dim},
                 grads=("x", "src"))
    for name, xsh, dim, ish, views, doc in [
        ("gather_d1", (7, 13), 1, (7, 4), {}, "dim 1 of [7, 13] with a [7, 4] index"),
        ("gather_target", (9, 5), 1, (9, 1), {}, "dim 1 of [9, 5] with [9, 1]: picking each row's target"),
        ("gather_d0_3d", (5, 3, 4), 0, (2, 3, 4), {}, "dim 0 of [5, 3, 4] with a [2, 3, 4] index"),
        ("gather_t", (13, 7), 1, (7, 6), {"x": "transpose:0,1"},
         "x stored [13, 7], transposed by Rust to [7, 13]; dim 1 with a [7, 6] index"),
    ]:
        g = gen(name)
        vshape = apply_view(torch.empty(xsh), views.get("x")).shape
        fam.case(name, "gather", f"gather: {doc}",
                 {"x": randn(g, *xsh), "idx": randint(g, 0, vshape[dim], *ish)},
                 lambda x, idx, dim=dim: x.gather(dim, idx), {"dim": dim}, views, grads=("x",))
    for name, xsh, dim, ish, doc in [
        ("scatter_add_d1", (4, 9), 1, (4, 5), "dim 1 of [4, 9] with [4, 5] index and src"),
        ("scatter_add_d0_3d", (3, 4, 5), 0, (6, 4, 5), "dim 0 of [3, 4, 5] with [6, 4, 5] (collisions)"),
        ("scatter_add_d2", (2, 3, 7), 2, (2, 3, 13), "dim 2 of [2, 3, 7] with [2, 3, 13]"),
    ]:
        g = gen(name)
        fam.case(name, "scatter_add", f"scatter_add (out of place): {doc}",
                 {"x": randn(g, *xsh), "idx": randint(g, 0, xsh[dim], *ish), "src": randn(g, *ish)},
                 lambda x, idx, src, dim=dim: x.scatter_add(dim, idx, src), {"dim": dim},
                 grads=("x", "src"))
    return fam


# ----------------------------------------------------------------------------- cat, stack, pad


def cat_pad():
    fam = Family(
        "cat_pad",
        "Tensor::cat, Tensor::stack and pad2d (pads = left, right, top, bottom as F.pad; modes "
        "zeros, reflect, replicate) with gradients.",
    )
    for name, shapes, dim, views, doc in [
        ("cat_d0", [(2, 3), (5, 3)], 0, {}, "[2, 3] and [5, 3] on dim 0"),
        ("cat_d1_3", [(2, 3, 4), (2, 1, 4), (2, 5, 4)], 1, {}, "three tensors on dim 1"),
        ("cat_last", [(3, 7), (3, 13)], 1, {}, "[3, 7] and [3, 13] on the last dim"),
        ("cat_t", [(7, 3), (3, 5)], 0, {"x1": "transpose:0,1"},
         "[7, 3] and x1 stored [3, 5] transposed by Rust to [5, 3], on dim 0"),
    ]:
        g = gen(name)
        inputs = {f"x{i}": randn(g, *s) for i, s in enumerate(shapes)}
        fam.case(name, "cat", f"cat: {doc}", inputs,
                 lambda dim=dim, **xs: torch.cat([xs[f"x{i}"] for i in range(len(xs))], dim),
                 {"dim": dim, "n": len(shapes)}, views, grads=tuple(inputs))
    for name, shape, n, dim, doc in [
        ("stack_d0", (3, 4), 3, 0, "three [3, 4] on a new dim 0"),
        ("stack_d2", (2, 3), 2, 2, "two [2, 3] on a new last dim -> [2, 3, 2]"),
        ("stack_d1", (5, 1, 3), 2, 1, "two [5, 1, 3] on a new dim 1"),
    ]:
        g = gen(name)
        inputs = {f"x{i}": randn(g, *shape) for i in range(n)}
        fam.case(name, "stack", f"stack: {doc}", inputs,
                 lambda dim=dim, **xs: torch.stack([xs[f"x{i}"] for i in range(len(xs))], dim),
                 {"dim": dim, "n": n}, grads=tuple(inputs))
    torch_mode = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate"}
    for name, xsh, pads, mode, views, doc in [
        ("pad_zeros", (2, 3, 5, 7), (1, 2, 0, 3), "zeros", {}, "zeros, pads (1, 2, 0, 3)"),
        ("pad_reflect", (1, 2, 5, 6), (2, 1, 3, 2), "reflect", {}, "reflect, pads (2, 1, 3, 2)"),
        ("pad_reflect_max", (2, 1, 4, 3), (2, 2, 3, 3), "reflect", {},
         "reflect with the largest pads allowed (size - 1)"),
        ("pad_replicate", (2, 2, 4, 5), (3, 0, 1, 2), "replicate", {}, "replicate, pads (3, 0, 1, 2)"),
        ("pad_replicate_big", (1, 1, 2, 3), (4, 5, 6, 3), "replicate", {},
         "replicate with pads larger than the image"),
        ("pad_zeros_nhwc", (2, 5, 7, 3), (3, 1, 2, 2), "zeros", {"x": "permute:0,3,1,2"},
         "x stored NHWC [2, 5, 7, 3], permuted by Rust (0, 3, 1, 2); zeros, pads (3, 1, 2, 2)"),
        ("pad_reflect_nhwc", (1, 6, 5, 2), (1, 3, 2, 4), "reflect", {"x": "permute:0,3,1,2"},
         "x stored NHWC [1, 6, 5, 2], permuted by Rust (0, 3, 1, 2); reflect, pads (1, 3, 2, 4)"),
    ]:
        fam.case(name, "pad2d", f"pad2d: {doc}", {"x": randn(gen(name), *xsh)},
                 lambda x, pads=pads, mode=mode: F.pad(x, pads, mode=torch_mode[mode]),
                 {"pads": ints(pads), "mode": mode}, views, grads=("x",))
    return fam


def main():
    total = 0
    for make in [elementwise, reduce, softmax, matmul, conv, pool, index, cat_pad]:
        fam = make()
        path = fam.save()
        size = os.path.getsize(path)
        total += size
        print(f"{os.path.relpath(path)}: {len(fam.meta) - 1} cases, {len(fam.tensors)} tensors, {size} bytes")
    print(f"total: {total} bytes")
    assert total < 5 * 1024 * 1024


if __name__ == "__main__":
    main()
