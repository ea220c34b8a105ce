//! Pooling layers: `MaxPool2d`, `AdaptiveAvgPool2d`, and fastai's `AdaptiveConcatPool2d`,
//! which concatenates adaptive max and average pooling along the channels (max first), so a
//! CNN head sees both the strongest and the typical response of each feature map.
use crate::module::{Entry, Mode, Module};
use autograd::{Result, Var};
use tensor::Conv2dParams;

pub struct MaxPool2d {
    pub kernel: usize,
    pub params: Conv2dParams,
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Var, _mode: Mode) -> Result<Var> {
        x.max_pool2d([self.kernel; 2], self.params)
    }
    fn visit<'a>(&'a self, _prefix: &str, _f: &mut dyn FnMut(&str, Entry<'a>)) {}
    fn describe(&self) -> String {
        format!(
            "MaxPool2d(kernel_size={}, stride={:?}, padding={:?})",
            self.kernel, self.params.stride, self.params.padding
        )
    }
}

pub struct AdaptiveAvgPool2d {
    pub out: [usize; 2],
}

impl Module for AdaptiveAvgPool2d {
    fn forward(&self, x: &Var, _mode: Mode) -> Result<Var> {
        x.adaptive_avg_pool2d(self.out)
    }
    fn visit<'a>(&'a self, _prefix: &str, _f: &mut dyn FnMut(&str, Entry<'a>)) {}
    fn describe(&self) -> String {
        format!("AdaptiveAvgPool2d(output_size={:?})", self.out)
    }
}

pub struct AdaptiveConcatPool2d {
    pub out: [usize; 2],
}

impl Module for AdaptiveConcatPool2d {
    fn forward(&self, x: &Var, _mode: Mode) -> Result<Var> {
        let max = x.adaptive_max_pool2d(self.out)?;
        let avg = x.adaptive_avg_pool2d(self.out)?;
        Var::cat(&[&max, &avg], 1)
    }
    fn visit<'a>(&'a self, _prefix: &str, _f: &mut dyn FnMut(&str, Entry<'a>)) {}
    fn describe(&self) -> String {
        format!("AdaptiveConcatPool2d(output_size={:?})", self.out)
    }
}
