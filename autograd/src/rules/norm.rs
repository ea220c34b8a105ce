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
        let saved = (mean.clone(), var.clone());
        let out = record("batch_norm", &[self, weight, bias], y, move |_, n| {
            let n = [n[0], n[1], n[2]];
            Box::new(move |g| {
                let (dx, dw, db) = g.batch_norm_backward(&x, &w, &saved.0, &saved.1, eps)?;
                Ok(vec![
                    n[0].then_some(dx),
                    n[1].then_some(dw),
                    n[2].then_some(db),
                ])
            })
        })?;
        Ok((out, mean, var))
    }

    /// `x * scale[c] + shift[c]` over the channel axis (`scale`, `shift`: `[C]`): batch norm
    /// at inference in one pass. Keeps the input only when `scale` needs a gradient.
    pub fn channel_affine(&self, scale: &Var, shift: &Var) -> Result<Var> {
        let y = self
            .tensor()
            .channel_affine(scale.tensor(), shift.tensor())?;
        let (x, a) = (self.tensor().clone(), scale.tensor().clone());
        record("channel_affine", &[self, scale, shift], y, move |_, n| {
            let n = [n[0], n[1], n[2]];
            let x = n[1].then_some(x);
            Box::new(move |g| {
                let (dx, da, db) = g.channel_affine_backward(x.as_ref(), &a)?;
                Ok(vec![n[0].then_some(dx), da, n[2].then_some(db)])
            })
        })
    }
}
