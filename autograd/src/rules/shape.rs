//! Backward rules of the views and of the ops that assemble or pad tensors. A view's rule
//! saves no data, only shapes: its gradient is the inverse view of the output's gradient.
use crate::var::{record, sum_to, zeros, Var};
use crate::{Error, Result};
use tensor::{PadMode, Tensor};

impl Var {
    /// Another shape, same elements (a view of contiguous data).
    pub fn reshape(&self, shape: &[usize]) -> Result<Var> {
        if shape == self.shape() {
            // Nothing to record: a backward reshape of a strided gradient would copy it.
            return Ok(self.clone());
        }
        let input = self.shape().to_vec();
        let y = self.tensor().reshape(shape)?;
        record("reshape", &[self], y, move |_, _, _| {
            Box::new(move |g| Ok(vec![Some(g.reshape(&input)?)]))
        })
    }

    /// Flattens dimensions `start..` into one.
    pub fn flatten_from(&self, start: usize) -> Result<Var> {
        let input = self.shape().to_vec();
        let y = self.tensor().flatten_from(start)?;
        record("flatten_from", &[self], y, move |_, _, _| {
            Box::new(move |g| Ok(vec![Some(g.reshape(&input)?)]))
        })
    }

    /// Reorders dimensions; the gradient is permuted back.
    pub fn permute(&self, dims: &[usize]) -> Result<Var> {
        let y = self.tensor().permute(dims)?;
        let mut inverse = vec![0; dims.len()];
        for (i, &d) in dims.iter().enumerate() {
            inverse[d] = i;
        }
        record("permute", &[self], y, move |_, _, _| {
            Box::new(move |g| Ok(vec![Some(g.permute(&inverse)?)]))
        })
    }

    /// Swaps two dimensions.
    pub fn transpose(&self, a: usize, b: usize) -> Result<Var> {
        let y = self.tensor().transpose(a, b)?;
        record("transpose", &[self], y, move |_, _, _| {
            Box::new(move |g| Ok(vec![Some(g.transpose(a, b)?)]))
        })
    }

    /// The transpose of a matrix (the last two dimensions).
    pub fn t(&self) -> Result<Var> {
        let y = self.tensor().t()?;
        let (a, b) = (self.rank() - 2, self.rank() - 1);
        record("t", &[self], y, move |_, _, _| {
            Box::new(move |g| Ok(vec![Some(g.transpose(a, b)?)]))
        })
    }

    /// Positions `start..start+len` of `dim`; the gradient is zero outside them.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Var> {
        let input = self.shape().to_vec();
        let y = self.tensor().narrow(dim, start, len)?;
        record("narrow", &[self], y, move |_, _, _| {
            Box::new(move |g| {
                let mut before = input.clone();
                before[dim] = start;
                let mut after = input.clone();
                after[dim] = input[dim] - start - len;
                let (b, a) = (zeros(&before, g)?, zeros(&after, g)?);
                Ok(vec![Some(Tensor::cat(&[&b, g, &a], dim)?)])
            })
        })
    }

    /// Broadcasts to `shape` without copying; the gradient sums over the repeated axes.
    pub fn expand(&self, shape: &[usize]) -> Result<Var> {
        let input = self.shape().to_vec();
        let y = self.tensor().expand(shape)?;
        record("expand", &[self], y, move |_, _, _| {
            Box::new(move |g| Ok(vec![Some(sum_to(g, &input)?)]))
        })
    }

    /// Inserts a dimension of size 1.
    pub fn unsqueeze(&self, dim: usize) -> Result<Var> {
        let y = self.tensor().unsqueeze(dim)?;
        record("unsqueeze", &[self], y, move |_, _, _| {
            Box::new(move |g| Ok(vec![Some(g.squeeze(dim)?)]))
        })
    }

    /// Removes a dimension of size 1.
    pub fn squeeze(&self, dim: usize) -> Result<Var> {
        let y = self.tensor().squeeze(dim)?;
        record("squeeze", &[self], y, move |_, _, _| {
            Box::new(move |g| Ok(vec![Some(g.unsqueeze(dim)?)]))
        })
    }

    /// Concatenates along `dim`; each input's gradient is its slice of the output's.
    pub fn cat(vars: &[&Var], dim: usize) -> Result<Var> {
        let tensors: Vec<&Tensor> = vars.iter().map(|v| v.tensor()).collect();
        let y = Tensor::cat(&tensors, dim)?;
        let sizes: Vec<usize> = vars.iter().map(|v| v.shape()[dim]).collect();
        record("cat", vars, y, move |_, n, _| {
            let n = n.to_vec();
            Box::new(move |g| {
                let mut start = 0;
                let mut grads = Vec::with_capacity(sizes.len());
                for (&len, &need) in sizes.iter().zip(&n) {
                    grads.push(need.then(|| g.narrow(dim, start, len)).transpose()?);
                    start += len;
                }
                Ok(grads)
            })
        })
    }

    /// Stacks along a new dimension `dim`.
    pub fn stack(vars: &[&Var], dim: usize) -> Result<Var> {
        let unsqueezed = vars
            .iter()
            .map(|v| v.unsqueeze(dim))
            .collect::<Result<Vec<_>>>()?;
        if unsqueezed.is_empty() {
            return Err(Error::Tensor(tensor::Error::Argument {
                op: "stack",
                name: "the number of vars",
                value: 0.0,
                expected: "at least 1",
            }));
        }
        let refs: Vec<&Var> = unsqueezed.iter().collect();
        Var::cat(&refs, dim)
    }

    /// Pads the last two dimensions (`[left, right, top, bottom]`) with zeros, reflection or
    /// replication; the gradient of every padded position flows back to the pixel it copied.
    pub fn pad2d(&self, pads: [usize; 4], mode: PadMode) -> Result<Var> {
        let input = self.shape().to_vec();
        let y = self.tensor().pad2d(pads, mode)?;
        record("pad2d", &[self], y, move |_, _, _| {
            Box::new(move |g| Ok(vec![Some(g.pad2d_backward(&input, pads, mode)?)]))
        })
    }
}
