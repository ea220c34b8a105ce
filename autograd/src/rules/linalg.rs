//! Backward rules of the matrix product and the convolution.
//!
//! For `Y = A B`: dA = dY Bᵀ and dB = Aᵀ dY (transposes are views, so these GEMMs read the
//! saved operands in place), summed over broadcast batch dimensions. For a convolution:
//! dX = col2im(Wᵀ dY), dW = Σ_images dY colsᵀ, db = Σ dY over batch and pixels — the ops
//! `conv2d_backward_input` and `conv2d_backward_weight` of the tensor crate.
use crate::var::{record, sum_to, Var};
use crate::Result;
use tensor::{Conv2dParams, Tensor};

/// The gradient of the right operand of `a @ b` from the output's gradient `g`: `a^T g`,
/// summed over broadcast batch dimensions. When `b` is the transposed view of a row-major
/// matrix (a Linear layer's `weight.t()`), the gradient is computed as `(g^T a)^T`, a
/// transposed view of a row-major product, so that the `t` rule hands the weight a row-major
/// gradient and the optimiser never copies a transpose.
fn grad_rhs(a: &Tensor, g: &Tensor, sb: &[usize], b_transposed: bool) -> tensor::Result<Tensor> {
    if b_transposed && a.rank() == 2 && g.rank() == 2 {
        g.t()?.matmul(a)?.t()
    } else {
        sum_to(&a.t()?.matmul(g)?, sb)
    }
}

impl Var {
    /// Matrix product with PyTorch's rules (batched, broadcast, 1-D operands promoted).
    pub fn matmul(&self, rhs: &Var) -> Result<Var> {
        // Promote 1-D operands here, as views, so the rule below only sees matrices.
        let a = if self.rank() == 1 {
            self.unsqueeze(0)?
        } else {
            self.clone()
        };
        let b = if rhs.rank() == 1 {
            rhs.unsqueeze(1)?
        } else {
            rhs.clone()
        };
        let y = a.matmul2(&b)?;
        let y = if rhs.rank() == 1 {
            y.squeeze(y.rank() - 1)?
        } else {
            y
        };
        if self.rank() == 1 {
            y.squeeze(y.rank() - if rhs.rank() == 1 { 1 } else { 2 })
        } else {
            Ok(y)
        }
    }

    /// The product of operands of rank >= 2.
    fn matmul2(&self, rhs: &Var) -> Result<Var> {
        let (sa, sb) = (self.shape().to_vec(), rhs.shape().to_vec());
        let (a, b) = (self.tensor().clone(), rhs.tensor().clone());
        let b_transposed = b.rank() == 2 && b.strides() == [1, b.shape()[0]];
        let y = a.matmul(&b)?;
        record("matmul", &[self, rhs], y, move |_, n, saved| {
            let b = n[0].then(|| saved.keep("b", b));
            let a = n[1].then(|| saved.keep("a", a));
            Box::new(move |g| {
                Ok(vec![
                    b.map(|b| sum_to(&g.matmul(&b.t()?)?, &sa)).transpose()?,
                    a.map(|a| grad_rhs(&a, g, &sb, b_transposed)).transpose()?,
                ])
            })
        })
    }

    /// 2-D convolution of `self` `[N, C, H, W]` with `weight` `[C_out, C, kh, kw]` and an
    /// optional `bias` `[C_out]`.
    pub fn conv2d(&self, weight: &Var, bias: Option<&Var>, p: Conv2dParams) -> Result<Var> {
        let (x, w) = (self.tensor().clone(), weight.tensor().clone());
        let y = x.conv2d(&w, bias.map(|b| b.tensor()), p)?;
        let mut inputs = vec![self, weight];
        inputs.extend(bias);
        let kernel = [w.shape()[2], w.shape()[3]];
        let has_bias = bias.is_some();
        record("conv2d", &inputs, y, move |_, n, saved| {
            let nb = has_bias && n[2];
            let x_shape = x.shape().to_vec();
            // dX needs W and dW needs X: each is kept only when needed (the first layer's
            // input needs no gradient, so nothing is kept for it).
            let w = n[0].then(|| saved.keep("weight", w));
            let x = n[1].then(|| saved.keep("input", x));
            Box::new(move |g| {
                let mut grads = vec![
                    w.map(|w| g.conv2d_backward_input(&w, &x_shape, p))
                        .transpose()?,
                    x.map(|x| g.conv2d_backward_weight(&x, kernel, p))
                        .transpose()?,
                ];
                if has_bias {
                    grads.push(nb.then(|| g.sum(&[0, 2, 3], false)).transpose()?);
                }
                Ok(grads)
            })
        })
    }
}
