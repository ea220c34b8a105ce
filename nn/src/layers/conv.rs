//! `Conv2d`: weight `[out, in, kh, kw]`, optional bias `[out]`, stride and zero padding.
use crate::module::{Mode, Module, Param};
use crate::vars::Path;
use autograd::{Result, Var};
use std::fmt;
use std::rc::Rc;
use tensor::Conv2dParams;

pub struct Conv2d {
    pub weight: Rc<Param>,
    pub bias: Option<Rc<Param>>,
    pub params: Conv2dParams,
}

impl Conv2d {
    /// A square `kernel`, PyTorch's initialisation (U(±1/sqrt(in * k * k))), named
    /// `p.weight`, `p.bias`.
    pub fn new(
        p: Path,
        inputs: usize,
        outputs: usize,
        kernel: usize,
        params: Conv2dParams,
        bias: bool,
    ) -> crate::Result<Self> {
        let fan_in = inputs * kernel * kernel;
        let init = p.init();
        let shape = [outputs, inputs, kernel, kernel];
        let weight = p.param("weight", init.fan_in_uniform(&shape, fan_in)?)?;
        let bias = if bias {
            Some(p.param("bias", init.fan_in_uniform(&[outputs], fan_in)?)?)
        } else {
            None
        };
        Ok(Conv2d {
            weight,
            bias,
            params,
        })
    }
}

impl Module<Var> for Conv2d {
    type Output = Var;
    fn forward(&self, x: Var, _mode: Mode) -> Result<Var> {
        let b = self.bias.as_ref().map(|b| b.var_for(&x));
        x.conv2d(&self.weight.var_for(&x), b.as_ref(), self.params)
    }
}

impl fmt::Display for Conv2d {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.weight.value().shape().to_vec();
        write!(
            f,
            "Conv2d({}, {}, kernel_size=({}, {}), stride={:?}, padding={:?}, bias={})",
            s[1],
            s[0],
            s[2],
            s[3],
            self.params.stride,
            self.params.padding,
            self.bias.is_some()
        )
    }
}
