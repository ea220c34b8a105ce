//! `Linear`: y = x Wᵀ + b, with W `[out, in]` as PyTorch stores it.
use crate::module::{Mode, Module, Param};
use crate::vars::Path;
use autograd::{Result, Var};
use std::fmt;
use std::rc::Rc;

pub struct Linear {
    pub weight: Rc<Param>,
    pub bias: Option<Rc<Param>>,
}

impl Linear {
    /// PyTorch's initialisation: weight and bias U(±1/sqrt(in)), named `p.weight`, `p.bias`.
    pub fn new(p: Path, inputs: usize, outputs: usize, bias: bool) -> crate::Result<Self> {
        let init = p.init();
        let weight = p.param("weight", init.fan_in_uniform(&[outputs, inputs], inputs)?)?;
        let bias = if bias {
            Some(p.param("bias", init.fan_in_uniform(&[outputs], inputs)?)?)
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }
}

impl Module<Var> for Linear {
    type Output = Var;
    fn forward(&self, x: Var, _mode: Mode) -> Result<Var> {
        let y = x.matmul(&self.weight.var_for(&x).t()?)?;
        match &self.bias {
            Some(b) => y.add(&b.var_for(&x)),
            None => Ok(y),
        }
    }
}

impl fmt::Display for Linear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.weight.value();
        let (i, o) = (w.shape()[1], w.shape()[0]);
        let bias = self.bias.is_some();
        write!(f, "Linear(in_features={i}, out_features={o}, bias={bias})")
    }
}
