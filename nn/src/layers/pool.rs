//! Pooling layers: `MaxPool2d`, `AdaptiveAvgPool2d`, and fastai's `AdaptiveConcatPool2d`,
//! which concatenates adaptive max and average pooling along the channels (max first), so a
//! CNN head sees both the strongest and the typical response of each feature map.
use crate::module::{Mode, Module};
use autograd::{Result, Var};
use std::fmt;
use tensor::Conv2dParams;

pub struct MaxPool2d {
    pub kernel: usize,
    pub params: Conv2dParams,
}

impl Module<Var> for MaxPool2d {
    type Output = Var;
    fn forward(&self, x: Var, _mode: Mode) -> Result<Var> {
        x.max_pool2d([self.kernel; 2], self.params)
    }
}

impl fmt::Display for MaxPool2d {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MaxPool2d(kernel_size={}, stride={:?}, padding={:?})",
            self.kernel, self.params.stride, self.params.padding
        )
    }
}

pub struct AdaptiveAvgPool2d {
    pub out: [usize; 2],
}

impl Module<Var> for AdaptiveAvgPool2d {
    type Output = Var;
    fn forward(&self, x: Var, _mode: Mode) -> Result<Var> {
        x.adaptive_avg_pool2d(self.out)
    }
}

impl fmt::Display for AdaptiveAvgPool2d {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AdaptiveAvgPool2d(output_size={:?})", self.out)
    }
}

pub struct AdaptiveConcatPool2d {
    pub out: [usize; 2],
}

impl Module<Var> for AdaptiveConcatPool2d {
    type Output = Var;
    fn forward(&self, x: Var, _mode: Mode) -> Result<Var> {
        let max = x.adaptive_max_pool2d(self.out)?;
        let avg = x.adaptive_avg_pool2d(self.out)?;
        Var::cat(&[&max, &avg], 1)
    }
}

impl fmt::Display for AdaptiveConcatPool2d {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AdaptiveConcatPool2d(output_size={:?})", self.out)
    }
}
