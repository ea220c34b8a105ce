//! What the golden tests share: reading the PyTorch golden files of `goldens/` (written by the
//! `make_*goldens.py` scripts next to this file), parsing their per-case specs, the tolerance
//! classes and the element-by-element comparison.
//!
//! Included by `tensor/tests/reference.rs`, `autograd/tests/reference.rs`,
//! `autograd/tests/composite.rs` and `nn/tests/reference.rs` as
//! `#[path = "../../tests/reference/support.rs"] mod support;`. Each test keeps its own checks,
//! failure reports and `run_family`; what is here is the same for all of them.

// Compiled into several test crates, each of which uses only part of it.
#![allow(dead_code)]

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use tensor::{Conv2dParams, PadMode, Tensor};

// ------------------------------------------------------------------------------ tolerances

/// Tolerance `|got - want| <= atol + rtol * |want|`, with the name of its class for reports.
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    pub class: &'static str,
    pub rtol: f32,
    pub atol: f32,
}

/// Ops that only move or select elements: bit-equal.
pub const EXACT: Tol = Tol {
    class: "exact",
    rtol: 0.0,
    atol: 0.0,
};
/// Element-wise maths.
pub const ELEMENTWISE: Tol = Tol {
    class: "element-wise",
    rtol: 1e-5,
    atol: 1e-6,
};
/// Reductions, softmax, average pooling and gradients that add several terms into one element.
pub const REDUCTION: Tol = Tol {
    class: "reduction",
    rtol: 1e-4,
    atol: 1e-6,
};
/// Matmul and convolution: f32 dot products need an absolute floor where they cancel to ~0.
pub const GEMM: Tol = Tol {
    class: "gemm",
    rtol: 1e-4,
    atol: 1e-5,
};

// ------------------------------------------------------------------------------ comparison

/// Row-major multi-index of flat position `i` in `shape`.
pub fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (d, &n) in shape.iter().enumerate().rev() {
        idx[d] = i % n.max(1);
        i /= n.max(1);
    }
    idx
}

/// `Err("<name>: shape <got>, expected <want>")` unless the two shapes are equal.
pub fn same_shape(name: &str, got: &Tensor, want: &Tensor) -> std::result::Result<(), String> {
    if got.shape() != want.shape() {
        return Err(format!(
            "{name}: shape {:?}, expected {:?}",
            got.shape(),
            want.shape()
        ));
    }
    Ok(())
}

/// The outcome of comparing two f32 buffers element by element within
/// `atol + rtol * |want|` (see [`worst_error`]).
pub struct Worst {
    /// The largest error as a fraction of the allowed error (0 when bit-equal; infinite for a
    /// NaN or infinite error, or any error where none is allowed).
    pub ratio: f64,
    /// Where that largest error is (`None` when every element is bit-equal).
    pub index: Option<usize>,
    /// How many elements are outside the tolerance.
    pub bad: usize,
}

/// Compares `got` with `want` element by element, in f64: an element is within tolerance when
/// `|got - want| <= atol + rtol * |want|`; NaN matches NaN.
pub fn worst_error(got: &[f32], want: &[f32], rtol: f32, atol: f32) -> Worst {
    let (mut index, mut worst_ratio, mut bad) = (None, 0f64, 0usize);
    for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
        let (a, b) = (a as f64, b as f64);
        let allowed = atol as f64 + rtol as f64 * b.abs();
        let err = (a - b).abs();
        let ratio = if a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()) {
            0.0
        } else if err.is_nan() || err.is_infinite() {
            f64::INFINITY
        } else if allowed == 0.0 {
            if err == 0.0 {
                0.0
            } else {
                f64::INFINITY
            }
        } else {
            err / allowed
        };
        if ratio > 1.0 {
            bad += 1;
        }
        if ratio > worst_ratio {
            worst_ratio = ratio;
            index = Some(i);
        }
    }
    Worst {
        ratio: worst_ratio,
        index,
        bad,
    }
}

/// Panics unless `got` has `want`'s shape and every element satisfies
/// `|got - want| <= atol + rtol * |want|` (in f64), naming the first element that does not:
/// `<what>[<flat index>]: <got> vs PyTorch <want>`.
pub fn assert_each_close(what: &str, got: &Tensor, want: &Tensor, rtol: f64, atol: f64) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let (g, w) = (got.to_vec::<f32>().unwrap(), want.to_vec::<f32>().unwrap());
    for (i, (&a, &b)) in g.iter().zip(&w).enumerate() {
        let (a, b) = (a as f64, b as f64);
        assert!(
            (a - b).abs() <= atol + rtol * b.abs(),
            "{what}[{i}]: {a} vs PyTorch {b}"
        );
    }
}

// ------------------------------------------------------------------------------ golden files

/// The path of golden file `file` (`tests/reference/goldens/<file>.safetensors`).
pub fn golden_path(file: &str) -> String {
    format!(
        "{}/../tests/reference/goldens/{file}.safetensors",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A stored tensor as a [`Tensor`]: f32 or i64 (little-endian), the only dtypes the scripts
/// write; `key` names it in the panic for any other.
pub fn decode(key: &str, view: &TensorView<'_>) -> Tensor {
    let shape = view.shape().to_vec();
    let data = view.data();
    match view.dtype() {
        Dtype::F32 => {
            let v: Vec<f32> = data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            Tensor::from_vec(v, &shape).unwrap()
        }
        Dtype::I64 => {
            let v: Vec<i64> = data
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                .collect();
            Tensor::from_vec(v, &shape).unwrap()
        }
        d => panic!("{key}: unexpected dtype {d:?}"),
    }
}

/// Every tensor of golden file `file`, by its name in the file (the files of
/// `make_autograd_goldens.py` and `make_nn_goldens.py`, which have no case specs).
pub fn load_tensors(file: &str) -> HashMap<String, Tensor> {
    let path = golden_path(file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{file} goldens: {e:?}"));
    let st = SafeTensors::deserialize(&bytes).unwrap_or_else(|e| panic!("{path}: {e:?}"));
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            let t = decode(&name, &view);
            (name, t)
        })
        .collect()
}

/// One golden file of `make_goldens.py`: its tensors and its case specs.
pub struct Golden {
    pub file: &'static str,
    pub st: SafeTensors<'static>,
    /// The `__metadata__` entries: case name -> spec.
    pub meta: BTreeMap<String, String>,
}

/// Reads golden file `file` (one op family of `make_goldens.py`).
pub fn load(file: &'static str) -> Golden {
    let path = golden_path(file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!("cannot read {path}: {e} (run tests/reference/make_goldens.py)")
    });
    // Leaked: a few hundred kB per test process, so that views can borrow it for 'static.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    let (_, metadata) =
        SafeTensors::read_metadata(bytes).unwrap_or_else(|e| panic!("{path}: {e:?}"));
    let meta = metadata
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let st = SafeTensors::deserialize(bytes).unwrap_or_else(|e| panic!("{path}: {e:?}"));
    Golden { file, st, meta }
}

/// One case of a golden file: `op`, its parameters and the views to apply to its inputs, from
/// its spec `op=<op> <key>=<value> ... view.<input>=<view>/<view>... | <description>`.
pub struct Case<'g> {
    pub golden: &'g Golden,
    pub name: String,
    pub op: String,
    pub params: BTreeMap<String, String>,
    /// Input role -> `/`-separated chain of `permute:..`, `transpose:..`, `narrow:..`,
    /// `expand:..` views.
    pub views: BTreeMap<String, String>,
    /// The description after ` | `.
    pub doc: String,
}

impl Golden {
    /// Every case of the file, in name order (entries starting with `__` are not cases).
    pub fn cases(&self) -> Vec<Case<'_>> {
        let mut cases = Vec::new();
        for (name, spec) in &self.meta {
            if name.starts_with("__") {
                continue;
            }
            let (tokens, doc) = spec.split_once(" | ").unwrap_or((spec, ""));
            let (mut op, mut params, mut views) = (String::new(), BTreeMap::new(), BTreeMap::new());
            for token in tokens.split_whitespace() {
                let (k, v) = token
                    .split_once('=')
                    .unwrap_or_else(|| panic!("{name}: bad token {token:?}"));
                if k == "op" {
                    op = v.to_string();
                } else if let Some(role) = k.strip_prefix("view.") {
                    views.insert(role.to_string(), v.to_string());
                } else {
                    params.insert(k.to_string(), v.to_string());
                }
            }
            cases.push(Case {
                golden: self,
                name: name.clone(),
                op,
                params,
                views,
                doc: doc.to_string(),
            });
        }
        assert!(!cases.is_empty(), "{}: no cases", self.file);
        cases
    }
}

impl Case<'_> {
    /// Whether the file stores `<case>.<role>`.
    pub fn has(&self, role: &str) -> bool {
        self.golden
            .st
            .tensor(&format!("{}.{role}", self.name))
            .is_ok()
    }

    /// The stored tensor `<case>.<role>`, as it is in the file.
    pub fn stored(&self, role: &str) -> Tensor {
        let key = format!("{}.{role}", self.name);
        let view = self
            .golden
            .st
            .tensor(&key)
            .unwrap_or_else(|e| panic!("{}: no tensor {key}: {e:?}", self.golden.file));
        decode(&key, &view)
    }

    /// The spec's parameter `key`; panics if the spec has none.
    pub fn param(&self, key: &str) -> &str {
        self.params
            .get(key)
            .unwrap_or_else(|| panic!("{}: no parameter {key} in its spec", self.name))
    }
    pub fn usize(&self, key: &str) -> usize {
        self.param(key).parse().unwrap()
    }
    /// A comma-separated list of sizes.
    pub fn usizes(&self, key: &str) -> Vec<usize> {
        self.param(key)
            .split(',')
            .map(|v| v.parse().unwrap())
            .collect()
    }
    /// A comma-separated pair of sizes (a kernel, a stride, ...).
    pub fn pair(&self, key: &str) -> [usize; 2] {
        let v = self.usizes(key);
        assert_eq!(v.len(), 2, "{}: {key} must have 2 values", self.name);
        [v[0], v[1]]
    }
    pub fn f32(&self, key: &str) -> f32 {
        self.param(key).parse().unwrap()
    }
    /// A `0`/`1` flag.
    pub fn flag(&self, key: &str) -> bool {
        self.usize(key) != 0
    }
    /// The `stride` and `padding` pairs.
    pub fn conv_params(&self) -> Conv2dParams {
        Conv2dParams {
            stride: self.pair("stride"),
            padding: self.pair("padding"),
        }
    }
    /// The `mode` of a pad2d case.
    pub fn pad_mode(&self) -> PadMode {
        match self.param("mode") {
            "zeros" => PadMode::Zeros,
            "reflect" => PadMode::Reflect,
            "replicate" => PadMode::Replicate,
            m => panic!("{}: unknown pad mode {m}", self.name),
        }
    }
}

// ------------------------------------------------------------------------------ checks

/// The results of the checks of one golden file, collected so that one failure does not hide
/// the others.
#[derive(Default)]
pub struct Checks {
    pub passed: usize,
    pub failures: Vec<String>,
    /// Worst error as a fraction of the allowed error, per tolerance class, and the check's
    /// label (empty while every check of the class is bit-equal).
    pub margins: BTreeMap<&'static str, (f64, String)>,
}

impl Checks {
    /// Records a failure of `case`, followed by its op and description.
    pub fn fail(&mut self, case: &Case, report: String) {
        self.failures
            .push(format!("{report}\n    ({}: {})", case.op, case.doc));
    }

    /// Records the outcome of check `label` of `case` with tolerance `tol`: the worst error as
    /// a fraction of the allowed one, or the failure report.
    pub fn record(
        &mut self,
        case: &Case,
        label: String,
        tol: Tol,
        outcome: std::result::Result<f64, String>,
    ) {
        match outcome {
            Ok(ratio) => {
                self.passed += 1;
                let entry = self
                    .margins
                    .entry(tol.class)
                    .or_insert((0.0, String::new()));
                if ratio > entry.0 {
                    *entry = (ratio, label);
                }
            }
            Err(report) => self.fail(case, report),
        }
    }

    /// Prints `summary` followed by the worst error of each tolerance class, then panics
    /// listing every failure if there are any.
    pub fn finish(self, file: &str, mut summary: String) {
        for (class, (ratio, label)) in &self.margins {
            if label.is_empty() {
                let _ = write!(summary, "; every {class} check bit-equal");
                continue;
            }
            let _ = write!(
                summary,
                "; worst {class} error {ratio:.3} x tolerance ({label})"
            );
        }
        println!("{summary}");
        if !self.failures.is_empty() {
            panic!(
                "{} of the checks of {file} failed:\n  {}",
                self.failures.len(),
                self.failures.join("\n  ")
            );
        }
    }
}
