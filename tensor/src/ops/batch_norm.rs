//! Batch normalisation as one op with a closed-form backward, instead of the twenty-odd
//! primitive ops (means, variance, subtractions, a square root, divisions, broadcasts) that
//! compose it, each a full pass over the activations with its own output and gradient.
//!
//! For x viewed as `[N, C, S]` (S = 1 for `[N, C]`, H·W for images), per channel c over the
//! M = N·S values: mean μ, biased variance σ², `x̂ = (x - μ) / sqrt(σ² + eps)`,
//! `y = γ x̂ + β`. Backward (Ioffe & Szegedy, 2015): `dβ = Σ dy`, `dγ = Σ dy x̂`,
//! `dx = γ / sqrt(σ² + eps) · (dy - dβ / M - x̂ dγ / M)`.
//!
//! Here the shapes are checked; `cpu/batch_norm.rs` and `cuda/batch_norm.rs` compute.
use crate::params::Running;
use crate::{Error, Result, Storage, Tensor};

/// Channel count and the `[N, C, S]` view of a batch-norm input.
fn geometry(op: &'static str, x: &Tensor, gamma: &Tensor) -> Result<(usize, usize, usize)> {
    if x.rank() < 2 {
        return Err(Error::shapes(
            op,
            &[x.shape()],
            "an input [N, C, ...] with a batch and a channel axis",
        ));
    }
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let s: usize = x.shape()[2..].iter().product();
    if gamma.shape() != [c] {
        return Err(Error::shapes(
            op,
            &[gamma.shape(), x.shape()],
            "a weight [C] for an input [N, C, ...]",
        ));
    }
    if n * s * c == 0 {
        return Err(Error::shapes(
            op,
            &[x.shape()],
            "an input with channels and values in each",
        ));
    }
    Ok((n, c, s))
}

/// Checks that a gradient has its input's shape.
fn same_shape(op: &'static str, grad: &Tensor, x: &Tensor) -> Result<()> {
    if grad.shape() != x.shape() {
        return Err(Error::shapes(
            op,
            &[grad.shape(), x.shape()],
            "a gradient of the input's shape",
        ));
    }
    Ok(())
}

/// Checks that a per-channel vector has shape `[c]`.
fn same_channels(op: &'static str, name: &'static str, t: &Tensor, c: usize) -> Result<()> {
    if t.shape() != [c] {
        return Err(Error::Channels {
            op,
            name,
            shape: t.shape().to_vec(),
            channels: c,
        });
    }
    Ok(())
}

/// A batch norm layer's running statistics (`[C]` each), updated by a training forward as
/// PyTorch does: `running = (1 - momentum) running + momentum batch`, with the batch's
/// unbiased variance (divided by n - 1) in `var`.
pub struct RunningStats<'a> {
    pub mean: &'a mut Tensor,
    pub var: &'a mut Tensor,
    pub momentum: f32,
}

impl RunningStats<'_> {
    fn check(&self, op: &'static str, c: usize) -> Result<()> {
        same_channels(op, "running_mean", self.mean, c)?;
        same_channels(op, "running_var", self.var, c)
    }
}

impl Tensor {
    /// Batch-normalises `self` (`[N, C, ...]`) with the batch's per-channel statistics and
    /// the affine `weight` and `bias` (`[C]`). Returns the output and the batch's mean and
    /// biased variance (`[C]`, f64 accumulated, in the input's dtype), for the backward. With
    /// `running`, also updates a layer's running statistics in place (on a GPU in the same
    /// launch).
    pub fn batch_norm(
        &self,
        weight: &Tensor,
        bias: &Tensor,
        eps: f32,
        running: Option<RunningStats<'_>>,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        const OP: &str = "batch_norm";
        let geo = geometry(OP, self, weight)?;
        same_channels(OP, "bias", bias, geo.1)?;
        let running = match running {
            Some(r) => {
                r.check(OP, geo.1)?;
                for t in [&*r.mean, &*r.var] {
                    if t.device() != self.device() {
                        return Err(self.storage().mismatch(OP, &[t.storage()]));
                    }
                }
                Some(Running {
                    mean: r.mean.storage_for_update()?,
                    var: r.var.storage_for_update()?,
                    momentum: r.momentum,
                })
            }
            None => None,
        };
        let [y, mean, var] = Storage::batch_norm(
            self.view(),
            (weight.view(), bias.view()),
            [geo.0, geo.1, geo.2],
            eps,
            running,
        )?;
        let c = [geo.1];
        Ok((
            Tensor::from_storage(y, self.shape()),
            Tensor::from_storage(mean, &c),
            Tensor::from_storage(var, &c),
        ))
    }

    /// The gradients of [`Tensor::batch_norm`]: from `self` = dy, the input `x`, the weight,
    /// and the batch mean and variance it returned: `(dx, d_weight, d_bias)`.
    pub fn batch_norm_backward(
        &self,
        x: &Tensor,
        weight: &Tensor,
        mean: &Tensor,
        var: &Tensor,
        eps: f32,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        const OP: &str = "batch_norm_backward";
        let (n, c, s) = geometry(OP, x, weight)?;
        same_channels(OP, "mean", mean, c)?;
        same_channels(OP, "var", var, c)?;
        same_shape(OP, self, x)?;
        let [dx, dw, db] = Storage::batch_norm_backward(
            self.view(),
            x.view(),
            weight.view(),
            (mean.view(), var.view()),
            [n, c, s],
            eps,
        )?;
        Ok((
            Tensor::from_storage(dx, x.shape()),
            Tensor::from_storage(dw, &[c]),
            Tensor::from_storage(db, &[c]),
        ))
    }

    /// `y = x * scale[c] + shift[c]` over the channel axis of `self` (`[N, C, ...]`), in one
    /// pass: batch norm at inference, where the running statistics and the affine weights
    /// fold into one scale and one shift per channel (`scale = γ / sqrt(var + eps)`,
    /// `shift = β - mean · scale`), instead of four passes (subtract, divide, multiply, add).
    pub fn channel_affine(&self, scale: &Tensor, shift: &Tensor) -> Result<Tensor> {
        const OP: &str = "channel_affine";
        let (n, c, s) = geometry(OP, self, scale)?;
        same_channels(OP, "shift", shift, c)?;
        let y = Storage::channel_affine(self.view(), (scale.view(), shift.view()), [n, c, s])?;
        Ok(Tensor::from_storage(y, self.shape()))
    }

    /// Batch norm's running statistics and affine weights folded into the `(scale, shift)`
    /// of [`Tensor::channel_affine`], for inference: `scale = γ / sqrt(var + eps)` and
    /// `shift = β - mean · scale`, each `[C]`. One pass (one launch on a GPU) where the five
    /// element-wise ops it replaces were five, for every batch norm of every forward pass at
    /// inference; the same operations in the same order, so the same bits.
    pub fn batch_norm_fold(
        weight: &Tensor,
        bias: &Tensor,
        mean: &Tensor,
        var: &Tensor,
        eps: f32,
    ) -> Result<(Tensor, Tensor)> {
        const OP: &str = "batch_norm_fold";
        let &[c] = weight.shape() else {
            return Err(Error::shapes(OP, &[weight.shape()], "a weight [C]"));
        };
        for (what, t) in [("bias", bias), ("running mean", mean), ("running var", var)] {
            same_channels(OP, what, t, c)?;
        }
        weight.check_float(OP)?;
        let all = [weight.view(), bias.view(), mean.view(), var.view()];
        let [scale, shift] = Storage::batch_norm_fold(all, eps)?;
        Ok((
            Tensor::from_storage(scale, &[c]),
            Tensor::from_storage(shift, &[c]),
        ))
    }

    /// The gradients of [`Tensor::channel_affine`] from `self` = dy: `dx = dy * scale[c]`,
    /// `d_scale = Σ dy x` (only when `x` is given), `d_shift = Σ dy` per channel.
    pub fn channel_affine_backward(
        &self,
        x: Option<&Tensor>,
        scale: &Tensor,
    ) -> Result<(Tensor, Option<Tensor>, Tensor)> {
        const OP: &str = "channel_affine_backward";
        let (n, c, s) = geometry(OP, self, scale)?;
        if let Some(x) = x {
            same_shape(OP, self, x)?;
        }
        let (dx, dscale, dshift) = Storage::channel_affine_backward(
            self.view(),
            x.map(Tensor::view),
            scale.view(),
            [n, c, s],
        )?;
        Ok((
            Tensor::from_storage(dx, self.shape()),
            dscale.map(|d| Tensor::from_storage(d, &[c])),
            Tensor::from_storage(dshift, &[c]),
        ))
    }
}
