//! Parameter-free layers: `ReLU`, `SigmoidRange` (fastai's `y_range`: the output squeezed
//! into `(lo, hi)` by `(hi - lo) * sigmoid(x) + lo`), and `Flatten`.
use crate::module::{Entry, Mode, Module};
use autograd::{Result, Var};

pub struct ReLU;

impl Module for ReLU {
    fn forward(&self, x: &Var, _mode: Mode) -> Result<Var> {
        x.relu()
    }
    fn visit<'a>(&'a self, _prefix: &str, _f: &mut dyn FnMut(&str, Entry<'a>)) {}
    fn describe(&self) -> String {
        "ReLU".into()
    }
}

pub struct SigmoidRange {
    pub lo: f32,
    pub hi: f32,
}

impl Module for SigmoidRange {
    fn forward(&self, x: &Var, _mode: Mode) -> Result<Var> {
        x.sigmoid()?.affine(self.hi - self.lo, self.lo)
    }
    fn visit<'a>(&'a self, _prefix: &str, _f: &mut dyn FnMut(&str, Entry<'a>)) {}
    fn describe(&self) -> String {
        format!("SigmoidRange({}, {})", self.lo, self.hi)
    }
}

/// Flattens every axis after the first: `[N, ...] -> [N, prod(...)]`.
pub struct Flatten;

impl Module for Flatten {
    fn forward(&self, x: &Var, _mode: Mode) -> Result<Var> {
        x.flatten_from(1)
    }
    fn visit<'a>(&'a self, _prefix: &str, _f: &mut dyn FnMut(&str, Entry<'a>)) {}
    fn describe(&self) -> String {
        "Flatten".into()
    }
}
