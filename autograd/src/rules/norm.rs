//! Batch normalisation's rule: one fused op forward and its closed-form backward (the
//! tensor crate's `batch_norm` and `batch_norm_backward`), instead of the graph of twenty-odd
//! primitive ops it would otherwise record. It keeps the input, the weight and the batch's
//! mean and variance.
use crate::var::{record, Var};
use crate::Result;
use tensor::{RunningStats, Tensor};

impl Var {
    /// Batch norm in training mode on `[N, C, ...]`: normalise each channel with the batch's
    /// mean and biased variance, then scale by `weight` and shift by `bias` (`[C]`). Also
    /// returns that mean and variance, and updates `running` from them (a layer's running
    /// statistics, outside the tape: they get no gradient).
    pub fn batch_norm(
        &self,
        weight: &Var,
        bias: &Var,
        eps: f32,
        running: Option<RunningStats<'_>>,
    ) -> Result<(Var, Tensor, Tensor)> {
        let (x, w) = (self.tensor().clone(), weight.tensor().clone());
        let (y, mean, var) = x.batch_norm(&w, bias.tensor(), eps, running)?;
        let stats = (mean.clone(), var.clone());
        let out = record(
            "batch_norm",
            &[self, weight, bias],
            y,
            move |_, n, saved| {
                let n = [n[0], n[1], n[2]];
                let (x, w) = (saved.keep("input", x), saved.keep("weight", w));
                let (mean, var) = (saved.keep("mean", stats.0), saved.keep("var", stats.1));
                Box::new(move |g| {
                    let (dx, dw, db) = g.batch_norm_backward(&x, &w, &mean, &var, eps)?;
                    Ok(vec![
                        n[0].then_some(dx),
                        n[1].then_some(dw),
                        n[2].then_some(db),
                    ])
                })
            },
        )?;
        Ok((out, mean, var))
    }

    /// Batch norm at inference on `[N, C, ...]`: the running `mean` and `var` (constants)
    /// and `weight` and `bias` folded into one scale and shift per channel
    /// (`Tensor::batch_norm_fold`), then one pass (`channel_affine`): two launches on a GPU
    /// where the same maths from element-wise ops took six. Differentiable in the input and
    /// the weights (Grad-CAM takes the gradient of a model in eval mode): with
    /// `inv_std = 1 / sqrt(var + eps)`, `dx = dy · scale`, `dβ = Σ dy` and
    /// `dγ = (Σ dy·x - mean · Σ dy) · inv_std`, each sum over a channel.
    pub fn batch_norm_eval(
        &self,
        weight: &Var,
        bias: &Var,
        (mean, var): (&Tensor, &Tensor),
        eps: f32,
    ) -> Result<Var> {
        let (scale, shift) =
            Tensor::batch_norm_fold(weight.tensor(), bias.tensor(), mean, var, eps)?;
        let y = self.tensor().channel_affine(&scale, &shift)?;
        let (x, mean, var) = (self.tensor().clone(), mean.clone(), var.clone());
        record(
            "batch_norm_eval",
            &[self, weight, bias],
            y,
            move |_, n, saved| {
                let n = [n[0], n[1], n[2]];
                let x = n[1].then(|| saved.keep("input", x));
                let scale = saved.keep("scale", scale);
                let (mean, var) = (saved.keep("mean", mean), saved.keep("var", var));
                Box::new(move |g| {
                    let (dx, d_scale, d_shift) = g.channel_affine_backward(x.as_ref(), &scale)?;
                    let dw = match d_scale {
                        Some(ds) => {
                            let std = var.add_scalar(eps)?.sqrt()?;
                            Some(ds.sub(&mean.mul(&d_shift)?)?.div(&std)?)
                        }
                        None => None,
                    };
                    Ok(vec![n[0].then_some(dx), dw, n[2].then_some(d_shift)])
                })
            },
        )
    }

    /// `x * scale[c] + shift[c]` over the channel axis (`scale`, `shift`: `[C]`): batch norm
    /// at inference in one pass. Keeps the input only when `scale` needs a gradient.
    pub fn channel_affine(&self, scale: &Var, shift: &Var) -> Result<Var> {
        let y = self
            .tensor()
            .channel_affine(scale.tensor(), shift.tensor())?;
        let (x, a) = (self.tensor().clone(), scale.tensor().clone());
        record(
            "channel_affine",
            &[self, scale, shift],
            y,
            move |_, n, saved| {
                let n = [n[0], n[1], n[2]];
                let x = n[1].then(|| saved.keep("input", x));
                let a = saved.keep("scale", a);
                Box::new(move |g| {
                    let (dx, da, db) = g.channel_affine_backward(x.as_ref(), &a)?;
                    Ok(vec![n[0].then_some(dx), da, n[2].then_some(db)])
                })
            },
        )
    }
}
