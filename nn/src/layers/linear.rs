//! `Linear`: y = x Wᵀ + b, with W `[out, in]` as PyTorch stores it.
use crate::init::Init;
use crate::module::{join, Entry, Mode, Module, Param};
use autograd::{Result, Var};

pub struct Linear {
    pub weight: Param,
    pub bias: Option<Param>,
}

impl Linear {
    /// PyTorch's initialisation: weight and bias U(±1/sqrt(in)).
    pub fn new(init: &Init, inputs: usize, outputs: usize, bias: bool) -> tensor::Result<Self> {
        let weight = Param::new(init.fan_in_uniform(&[outputs, inputs], inputs)?);
        let bias = if bias {
            Some(Param::new(init.fan_in_uniform(&[outputs], inputs)?))
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }

    fn shape(&self) -> (usize, usize) {
        let w = self.weight.value();
        (w.shape()[1], w.shape()[0])
    }
}

impl Module for Linear {
    fn forward(&self, x: &Var, _mode: Mode) -> Result<Var> {
        let y = x.matmul(&self.weight.var_for(x).t()?)?;
        match &self.bias {
            Some(b) => y.add(&b.var_for(x)),
            None => Ok(y),
        }
    }

    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'a>)) {
        f(&join(prefix, "weight"), Entry::Param(&self.weight));
        if let Some(b) = &self.bias {
            f(&join(prefix, "bias"), Entry::Param(b));
        }
    }

    fn describe(&self) -> String {
        let (i, o) = self.shape();
        format!(
            "Linear(in_features={i}, out_features={o}, bias={})",
            self.bias.is_some()
        )
    }
}
