//! Parameter-free layers: `ReLU`, `SigmoidRange` (fastai's `y_range`: the output squeezed
//! into `(lo, hi)` by `(hi - lo) * sigmoid(x) + lo`), and `Flatten`.
use crate::module::{Mode, Module};
use autograd::{Result, Var};
use std::fmt;

pub struct ReLU;

impl Module<Var> for ReLU {
    type Output = Var;
    fn forward(&self, x: Var, _mode: Mode) -> Result<Var> {
        x.relu()
    }
}

impl fmt::Display for ReLU {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReLU")
    }
}

pub struct SigmoidRange {
    pub lo: f32,
    pub hi: f32,
}

impl Module<Var> for SigmoidRange {
    type Output = Var;
    fn forward(&self, x: Var, _mode: Mode) -> Result<Var> {
        x.sigmoid()?.affine(self.hi - self.lo, self.lo)
    }
}

impl fmt::Display for SigmoidRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigmoidRange({}, {})", self.lo, self.hi)
    }
}

/// Flattens every axis after the first: `[N, ...] -> [N, prod(...)]`.
pub struct Flatten;

impl Module<Var> for Flatten {
    type Output = Var;
    fn forward(&self, x: Var, _mode: Mode) -> Result<Var> {
        x.flatten_from(1)
    }
}

impl fmt::Display for Flatten {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Flatten")
    }
}
