//! Backward rules of the reductions. A sum spreads its gradient back over every element it
//! added (a broadcast view, no copy); a mean also divides by the count; a variance weighs by
//! the deviation from the mean; a max sends the gradient to the elements that were the max
//! (split evenly among ties, as PyTorch's `amax`).
use crate::var::{record, scalar_like, untracked, Var};
use crate::Result;
use tensor::Tensor;

/// `g` (the gradient of a reduction over `dims`) reshaped with size-1 axes where the reduced
/// ones were, then broadcast (without copying) to `shape`.
fn spread(g: &Tensor, dims: &[usize], keepdim: bool, shape: &[usize]) -> tensor::Result<Tensor> {
    let kept: Vec<usize> = shape
        .iter()
        .enumerate()
        .map(|(d, &s)| if dims.contains(&d) { 1 } else { s })
        .collect();
    let g = if keepdim {
        g.clone()
    } else {
        g.reshape(&kept)?
    };
    g.expand(shape)
}

fn all_dims(v: &Var) -> Vec<usize> {
    (0..v.rank()).collect()
}

impl Var {
    /// Sum over `dims`.
    pub fn sum(&self, dims: &[usize], keepdim: bool) -> Result<Var> {
        let (dims, shape) = (dims.to_vec(), self.shape().to_vec());
        let y = self.tensor().sum(&dims, keepdim)?;
        record("sum", &[self], y, move |_, _, _| {
            Box::new(move |g| Ok(vec![Some(spread(g, &dims, keepdim, &shape)?)]))
        })
    }

    /// Mean over `dims`.
    pub fn mean(&self, dims: &[usize], keepdim: bool) -> Result<Var> {
        let (dims, shape) = (dims.to_vec(), self.shape().to_vec());
        let count: usize = dims
            .iter()
            .map(|&d| shape.get(d).copied().unwrap_or(1))
            .product();
        let y = self.tensor().mean(&dims, keepdim)?;
        record("mean", &[self], y, move |_, _, _| {
            Box::new(move |g| {
                let g = g.div(&scalar_like(count as f32, g)?)?;
                Ok(vec![Some(spread(&g, &dims, keepdim, &shape)?)])
            })
        })
    }

    /// Sum of all elements.
    pub fn sum_all(&self) -> Result<Var> {
        self.sum(&all_dims(self), false)
    }

    /// Mean of all elements.
    pub fn mean_all(&self) -> Result<Var> {
        self.mean(&all_dims(self), false)
    }

    /// Variance over `dims` (biased or unbiased); d/dx = 2 (x - mean) / (n or n - 1).
    pub fn var(&self, dims: &[usize], keepdim: bool, unbiased: bool) -> Result<Var> {
        let (dims, shape) = (dims.to_vec(), self.shape().to_vec());
        let x = self.tensor().clone();
        let y = x.var(&dims, keepdim, unbiased)?;
        record("var", &[self], y, move |_, _, saved| {
            let x = saved.keep("input", x);
            Box::new(move |g| {
                let n: usize = dims.iter().map(|&d| shape[d]).product();
                let denom = scalar_like(if unbiased { n - 1 } else { n } as f32, g)?;
                // x - mean, then minus its own mean: the second pass removes the rounding of
                // the first mean, which for values around 100 is as large as the tolerance.
                let d = x.sub(&x.mean(&dims, true)?)?;
                let dev = d.sub(&d.mean(&dims, true)?)?;
                let g = spread(g, &dims, keepdim, &shape)?;
                Ok(vec![Some(g.mul(&dev)?.mul_scalar(2.0)?.div(&denom)?)])
            })
        })
    }

    /// Maximum over `dims`.
    pub fn max(&self, dims: &[usize], keepdim: bool) -> Result<Var> {
        self.extreme("max", dims, keepdim, Tensor::max)
    }

    /// Minimum over `dims`.
    pub fn min(&self, dims: &[usize], keepdim: bool) -> Result<Var> {
        self.extreme("min", dims, keepdim, Tensor::min)
    }

    fn extreme(
        &self,
        op: &'static str,
        dims: &[usize],
        keepdim: bool,
        forward: fn(&Tensor, &[usize], bool) -> tensor::Result<Tensor>,
    ) -> Result<Var> {
        let (dims, shape) = (dims.to_vec(), self.shape().to_vec());
        let x = self.tensor().clone();
        let y = forward(&x, &dims, keepdim)?;
        record(op, &[self], y, move |y, _, saved| {
            let (x, y) = (saved.keep("input", x), saved.keep("output", y.clone()));
            Box::new(move |g| {
                let hit = x.eq(&spread(&y, &dims, keepdim, &shape)?)?;
                let ties = spread(&hit.sum(&dims, keepdim)?, &dims, keepdim, &shape)?;
                let g = spread(g, &dims, keepdim, &shape)?;
                Ok(vec![Some(g.mul(&hit)?.div(&ties)?)])
            })
        })
    }

    /// Index of the maximum along `dim` (an i64 tensor; no gradient).
    pub fn argmax(&self, dim: usize, keepdim: bool) -> Result<Var> {
        untracked("argmax", &[self], self.tensor().argmax(dim, keepdim)?)
    }

    /// Index of the minimum along `dim` (no gradient).
    pub fn argmin(&self, dim: usize, keepdim: bool) -> Result<Var> {
        untracked("argmin", &[self], self.tensor().argmin(dim, keepdim)?)
    }

    /// `log_softmax` along `dim`: dx = g - softmax(x) * sum(g), with softmax = exp(y).
    pub fn log_softmax(&self, dim: usize) -> Result<Var> {
        let y = self.tensor().log_softmax(dim)?;
        record("log_softmax", &[self], y, move |y, _, saved| {
            let y = saved.keep("output", y.clone());
            Box::new(move |g| {
                let total = g.sum(&[dim], true)?;
                Ok(vec![Some(g.sub(&y.exp()?.mul(&total)?)?)])
            })
        })
    }

    /// `softmax` along `dim`: dx = y * (g - sum(g * y)).
    pub fn softmax(&self, dim: usize) -> Result<Var> {
        let y = self.tensor().softmax(dim)?;
        record("softmax", &[self], y, move |y, _, saved| {
            let y = saved.keep("output", y.clone());
            Box::new(move |g| {
                let dot = g.mul(&y)?.sum(&[dim], true)?;
                Ok(vec![Some(y.mul(&g.sub(&dot)?)?)])
            })
        })
    }
}
