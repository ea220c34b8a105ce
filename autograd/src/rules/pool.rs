//! Backward rules of pooling. Max pooling keeps only the (i64) index of each window's max,
//! not its input: the gradient goes back to those positions. Average pooling keeps nothing
//! but shapes: the gradient is spread evenly over each window.
use crate::var::{record, untracked, Var};
use crate::Result;
use tensor::Conv2dParams;

impl Var {
    /// Max pooling over `kernel` windows (the indices are found only when recorded).
    pub fn max_pool2d(&self, kernel: [usize; 2], p: Conv2dParams) -> Result<Var> {
        if !self.records() {
            let y = self.tensor().max_pool2d_values(kernel, p)?;
            return untracked("max_pool2d", &[self], y);
        }
        let (y, indices) = self.tensor().max_pool2d(kernel, p)?;
        let input = self.shape().to_vec();
        record("max_pool2d", &[self], y, move |_, _, saved| {
            let indices = saved.keep("indices", indices);
            Box::new(move |g| {
                Ok(vec![Some(
                    g.max_pool2d_backward(&indices, &input, kernel, p)?,
                )])
            })
        })
    }

    /// Average pooling over `kernel` windows (padding counted, as PyTorch's default).
    pub fn avg_pool2d(&self, kernel: [usize; 2], p: Conv2dParams) -> Result<Var> {
        let y = self.tensor().avg_pool2d(kernel, p)?;
        let input = self.shape().to_vec();
        record("avg_pool2d", &[self], y, move |_, _, _| {
            Box::new(move |g| Ok(vec![Some(g.avg_pool2d_backward(&input, kernel, p)?)]))
        })
    }

    /// Adaptive average pooling to an `out` grid.
    pub fn adaptive_avg_pool2d(&self, out: [usize; 2]) -> Result<Var> {
        let y = self.tensor().adaptive_avg_pool2d(out)?;
        let input = self.shape().to_vec();
        record("adaptive_avg_pool2d", &[self], y, move |_, _, _| {
            Box::new(move |g| Ok(vec![Some(g.adaptive_avg_pool2d_backward(&input)?)]))
        })
    }

    /// Adaptive max pooling to an `out` grid.
    pub fn adaptive_max_pool2d(&self, out: [usize; 2]) -> Result<Var> {
        let (y, indices) = self.tensor().adaptive_max_pool2d(out)?;
        let input = self.shape().to_vec();
        record("adaptive_max_pool2d", &[self], y, move |_, _, saved| {
            let indices = saved.keep("indices", indices);
            Box::new(move |g| {
                Ok(vec![Some(
                    g.adaptive_max_pool2d_backward(&indices, &input)?,
                )])
            })
        })
    }
}
