//! `Conv2d`: weight `[out, in, kh, kw]`, optional bias `[out]`, stride and zero padding.
use crate::init::Init;
use crate::module::{join, Entry, Mode, Module, Param};
use autograd::{Result, Var};
use tensor::Conv2dParams;

pub struct Conv2d {
    pub weight: Param,
    pub bias: Option<Param>,
    pub params: Conv2dParams,
}

impl Conv2d {
    /// A square `kernel`, PyTorch's initialisation (U(±1/sqrt(in * k * k))).
    pub fn new(
        init: &Init,
        inputs: usize,
        outputs: usize,
        kernel: usize,
        params: Conv2dParams,
        bias: bool,
    ) -> tensor::Result<Self> {
        let fan_in = inputs * kernel * kernel;
        let weight = Param::new(init.fan_in_uniform(&[outputs, inputs, kernel, kernel], fan_in)?);
        let bias = if bias {
            Some(Param::new(init.fan_in_uniform(&[outputs], fan_in)?))
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

impl Module for Conv2d {
    fn forward(&self, x: &Var, _mode: Mode) -> Result<Var> {
        let b = self.bias.as_ref().map(|b| b.var_for(x));
        x.conv2d(&self.weight.var_for(x), b.as_ref(), self.params)
    }

    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'a>)) {
        f(&join(prefix, "weight"), Entry::Param(&self.weight));
        if let Some(b) = &self.bias {
            f(&join(prefix, "bias"), Entry::Param(b));
        }
    }

    fn describe(&self) -> String {
        let s = self.weight.value().shape().to_vec();
        format!(
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
