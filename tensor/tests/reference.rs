//! The tensor ops against PyTorch: golden inputs, outputs and gradients written by
//! `tests/reference/make_goldens.py` (see its docstring for the file layout and the case
//! specs), one `.safetensors` file per op family under `tests/reference/goldens/`.
//!
//! Every case in a file is run; a case whose op this test does not know fails, so a case
//! added to the script cannot be silently skipped. Each check compares a Rust result with the
//! PyTorch one element by element: `|got - want| <= atol + rtol * |want|`, with
//!
//! * [`EXACT`] (`0`, `0`): ops that only move or select elements (views, index_select, gather,
//!   cat, stack, pad2d, im2col, max/min values, max pooling, comparisons, where_cond);
//!   integer outputs (argmax, pooling indices) must be equal;
//! * [`ELEMENTWISE`] (`rtol 1e-5`, `atol 1e-6`): element-wise maths;
//! * [`REDUCTION`] (`rtol 1e-4`, `atol 1e-6`): reductions, softmax, average pooling and the
//!   backward passes that add several gradients into one element (index_add, scatter_add,
//!   pad2d_backward, max/avg pool backward, col2im);
//! * [`GEMM`] (`rtol 1e-4`, `atol 1e-5`): matmul and convolution, whose f32 dot products of up
//!   to a few hundred O(1) terms round at about 1e-6 absolute, so a result that cancels to
//!   near zero needs the absolute floor.
//!
//! The goldens are the float64 answer for the float32 inputs, rounded to float32.
//!
//! Backward building blocks checked against PyTorch's autograd gradients:
//! conv2d_backward_input / conv2d_backward_weight / bias grad (`grad_out.sum(&[0, 2, 3])`),
//! col2im (the gradient of im2col), max_pool2d_backward, adaptive_max_pool2d_backward,
//! avg_pool2d_backward, adaptive_avg_pool2d_backward, index_add (index_select's
//! gradient), scatter_add (gather's gradient), index_select (index_add's gradient), gather
//! (scatter_add's gradient), pad2d_backward, and matmul with transposed views (matmul's
//! gradients), narrow (cat's and stack's gradients).
#[path = "../../tests/reference/support.rs"]
mod support;

use support::{load, same_shape, unravel, worst_error, Case, Checks, Tol, Worst};
use support::{ELEMENTWISE, EXACT, GEMM, REDUCTION};
use tensor::{DType, Result, Tensor};

// ------------------------------------------------------------------------------ comparison

/// Compares two tensors (same shape; f32 within tolerance, i64 exactly). On success returns
/// the worst error as a fraction of the allowed error (0 when exact); on failure, a report
/// naming the worst element, its index and both values.
fn compare(
    name: &str,
    got: &Tensor,
    want: &Tensor,
    rtol: f32,
    atol: f32,
) -> std::result::Result<f64, String> {
    same_shape(name, got, want)?;
    if got.dtype() != want.dtype() {
        return Err(format!(
            "{name}: dtype {}, expected {}",
            got.dtype(),
            want.dtype()
        ));
    }
    if want.dtype() == DType::I64 {
        let (g, w) = (got.to_vec::<i64>().unwrap(), want.to_vec::<i64>().unwrap());
        let bad: Vec<usize> = (0..w.len()).filter(|&i| g[i] != w[i]).collect();
        return match bad.first() {
            None => Ok(0.0),
            Some(&i) => Err(format!(
                "{name}: {} of {} i64 elements differ; first at {:?}: got {}, expected {}",
                bad.len(),
                w.len(),
                unravel(i, want.shape()),
                g[i],
                w[i]
            )),
        };
    }
    let (g, w) = (got.to_vec::<f32>().unwrap(), want.to_vec::<f32>().unwrap());
    let Worst { ratio, index, bad } = worst_error(&g, &w, rtol, atol);
    if bad == 0 {
        return Ok(ratio);
    }
    let i = index.unwrap();
    Err(format!(
        "{name}: {bad} of {} elements outside rtol {rtol:e} atol {atol:e}; worst at {:?}: got {:e}, expected {:e} \
         (|diff| {:e}, {:.3} x the allowed error)",
        w.len(),
        unravel(i, want.shape()),
        g[i],
        w[i],
        (g[i] as f64 - w[i] as f64).abs(),
        ratio
    ))
}

/// Panics unless `got` matches `want` within `atol + rtol * |want|` element-wise, naming the
/// worst element, its index and both values.
fn assert_close(name: &str, got: &Tensor, want: &Tensor, rtol: f32, atol: f32) {
    if let Err(report) = compare(name, got, want, rtol, atol) {
        panic!("{report}");
    }
}

// ------------------------------------------------------------------------------ golden files

/// Applies a `/`-separated chain of views to a tensor.
fn apply_view(t: Tensor, spec: &str) -> Result<Tensor> {
    let mut t = t;
    for view in spec.split('/') {
        let (kind, args) = view
            .split_once(':')
            .unwrap_or_else(|| panic!("bad view {view:?}"));
        let n: Vec<usize> = args.split(',').map(|a| a.parse().unwrap()).collect();
        t = match kind {
            "permute" => t.permute(&n)?,
            "transpose" => t.transpose(n[0], n[1])?,
            "narrow" => t.narrow(n[0], n[1], n[2])?,
            "expand" => t.expand(&n)?,
            _ => panic!("unknown view {view:?}"),
        };
    }
    Ok(t)
}

impl Case<'_> {
    /// The op's input `role`: the stored tensor with the case's view (if any) applied.
    fn input(&self, role: &str) -> Tensor {
        let t = self.stored(role);
        match self.views.get(role) {
            Some(spec) => apply_view(t, spec)
                .unwrap_or_else(|e| panic!("{}: view {spec} of {role}: {e}", self.name)),
            None => t,
        }
    }

    /// The gradient with respect to the op's input `role` (the stored gradient is with respect
    /// to the stored tensor, so the input's view is applied to it).
    fn grad(&self, role: &str) -> Tensor {
        let t = self.stored(&format!("grad_{role}"));
        match self.views.get(role) {
            Some(spec) => apply_view(t, spec).unwrap(),
            None => t,
        }
    }
}

impl Checks {
    fn close(&mut self, case: &Case, what: &str, got: &Tensor, want: &Tensor, tol: Tol) {
        let label = format!("{}.{what}", case.name);
        let outcome = compare(&label, got, want, tol.rtol, tol.atol);
        self.record(case, label, tol, outcome);
    }
}

/// Runs every case of a golden file through `check_case`, which returns `false` for an op it
/// does not know (a failure).
fn run_family(file: &'static str, mut check_case: impl FnMut(&Case, &mut Checks) -> Result<bool>) {
    let golden = load(file);
    let mut checks = Checks::default();
    let cases = golden.cases();
    for case in &cases {
        assert!(
            case.has("out"),
            "{}: case {} has no output",
            file,
            case.name
        );
        match check_case(case, &mut checks) {
            Ok(true) => {}
            Ok(false) => checks.failures.push(format!(
                "{}: op {:?} is not known to this test",
                case.name, case.op
            )),
            Err(e) => checks.failures.push(format!(
                "{}: error: {e}\n    ({}: {})",
                case.name, case.op, case.doc
            )),
        }
    }
    let summary = format!(
        "{file}: {} cases, {} checks passed",
        cases.len(),
        checks.passed
    );
    checks.finish(file, summary);
}

// ------------------------------------------------------------------------------ families

#[test]
fn elementwise() {
    run_family("elementwise", |c, k| {
        let out = c.stored("out");
        let got = match c.op.as_str() {
            "add" | "sub" | "mul" | "div" | "pow" | "maximum" | "minimum" | "eq" | "ne" | "lt"
            | "le" | "gt" | "ge" => {
                let (a, b) = (c.input("a"), c.input("b"));
                let (got, tol) = match c.op.as_str() {
                    "add" => (a.add(&b)?, ELEMENTWISE),
                    "sub" => (a.sub(&b)?, ELEMENTWISE),
                    "mul" => (a.mul(&b)?, ELEMENTWISE),
                    "div" => (a.div(&b)?, ELEMENTWISE),
                    "pow" => (a.pow(&b)?, ELEMENTWISE),
                    "maximum" => (a.maximum(&b)?, EXACT),
                    "minimum" => (a.minimum(&b)?, EXACT),
                    "eq" => (a.eq(&b)?, EXACT),
                    "ne" => (a.ne(&b)?, EXACT),
                    "lt" => (a.lt(&b)?, EXACT),
                    "le" => (a.le(&b)?, EXACT),
                    "gt" => (a.gt(&b)?, EXACT),
                    _ => (a.ge(&b)?, EXACT),
                };
                k.close(c, "out", &got, &out, tol);
                return Ok(true);
            }
            "where_cond" => {
                let got = c.input("cond").where_cond(&c.input("t"), &c.input("f"))?;
                k.close(c, "out", &got, &out, EXACT);
                return Ok(true);
            }
            "exp" => c.input("x").exp()?,
            "log" => c.input("x").log()?,
            "sigmoid" => c.input("x").sigmoid()?,
            "tanh" => c.input("x").tanh()?,
            "relu" => c.input("x").relu()?,
            "sqrt" => c.input("x").sqrt()?,
            "neg" => c.input("x").neg()?,
            "abs" => c.input("x").abs()?,
            "sqr" => c.input("x").sqr()?,
            "recip" => c.input("x").recip()?,
            "powf" => c.input("x").powf(c.f32("e"))?,
            "affine" => c.input("x").affine(c.f32("mul"), c.f32("add"))?,
            "clamp" => c.input("x").clamp(c.f32("min"), c.f32("max"))?,
            _ => return Ok(false),
        };
        k.close(c, "out", &got, &out, ELEMENTWISE);
        Ok(true)
    });
}

#[test]
fn reduce() {
    run_family("reduce", |c, k| {
        let (x, out) = (c.input("x"), c.stored("out"));
        match c.op.as_str() {
            "sum_all" => k.close(c, "out", &x.sum_all()?, &out, REDUCTION),
            "mean_all" => k.close(c, "out", &x.mean_all()?, &out, REDUCTION),
            "argmax" => k.close(
                c,
                "out",
                &x.argmax(c.usize("dim"), c.flag("keepdim"))?,
                &out,
                EXACT,
            ),
            "argmin" => k.close(
                c,
                "out",
                &x.argmin(c.usize("dim"), c.flag("keepdim"))?,
                &out,
                EXACT,
            ),
            op => {
                let (dims, keep) = (c.usizes("dims"), c.flag("keepdim"));
                let (got, tol) = match op {
                    "sum" => (x.sum(&dims, keep)?, REDUCTION),
                    "mean" => (x.mean(&dims, keep)?, REDUCTION),
                    "var" => (x.var(&dims, keep, c.flag("unbiased"))?, REDUCTION),
                    "max" => (x.max(&dims, keep)?, EXACT),
                    "min" => (x.min(&dims, keep)?, EXACT),
                    _ => return Ok(false),
                };
                k.close(c, "out", &got, &out, tol);
            }
        }
        Ok(true)
    });
}

#[test]
fn softmax() {
    run_family("softmax", |c, k| {
        let (x, dim) = (c.input("x"), c.usize("dim"));
        let got = match c.op.as_str() {
            "softmax" => x.softmax(dim)?,
            "log_softmax" => x.log_softmax(dim)?,
            _ => return Ok(false),
        };
        k.close(c, "out", &got, &c.stored("out"), REDUCTION);
        Ok(true)
    });
}

#[test]
fn matmul() {
    run_family("matmul", |c, k| {
        if c.op != "matmul" {
            return Ok(false);
        }
        let (a, b) = (c.input("a"), c.input("b"));
        k.close(c, "out", &a.matmul(&b)?, &c.stored("out"), GEMM);
        // The gradients as autograd will compute them, where no batch dim broadcasts:
        // dA = dC B^T and dB = A^T dC, the transposes being free views.
        let (ra, rb) = (a.rank(), b.rank());
        if ra >= 2 && rb >= 2 && a.shape()[..ra - 2] == b.shape()[..rb - 2] {
            let g = c.stored("grad_out");
            k.close(
                c,
                "grad_a",
                &g.matmul(&b.transpose(rb - 2, rb - 1)?)?,
                &c.grad("a"),
                GEMM,
            );
            k.close(
                c,
                "grad_b",
                &a.transpose(ra - 2, ra - 1)?.matmul(&g)?,
                &c.grad("b"),
                GEMM,
            );
        }
        Ok(true)
    });
}

#[test]
fn conv() {
    run_family("conv", |c, k| {
        let (x, p) = (c.input("x"), c.conv_params());
        let g = c.stored("grad_out");
        match c.op.as_str() {
            "conv2d" => {
                let w = c.input("w");
                let b = c.has("b").then(|| c.input("b"));
                let kernel = c.pair("kernel");
                assert_eq!(kernel, [w.shape()[2], w.shape()[3]]);
                k.close(
                    c,
                    "out",
                    &x.conv2d(&w, b.as_ref(), p)?,
                    &c.stored("out"),
                    GEMM,
                );
                k.close(
                    c,
                    "grad_x",
                    &g.conv2d_backward_input(&w, x.shape(), p)?,
                    &c.grad("x"),
                    GEMM,
                );
                k.close(
                    c,
                    "grad_w",
                    &g.conv2d_backward_weight(&x, kernel, p)?,
                    &c.grad("w"),
                    GEMM,
                );
                if b.is_some() {
                    k.close(
                        c,
                        "grad_b",
                        &g.sum(&[0, 2, 3], false)?,
                        &c.grad("b"),
                        REDUCTION,
                    );
                }
            }
            "im2col" => {
                let [kh, kw] = c.pair("kernel");
                k.close(c, "out", &x.im2col(kh, kw, p)?, &c.stored("out"), EXACT);
                k.close(
                    c,
                    "grad_x (col2im)",
                    &g.col2im(x.shape(), kh, kw, p)?,
                    &c.grad("x"),
                    REDUCTION,
                );
            }
            _ => return Ok(false),
        }
        Ok(true)
    });
}

#[test]
fn pool() {
    run_family("pool", |c, k| {
        let x = c.input("x");
        let (out, g) = (c.stored("out"), c.stored("grad_out"));
        match c.op.as_str() {
            "max_pool2d" | "adaptive_max_pool2d" => {
                let fixed = c.op == "max_pool2d";
                let (values, indices) = if fixed {
                    x.max_pool2d(c.pair("kernel"), c.conv_params())?
                } else {
                    x.adaptive_max_pool2d(c.pair("size"))?
                };
                let want_indices = c.stored("indices");
                k.close(c, "out", &values, &out, EXACT);
                k.close(c, "indices", &indices, &want_indices, EXACT);
                let gx = if fixed {
                    g.max_pool2d_backward(
                        &want_indices,
                        x.shape(),
                        c.pair("kernel"),
                        c.conv_params(),
                    )?
                } else {
                    g.adaptive_max_pool2d_backward(&want_indices, x.shape())?
                };
                k.close(c, "grad_x", &gx, &c.grad("x"), REDUCTION);
            }
            "avg_pool2d" => {
                let (kernel, p) = (c.pair("kernel"), c.conv_params());
                k.close(c, "out", &x.avg_pool2d(kernel, p)?, &out, REDUCTION);
                let gx = g.avg_pool2d_backward(x.shape(), kernel, p)?;
                k.close(c, "grad_x", &gx, &c.grad("x"), REDUCTION);
            }
            "adaptive_avg_pool2d" => {
                k.close(
                    c,
                    "out",
                    &x.adaptive_avg_pool2d(c.pair("size"))?,
                    &out,
                    REDUCTION,
                );
                let gx = g.adaptive_avg_pool2d_backward(x.shape())?;
                k.close(c, "grad_x", &gx, &c.grad("x"), REDUCTION);
            }
            _ => return Ok(false),
        }
        Ok(true)
    });
}

#[test]
fn index() {
    run_family("index", |c, k| {
        let (x, idx, dim) = (c.input("x"), c.stored("idx"), c.usize("dim"));
        let (out, g) = (c.stored("out"), c.stored("grad_out"));
        match c.op.as_str() {
            "index_select" => {
                k.close(c, "out", &x.index_select(dim, &idx)?, &out, EXACT);
                // Embedding backward: the gradient rows added into a zero table.
                let gx = Tensor::zeros(x.shape()).index_add(dim, &idx, &g)?;
                k.close(c, "grad_x (index_add)", &gx, &c.grad("x"), REDUCTION);
            }
            "index_add" => {
                let src = c.input("src");
                k.close(c, "out", &x.index_add(dim, &idx, &src)?, &out, REDUCTION);
                k.close(
                    c,
                    "grad_src (index_select)",
                    &g.index_select(dim, &idx)?,
                    &c.grad("src"),
                    EXACT,
                );
            }
            "gather" => {
                k.close(c, "out", &x.gather(dim, &idx)?, &out, EXACT);
                let gx = Tensor::zeros(x.shape()).scatter_add(dim, &idx, &g)?;
                k.close(c, "grad_x (scatter_add)", &gx, &c.grad("x"), REDUCTION);
            }
            "scatter_add" => {
                let src = c.input("src");
                k.close(c, "out", &x.scatter_add(dim, &idx, &src)?, &out, REDUCTION);
                k.close(
                    c,
                    "grad_src (gather)",
                    &g.gather(dim, &idx)?,
                    &c.grad("src"),
                    EXACT,
                );
            }
            _ => return Ok(false),
        }
        Ok(true)
    });
}

#[test]
fn cat_pad() {
    run_family("cat_pad", |c, k| {
        let (out, g) = (c.stored("out"), c.stored("grad_out"));
        match c.op.as_str() {
            "cat" | "stack" => {
                let (n, dim) = (c.usize("n"), c.usize("dim"));
                let xs: Vec<Tensor> = (0..n).map(|i| c.input(&format!("x{i}"))).collect();
                let refs: Vec<&Tensor> = xs.iter().collect();
                let got = if c.op == "cat" {
                    Tensor::cat(&refs, dim)?
                } else {
                    Tensor::stack(&refs, dim)?
                };
                k.close(c, "out", &got, &out, EXACT);
                // Their gradients are narrow views of grad_out.
                let mut start = 0;
                for (i, x) in xs.iter().enumerate() {
                    let gi = if c.op == "cat" {
                        let len = x.shape()[dim];
                        start += len;
                        g.narrow(dim, start - len, len)?
                    } else {
                        g.narrow(dim, i, 1)?.squeeze(dim)?
                    };
                    let role = format!("x{i}");
                    k.close(c, &format!("grad_{role}"), &gi, &c.grad(&role), EXACT);
                }
            }
            "pad2d" => {
                let x = c.input("x");
                let p = c.usizes("pads");
                let (pads, mode) = ([p[0], p[1], p[2], p[3]], c.pad_mode());
                k.close(c, "out", &x.pad2d(pads, mode)?, &out, EXACT);
                let gx = g.pad2d_backward(x.shape(), pads, mode)?;
                k.close(c, "grad_x", &gx, &c.grad("x"), REDUCTION);
            }
            _ => return Ok(false),
        }
        Ok(true)
    });
}

// ------------------------------------------------------------------------------ the helper

#[test]
#[should_panic(expected = "worst at [1, 0]: got 5e0, expected 4e0")]
fn assert_close_reports_the_worst_element() {
    let want = Tensor::from_slice(&[1.0f32, 2.0, 4.0, 8.0], &[2, 2]).unwrap();
    let got = Tensor::from_slice(&[1.0f32, 2.1, 5.0, 8.0], &[2, 2]).unwrap();
    assert_close("t", &got, &want, 1e-3, 0.0);
}

#[test]
fn assert_close_accepts_within_tolerance() {
    let want = Tensor::from_slice(&[1.0f32, -2.0, 0.0], &[3]).unwrap();
    let got = Tensor::from_slice(&[1.000_001f32, -2.000_01, 1e-7], &[3]).unwrap();
    assert_close("t", &got, &want, 1e-5, 1e-6);
}
