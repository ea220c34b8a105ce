//! The tape's gradients against PyTorch's: every case of the golden files written by
//! `tests/reference/make_goldens.py` that stores gradients (`.grad_<input>`, see the script's
//! docstring for the layout and the case specs) is run through [`Var`] ops and
//! `backward_with(.grad_out)`.
//!
//! For each case, on a fresh tape:
//!
//! * every stored float input becomes a leaf with its own [`VarId`]; index tensors (i64) are
//!   constants;
//! * the case's `view.<input>=...` views are applied to the leaf *as var ops* (`permute`,
//!   `transpose`, `narrow`, `expand`), so their backward rules are exercised too: the golden
//!   gradient is with respect to the stored tensor, which is the leaf, so the leaf's gradient
//!   is compared with it directly;
//! * the op runs through its var method with the spec's parameters; its output is checked
//!   against `.out`, then `backward_with(.grad_out)` gives each leaf's gradient, checked
//!   against `.grad_<input>`. A float input for which PyTorch stores no gradient (the mask of
//!   `where_cond`) must get none.
//!
//! A case with gradients whose op this test does not know fails, so a case added to the
//! script cannot be silently skipped; cases without gradients (comparisons, argmax, ...) are
//! `tensor/tests/reference.rs`'s business and are only counted here.
//!
//! Three ops of the goldens have no var method in this crate: `im2col`, `index_add` and
//! `scatter_add`. Their cases are run as the same function built from var ops, so their
//! golden gradients still check the tape: `im2col` is `conv2d` with a constant one-hot kernel
//! (its input gradient, col2im, comes from conv2d's rule), `index_add` adds `src` moved to
//! its rows by a constant one-hot matrix product (the gradient of `src` is index_select,
//! through matmul's rule), and `scatter_add` adds `src` times a constant one-hot encoding of
//! the index, summed over `dim` (the gradient of `src` is gather, through mul, sum and
//! permute).
//!
//! Tolerances are those of `tensor/tests/reference.rs` (both take them from
//! `tests/reference/support.rs`): `|got - want| <= atol + rtol * |want|` with
//!
//! * [`EXACT`] for outputs that only move or select elements (maximum/minimum, where_cond,
//!   max/min, max pooling, index_select, gather, cat, stack, pad2d, im2col) and for the
//!   gradients of cat and stack (slices of `.grad_out`);
//! * [`ELEMENTWISE`] for element-wise maths and its gradients;
//! * [`REDUCTION`] for reductions, softmax, average pooling, index_add and scatter_add, and
//!   for the gradients of reductions, softmax, pooling, index/scatter ops and pad2d, and
//!   every gradient that adds several output gradients into one element (a broadcast
//!   operand's, a conv bias's, im2col's);
//! * [`GEMM`] for matmul and convolution and their gradients.
#[path = "../../tests/reference/support.rs"]
mod support;

use autograd::{Result, Tape, Var, VarId};
use safetensors::{Dtype, SafeTensors};
use std::cell::RefCell;
use support::{golden_path, load, same_shape, unravel, worst_error, Case, Checks, Tol, Worst};
use support::{ELEMENTWISE, EXACT, GEMM, REDUCTION};
use tensor::{DType, Tensor};

/// The golden files, one per op family.
const FAMILIES: [&str; 8] = [
    "elementwise",
    "reduce",
    "softmax",
    "matmul",
    "conv",
    "pool",
    "index",
    "cat_pad",
];

// ------------------------------------------------------------------------------ comparison

/// Compares two f32 tensors of the same shape within tolerance. On success returns the worst
/// error as a fraction of the allowed error (0 when exact); on failure, a report naming the
/// number of bad elements, the worst one, its index and both values.
fn compare(name: &str, got: &Tensor, want: &Tensor, tol: Tol) -> std::result::Result<f64, String> {
    let (rtol, atol) = (tol.rtol, tol.atol);
    same_shape(name, got, want)?;
    if got.dtype() != DType::F32 || want.dtype() != DType::F32 {
        return Err(format!(
            "{name}: dtype {}, expected {} (f32)",
            got.dtype(),
            want.dtype()
        ));
    }
    let (g, w) = (got.to_vec::<f32>().unwrap(), want.to_vec::<f32>().unwrap());
    let Worst { ratio, index, bad } = worst_error(&g, &w, rtol, atol);
    if bad == 0 {
        return Ok(ratio);
    }
    let i = index.unwrap();
    Err(format!(
        "{name}: {bad} of {} elements outside {} tolerance (rtol {rtol:e}, atol {atol:e}); worst at {:?}: \
         got {:e}, expected {:e} (|diff| {:.3e}, {:.3} x the allowed error)",
        w.len(),
        tol.class,
        unravel(i, want.shape()),
        g[i],
        w[i],
        (g[i] as f64 - w[i] as f64).abs(),
        ratio
    ))
}

// ------------------------------------------------------------------------------ golden files

/// Applies a `/`-separated chain of views to a var, as var ops.
fn apply_view(v: Var, spec: &str) -> Result<Var> {
    let mut v = v;
    for view in spec.split('/') {
        let (kind, args) = view
            .split_once(':')
            .unwrap_or_else(|| panic!("bad view {view:?}"));
        let n: Vec<usize> = args.split(',').map(|a| a.parse().unwrap()).collect();
        v = match kind {
            "permute" => v.permute(&n)?,
            "transpose" => v.transpose(n[0], n[1])?,
            "narrow" => v.narrow(n[0], n[1], n[2])?,
            "expand" => v.expand(&n)?,
            _ => panic!("unknown view {view:?}"),
        };
    }
    Ok(v)
}

impl Case<'_> {
    /// The roles of this case's tensors (`x`, `out`, `grad_x`, ...) and their dtypes.
    fn roles(&self) -> Vec<(String, Dtype)> {
        let prefix = format!("{}.", self.name);
        let mut roles: Vec<(String, Dtype)> = self
            .golden
            .st
            .iter()
            .filter_map(|(key, view)| Some((key.strip_prefix(&prefix)?.to_string(), view.dtype())))
            .collect();
        roles.sort_by(|a, b| a.0.cmp(&b.0));
        roles
    }

    /// The inputs whose gradient the golden stores.
    fn grad_roles(&self) -> Vec<String> {
        self.roles()
            .into_iter()
            .filter_map(|(r, _)| r.strip_prefix("grad_").map(str::to_string))
            .filter(|r| r != "out")
            .collect()
    }

    /// The stored float inputs: every f32 tensor but the output and the gradients.
    fn float_inputs(&self) -> Vec<String> {
        self.roles()
            .into_iter()
            .filter(|(r, d)| *d == Dtype::F32 && r != "out" && !r.starts_with("grad_"))
            .map(|(r, _)| r)
            .collect()
    }
}

// ------------------------------------------------------------------------------ one case

/// The leaves of one case, on the case's own fresh tape.
struct Leaves<'c> {
    case: &'c Case<'c>,
    tape: Tape,
    made: RefCell<Vec<(String, VarId)>>,
}

impl<'c> Leaves<'c> {
    fn new(case: &'c Case<'c>) -> Self {
        Leaves {
            case,
            tape: Tape::new(),
            made: RefCell::new(Vec::new()),
        }
    }

    /// The stored input `role` as a leaf with its own id, and the case's view of it (if any)
    /// applied as var ops: the op's input.
    fn var(&self, role: &str) -> Result<Var> {
        let mut made = self.made.borrow_mut();
        assert!(
            made.iter().all(|(r, _)| r != role),
            "{}: leaf {role} made twice",
            self.case.name
        );
        let id = VarId::new();
        made.push((role.to_string(), id));
        let leaf = self.tape.leaf(self.case.stored(role), id);
        match self.case.views.get(role) {
            Some(spec) => apply_view(leaf, spec),
            None => Ok(leaf),
        }
    }
}

/// What a family's op returns for one case: the output var, the tolerance of the output and
/// that of the gradients (with per-input exceptions).
struct Forward {
    out: Var,
    out_tol: Tol,
    grad_tol: Tol,
    grad_tol_of: Vec<(String, Tol)>,
}

impl Forward {
    fn new(out: Var, out_tol: Tol, grad_tol: Tol) -> Self {
        Forward {
            out,
            out_tol,
            grad_tol,
            grad_tol_of: Vec::new(),
        }
    }

    /// The gradient of `role` is checked with `tol`.
    fn with(mut self, role: &str, tol: Tol) -> Self {
        self.grad_tol_of.push((role.to_string(), tol));
        self
    }

    /// The gradients of the inputs that were broadcast (stored with fewer elements than the
    /// output) sum several output gradients each: [`REDUCTION`].
    fn summed_where_broadcast(mut self, c: &Case, roles: &[&str]) -> Self {
        let n = self.out.tensor().elem_count();
        for role in roles {
            if c.stored(role).elem_count() < n {
                self = self.with(role, REDUCTION);
            }
        }
        self
    }

    fn tol(&self, role: &str) -> Tol {
        self.grad_tol_of
            .iter()
            .find(|(r, _)| r == role)
            .map_or(self.grad_tol, |&(_, t)| t)
    }
}

impl Checks {
    fn close(&mut self, case: &Case, what: &str, got: &Tensor, want: &Tensor, tol: Tol) {
        let label = format!("{}.{what}", case.name);
        let outcome = compare(&label, got, want, tol);
        self.record(case, label, tol, outcome);
    }

    /// Checks the output of `f`, runs backward from `.grad_out` and checks every leaf's
    /// gradient.
    fn case(&mut self, c: &Case, leaves: &Leaves, f: Forward) -> Result<()> {
        let made = leaves.made.borrow().clone();
        for role in c.float_inputs() {
            if !made.iter().any(|(r, _)| *r == role) {
                self.fail(
                    c,
                    format!(
                        "{}.{role}: a stored float input the test did not make a leaf",
                        c.name
                    ),
                );
            }
        }
        self.close(c, "out", f.out.tensor(), &c.stored("out"), f.out_tol);
        let grads = f.out.backward_with(&c.stored("grad_out"))?;
        for (role, id) in &made {
            let key = format!("grad_{role}");
            match (grads.get(*id), c.has(&key)) {
                (Some(got), true) => self.close(c, &key, got, &c.stored(&key), f.tol(role)),
                (None, true) => self.fail(
                    c,
                    format!("{}.{key}: backward gave {role} no gradient", c.name),
                ),
                (Some(got), false) => self.fail(
                    c,
                    format!(
                        "{}.{role}: backward gave it a gradient {:?}, PyTorch none",
                        c.name,
                        got.shape()
                    ),
                ),
                // No gradient, as in PyTorch (the mask of where_cond).
                (None, false) => self.passed += 1,
            }
        }
        Ok(())
    }
}

/// Runs every case of `file` that stores gradients through `forward`, which builds the op on
/// the case's leaves, or returns `None` for an op it does not know (a failure).
fn run_family(
    file: &'static str,
    mut forward: impl FnMut(&Case, &Leaves) -> Result<Option<Forward>>,
) {
    let golden = load(file);
    let mut checks = Checks::default();
    let cases = golden.cases();
    let (mut with_grads, mut without) = (0, 0);
    for case in &cases {
        if case.grad_roles().is_empty() {
            without += 1;
            continue;
        }
        with_grads += 1;
        assert!(
            case.has("out") && case.has("grad_out"),
            "{file}: case {} has gradients but no out or grad_out",
            case.name
        );
        let leaves = Leaves::new(case);
        let result = match forward(case, &leaves) {
            Ok(Some(f)) => checks.case(case, &leaves, f),
            Ok(None) => {
                checks.failures.push(format!(
                    "{}: op {:?} has gradients in the goldens but is not known to this test",
                    case.name, case.op
                ));
                Ok(())
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            checks.fail(case, format!("{}: error: {e}", case.name));
        }
    }
    assert!(with_grads > 0, "{file}: no case stores gradients");
    let summary = format!(
        "{file}: {with_grads} cases with gradients ({without} without, not run here), {} checks passed",
        checks.passed
    );
    checks.finish(file, summary);
}

// ------------------------------------------------------------------------------ constants

/// A constant f32 tensor of `shape` that is 1 at the flat positions `ones`, 0 elsewhere.
fn one_hot(shape: &[usize], ones: impl IntoIterator<Item = usize>) -> Tensor {
    let mut v = vec![0f32; shape.iter().product()];
    for i in ones {
        v[i] = 1.0;
    }
    Tensor::from_vec(v, shape).unwrap()
}

/// The index tensor's values as positions (`usize`).
fn positions(idx: &Tensor) -> Vec<usize> {
    idx.to_vec::<i64>()
        .unwrap()
        .into_iter()
        .map(|i| usize::try_from(i).expect("a non-negative index"))
        .collect()
}

// ------------------------------------------------------------------------------ families

#[test]
fn elementwise() {
    run_family("elementwise", |c, l| {
        let f = match c.op.as_str() {
            "add" | "sub" | "mul" | "div" | "pow" | "maximum" | "minimum" => {
                let (a, b) = (l.var("a")?, l.var("b")?);
                let (out, out_tol) = match c.op.as_str() {
                    "add" => (a.add(&b)?, ELEMENTWISE),
                    "sub" => (a.sub(&b)?, ELEMENTWISE),
                    "mul" => (a.mul(&b)?, ELEMENTWISE),
                    "div" => (a.div(&b)?, ELEMENTWISE),
                    "pow" => (a.pow(&b)?, ELEMENTWISE),
                    "maximum" => (a.maximum(&b)?, EXACT),
                    _ => (a.minimum(&b)?, EXACT),
                };
                Forward::new(out, out_tol, ELEMENTWISE).summed_where_broadcast(c, &["a", "b"])
            }
            "where_cond" => {
                let (cond, t, f) = (l.var("cond")?, l.var("t")?, l.var("f")?);
                Forward::new(cond.where_cond(&t, &f)?, EXACT, ELEMENTWISE)
                    .summed_where_broadcast(c, &["t", "f"])
            }
            op => {
                let x = l.var("x")?;
                let out = match op {
                    "exp" => x.exp()?,
                    "log" => x.log()?,
                    "sigmoid" => x.sigmoid()?,
                    "tanh" => x.tanh()?,
                    "relu" => x.relu()?,
                    "sqrt" => x.sqrt()?,
                    "neg" => x.neg()?,
                    "abs" => x.abs()?,
                    "sqr" => x.sqr()?,
                    "recip" => x.recip()?,
                    "powf" => x.powf(c.f32("e"))?,
                    "affine" => x.affine(c.f32("mul"), c.f32("add"))?,
                    "clamp" => x.clamp(c.f32("min"), c.f32("max"))?,
                    _ => return Ok(None),
                };
                Forward::new(out, ELEMENTWISE, ELEMENTWISE)
            }
        };
        Ok(Some(f))
    });
}

#[test]
fn reduce() {
    run_family("reduce", |c, l| {
        let x = l.var("x")?;
        let (out, out_tol) = match c.op.as_str() {
            "sum_all" => (x.sum_all()?, REDUCTION),
            "mean_all" => (x.mean_all()?, REDUCTION),
            op => {
                let (dims, keep) = (c.usizes("dims"), c.flag("keepdim"));
                match op {
                    "sum" => (x.sum(&dims, keep)?, REDUCTION),
                    "mean" => (x.mean(&dims, keep)?, REDUCTION),
                    "var" => (x.var(&dims, keep, c.flag("unbiased"))?, REDUCTION),
                    "max" => (x.max(&dims, keep)?, EXACT),
                    "min" => (x.min(&dims, keep)?, EXACT),
                    _ => return Ok(None),
                }
            }
        };
        Ok(Some(Forward::new(out, out_tol, REDUCTION)))
    });
}

#[test]
fn softmax() {
    run_family("softmax", |c, l| {
        let (x, dim) = (l.var("x")?, c.usize("dim"));
        let out = match c.op.as_str() {
            "softmax" => x.softmax(dim)?,
            "log_softmax" => x.log_softmax(dim)?,
            _ => return Ok(None),
        };
        Ok(Some(Forward::new(out, REDUCTION, REDUCTION)))
    });
}

#[test]
fn matmul() {
    run_family("matmul", |c, l| {
        if c.op != "matmul" {
            return Ok(None);
        }
        let out = l.var("a")?.matmul(&l.var("b")?)?;
        Ok(Some(Forward::new(out, GEMM, GEMM)))
    });
}

#[test]
fn conv() {
    run_family("conv", |c, l| {
        let p = c.conv_params();
        let f = match c.op.as_str() {
            "conv2d" => {
                let (x, w) = (l.var("x")?, l.var("w")?);
                let b = if c.has("b") { Some(l.var("b")?) } else { None };
                assert_eq!(c.pair("kernel"), [w.shape()[2], w.shape()[3]], "{}", c.name);
                Forward::new(x.conv2d(&w, b.as_ref(), p)?, GEMM, GEMM).with("b", REDUCTION)
            }
            "im2col" => {
                // im2col is conv2d with the one-hot kernel that copies input channel ch at
                // kernel offset (i, j) into output channel (ch * kh + i) * kw + j, the row
                // order of im2col (and of F.unfold); its gradient is col2im.
                let x = l.var("x")?;
                let [kh, kw] = c.pair("kernel");
                let ch = x.shape()[1];
                let rows = ch * kh * kw;
                // Flat position of (row, ch, i, j) in [rows, ch, kh, kw], with row as above.
                let ones = (0..rows)
                    .map(|row| row * ch * kh * kw + (row / (kh * kw)) * kh * kw + row % (kh * kw));
                let w = Var::constant(one_hot(&[rows, ch, kh, kw], ones));
                let y = x.conv2d(&w, None, p)?;
                let (n, oh, ow) = (y.shape()[0], y.shape()[2], y.shape()[3]);
                Forward::new(y.reshape(&[n, rows, oh * ow])?, EXACT, REDUCTION)
            }
            _ => return Ok(None),
        };
        Ok(Some(f))
    });
}

#[test]
fn pool() {
    run_family("pool", |c, l| {
        let x = l.var("x")?;
        let f = match c.op.as_str() {
            "max_pool2d" => Forward::new(
                x.max_pool2d(c.pair("kernel"), c.conv_params())?,
                EXACT,
                REDUCTION,
            ),
            "adaptive_max_pool2d" => {
                Forward::new(x.adaptive_max_pool2d(c.pair("size"))?, EXACT, REDUCTION)
            }
            "avg_pool2d" => Forward::new(
                x.avg_pool2d(c.pair("kernel"), c.conv_params())?,
                REDUCTION,
                REDUCTION,
            ),
            "adaptive_avg_pool2d" => {
                Forward::new(x.adaptive_avg_pool2d(c.pair("size"))?, REDUCTION, REDUCTION)
            }
            _ => return Ok(None),
        };
        Ok(Some(f))
    });
}

#[test]
fn index() {
    run_family("index", |c, l| {
        let (idx, dim) = (c.stored("idx"), c.usize("dim"));
        let f = match c.op.as_str() {
            "index_select" => Forward::new(l.var("x")?.index_select(dim, &idx)?, EXACT, REDUCTION),
            "gather" => Forward::new(l.var("x")?.gather(dim, &idx)?, EXACT, REDUCTION),
            "index_add" => {
                // x + src with its slice j along dim added into slice idx[j]: src with dim
                // moved last, times the [k, n] one-hot matrix P[j, idx[j]] = 1, moved back.
                let (x, src) = (l.var("x")?, l.var("src")?);
                let (n, last) = (x.shape()[dim], x.rank() - 1);
                let to = positions(&idx);
                let p = one_hot(
                    &[to.len(), n],
                    to.iter().enumerate().map(|(j, &t)| j * n + t),
                );
                let moved = src.transpose(dim, last)?.matmul(&Var::constant(p))?;
                Forward::new(x.add(&moved.transpose(dim, last)?)?, REDUCTION, REDUCTION)
            }
            "scatter_add" => {
                // x + src with each element added at index idx along dim: src (unsqueezed
                // last) times the one-hot encoding of idx along a new last axis of size n,
                // summed over dim, that last axis moved back to dim.
                let (x, src) = (l.var("x")?, l.var("src")?);
                let (n, r) = (x.shape()[dim], x.rank());
                let mut others = x.shape().to_vec();
                others.remove(dim);
                let mut src_others = src.shape().to_vec();
                src_others.remove(dim);
                assert_eq!(others, src_others, "{}: x and src differ off dim", c.name);
                assert_eq!(idx.shape(), src.shape(), "{}: idx and src differ", c.name);
                let mut shape = idx.shape().to_vec();
                shape.push(n);
                let codes = one_hot(
                    &shape,
                    positions(&idx)
                        .into_iter()
                        .enumerate()
                        .map(|(e, t)| e * n + t),
                );
                let spread = src
                    .unsqueeze(r)?
                    .mul(&Var::constant(codes))?
                    .sum(&[dim], false)?;
                let perm: Vec<usize> = (0..r)
                    .map(|d| match d.cmp(&dim) {
                        std::cmp::Ordering::Less => d,
                        std::cmp::Ordering::Equal => r - 1,
                        std::cmp::Ordering::Greater => d - 1,
                    })
                    .collect();
                Forward::new(x.add(&spread.permute(&perm)?)?, REDUCTION, REDUCTION)
            }
            _ => return Ok(None),
        };
        Ok(Some(f))
    });
}

#[test]
fn cat_pad() {
    run_family("cat_pad", |c, l| {
        let f = match c.op.as_str() {
            "cat" | "stack" => {
                let (n, dim) = (c.usize("n"), c.usize("dim"));
                let xs = (0..n)
                    .map(|i| l.var(&format!("x{i}")))
                    .collect::<Result<Vec<_>>>()?;
                let refs: Vec<&Var> = xs.iter().collect();
                let out = if c.op == "cat" {
                    Var::cat(&refs, dim)?
                } else {
                    Var::stack(&refs, dim)?
                };
                // The gradients are slices of grad_out: exact.
                Forward::new(out, EXACT, EXACT)
            }
            "pad2d" => {
                let p = c.usizes("pads");
                let out = l.var("x")?.pad2d([p[0], p[1], p[2], p[3]], c.pad_mode())?;
                Forward::new(out, EXACT, REDUCTION)
            }
            _ => return Ok(None),
        };
        Ok(Some(f))
    });
}

/// Golden files with gradients that belong to other tests: `nn` (layers and optimisers,
/// `nn/tests/reference.rs`, written by `make_nn_goldens.py`).
const CHECKED_ELSEWHERE: &[&str] = &["nn"];

/// Every golden file that stores gradients (`<case>.grad_<input>`) is one of [`FAMILIES`]
/// (or checked elsewhere), so a new file cannot be left out of this test.
#[test]
fn every_golden_file_with_gradients_is_checked() {
    let dir = format!("{}/../tests/reference/goldens", env!("CARGO_MANIFEST_DIR"));
    let mut unchecked = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        let path = entry.unwrap().path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".safetensors"))
        else {
            continue;
        };
        let bytes = std::fs::read(&path).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap_or_else(|e| panic!("{stem}: {e:?}"));
        let has_grads = st.names().iter().any(|n| n.contains(".grad_"));
        if has_grads && !FAMILIES.contains(&stem) && !CHECKED_ELSEWHERE.contains(&stem) {
            unchecked.push(stem.to_string());
        }
    }
    for family in FAMILIES {
        assert!(
            std::path::Path::new(&golden_path(family)).exists(),
            "{family}: no golden file"
        );
    }
    assert!(
        unchecked.is_empty(),
        "golden files with gradients that this test does not run: {unchecked:?}"
    );
}
