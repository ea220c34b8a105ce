//! Batch normalisation as one op with a closed-form backward, instead of the twenty-odd
//! primitive ops (means, variance, subtractions, a square root, divisions, broadcasts) that
//! compose it, each a full pass over the activations with its own output and gradient.
//!
//! For x viewed as `[N, C, S]` (S = 1 for `[N, C]`, H·W for images), per channel c over the
//! M = N·S values: mean μ, biased variance σ², `x̂ = (x - μ) / sqrt(σ² + eps)`,
//! `y = γ x̂ + β`. Backward (Ioffe & Szegedy, 2015): `dβ = Σ dy`, `dγ = Σ dy x̂`,
//! `dx = γ / sqrt(σ² + eps) · (dy - dβ / M - x̂ dγ / M)`.
use crate::float::Float;
use crate::{Error, Result, Tensor};
use rayon::prelude::*;

/// Channel count and the `[N, C, S]` view of a batch-norm input.
fn geometry(op: &'static str, x: &Tensor, gamma: &Tensor) -> Result<(usize, usize, usize)> {
    if x.rank() < 2 {
        return Err(Error::shape(
            op,
            format!("input {:?} needs a batch and a channel axis", x.shape()),
        ));
    }
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let s: usize = x.shape()[2..].iter().product();
    if gamma.shape() != [c] {
        return Err(Error::shape(
            op,
            format!(
                "weight {:?} does not match the {c} channels of {:?}",
                gamma.shape(),
                x.shape()
            ),
        ));
    }
    if n * s * c == 0 {
        return Err(Error::shape(
            op,
            format!(
                "input {:?} has no channels or no values per channel",
                x.shape()
            ),
        ));
    }
    Ok((n, c, s))
}

/// Checks that a gradient has its input's shape.
fn same_shape(op: &'static str, grad: &Tensor, x: &Tensor) -> Result<()> {
    if grad.shape() != x.shape() {
        return Err(Error::shape(
            op,
            format!(
                "gradient {:?} does not match the input {:?}",
                grad.shape(),
                x.shape()
            ),
        ));
    }
    Ok(())
}

/// Checks that a per-channel vector has shape `[c]`.
fn same_channels(op: &'static str, what: &str, t: &Tensor, c: usize) -> Result<()> {
    if t.shape() != [c] {
        return Err(Error::shape(
            op,
            format!("{what} {:?} should have shape [{c}]", t.shape()),
        ));
    }
    Ok(())
}

/// Whether a `[N, C, S]` pass runs a channel (or a plane) per rayon task: for images (S > 1)
/// with enough work. Rows of `[N, C]` (the tabular model) stay on one thread, where the split
/// was measured slower (BENCHMARKS.md, issue 5).
fn parallel(len: usize, s: usize) -> bool {
    s > 1 && len >= crate::strided::PAR_THRESHOLD
}

/// Per-channel sums over the `[N, C, S]` layout in f64, of `plane(offset, channel)`, the sum
/// over the S values of one image's channel plane starting at `offset`. Each channel adds its
/// planes image by image, in the same order serial or parallel, so the result is the same.
fn plane_sums(
    (n, c, s): (usize, usize, usize),
    plane: impl Fn(usize, usize) -> f64 + Sync,
) -> Vec<f64> {
    let channel = |ch: usize| (0..n).map(|i| plane((i * c + ch) * s, ch)).sum::<f64>();
    if parallel(n * c * s, s) {
        (0..c).into_par_iter().map(channel).collect()
    } else {
        (0..c).map(channel).collect()
    }
}

/// Per-channel sums of `f(value, channel)` over the `[N, C, S]` layout, in f64. With S = 1
/// (`[N, C]`), rows are added into the accumulators element by element, which vectorises.
fn channel_sums<T: Float>(
    x: &[T],
    c: usize,
    s: usize,
    f: impl Fn(T, usize) -> f64 + Sync,
) -> Vec<f64> {
    if s > 1 {
        let n = x.len() / (c * s);
        return plane_sums((n, c, s), |o, ch| {
            x[o..o + s].iter().map(|&v| f(v, ch)).sum::<f64>()
        });
    }
    let mut acc = vec![0f64; c];
    for row in x.chunks_exact(c) {
        for (ch, (a, &v)) in acc.iter_mut().zip(row).enumerate() {
            *a += f(v, ch);
        }
    }
    acc
}

/// Per-channel sums of `a * b` over the `[N, C, S]` layout, in f64.
fn channel_dots<T: Float>(a: &[T], b: &[T], c: usize, s: usize) -> Vec<f64> {
    if s > 1 {
        let n = a.len() / (c * s);
        return plane_sums((n, c, s), |o, _| {
            a[o..o + s]
                .iter()
                .zip(&b[o..o + s])
                .map(|(&a, &b)| a.to_f64() * b.to_f64())
                .sum::<f64>()
        });
    }
    let mut acc = vec![0f64; c];
    for (ra, rb) in a.chunks_exact(c).zip(b.chunks_exact(c)) {
        for (acc, (&a, &b)) in acc.iter_mut().zip(ra.iter().zip(rb)) {
            *acc += a.to_f64() * b.to_f64();
        }
    }
    acc
}

/// `out = x * a[ch] + b[ch]` per channel, plus `d * e[ch]` when `d = Some((d, e))` (with
/// S = 1 a row at a time, which vectorises; for images a plane per task).
fn per_channel_affine<T: Float>(
    out: &mut [T],
    x: &[T],
    (a, b): (&[T], &[T]),
    d: Option<(&[T], &[T])>,
    c: usize,
    s: usize,
) {
    if s > 1 {
        let plane = |(i, o): (usize, &mut [T])| {
            let ch = i % c;
            let xi = &x[i * s..(i + 1) * s];
            match d {
                None => o
                    .iter_mut()
                    .zip(xi)
                    .for_each(|(o, &v)| *o = v * a[ch] + b[ch]),
                Some((d, e)) => {
                    let di = &d[i * s..(i + 1) * s];
                    for ((o, &v), &dv) in o.iter_mut().zip(xi).zip(di) {
                        *o = v * a[ch] + b[ch] + dv * e[ch];
                    }
                }
            }
        };
        if parallel(x.len(), s) {
            out.par_chunks_mut(s).enumerate().for_each(plane);
        } else {
            out.chunks_mut(s).enumerate().for_each(plane);
        }
        return;
    }
    for (i, (o, xi)) in out.chunks_exact_mut(c).zip(x.chunks_exact(c)).enumerate() {
        for (((o, &v), &a), &b) in o.iter_mut().zip(xi).zip(a).zip(b) {
            *o = v * a + b;
        }
        if let Some((d, e)) = d {
            for ((o, &dv), &e) in o.iter_mut().zip(&d[i * c..(i + 1) * c]).zip(e) {
                *o += dv * e;
            }
        }
    }
}

/// `x * a[ch] + b[ch]` into a new buffer.
fn affine_typed<T: Float>(x: &[T], ab: (&[T], &[T]), c: usize, s: usize) -> Vec<T> {
    let mut y = T::output_buffer(x.len());
    per_channel_affine(&mut y, x, ab, None, c, s);
    y
}

fn forward_typed<T: Float>(
    x: &[T],
    g: &[T],
    b: &[T],
    (n, c, s): (usize, usize, usize),
    eps: f64,
) -> (Vec<T>, Vec<f64>, Vec<f64>) {
    let m = (n * s) as f64;
    let mean: Vec<f64> = channel_sums(x, c, s, |v, _| v.to_f64())
        .into_iter()
        .map(|t| t / m)
        .collect();
    let var: Vec<f64> = channel_sums(x, c, s, |v, ch| (v.to_f64() - mean[ch]).powi(2))
        .into_iter()
        .map(|t| t / m)
        .collect();
    // y = x * scale + shift with scale = γ / sqrt(σ² + eps), shift = β - μ scale.
    let scale: Vec<f64> = (0..c)
        .map(|ch| g[ch].to_f64() / (var[ch] + eps).sqrt())
        .collect();
    let shift: Vec<T> = (0..c)
        .map(|ch| T::from_f64(b[ch].to_f64() - mean[ch] * scale[ch]))
        .collect();
    let scale: Vec<T> = scale.into_iter().map(T::from_f64).collect();
    (affine_typed(x, (&scale, &shift), c, s), mean, var)
}

/// The backward as one affine pass: with k = γ/σ̂ (σ̂ = sqrt(σ² + eps)),
/// `dx = k dy - (k dγ / (M σ̂)) x + k (μ dγ / σ̂ - dβ) / M`, and `dγ = (Σ dy x - μ Σ dy) / σ̂`.
#[allow(clippy::type_complexity)]
fn backward_typed<T: Float>(
    dy: &[T],
    xs: &[T],
    g: &[T],
    mean: &[T],
    var: &[T],
    (n, c, s): (usize, usize, usize),
    eps: f64,
) -> (Vec<T>, Vec<f64>, Vec<f64>) {
    let m = (n * s) as f64;
    let dbeta = channel_sums(dy, c, s, |v, _| v.to_f64());
    let dyx = channel_dots(dy, xs, c, s);
    let sigma: Vec<f64> = var.iter().map(|v| (v.to_f64() + eps).sqrt()).collect();
    let mu: Vec<f64> = mean.iter().map(|v| v.to_f64()).collect();
    let dgamma: Vec<f64> = (0..c)
        .map(|ch| (dyx[ch] - mu[ch] * dbeta[ch]) / sigma[ch])
        .collect();
    let k: Vec<f64> = (0..c).map(|ch| g[ch].to_f64() / sigma[ch]).collect();
    let a: Vec<T> = k.iter().map(|&k| T::from_f64(k)).collect();
    let bx: Vec<T> = (0..c)
        .map(|ch| T::from_f64(-k[ch] * dgamma[ch] / (m * sigma[ch])))
        .collect();
    let c0: Vec<T> = (0..c)
        .map(|ch| T::from_f64(k[ch] * (mu[ch] * dgamma[ch] / sigma[ch] - dbeta[ch]) / m))
        .collect();
    // dx = (bx x + c0) + a dy, in one pass.
    let mut dx = T::output_buffer(xs.len());
    per_channel_affine(&mut dx, xs, (&bx, &c0), Some((dy, &a)), c, s);
    (dx, dgamma, dbeta)
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

    /// The update from the batch's `mean` and biased `var` over `count` values a channel, in
    /// f32 tensor ops (the host's path; a GPU does it inside its forward kernel).
    fn update(self, mean: &Tensor, var: &Tensor, count: usize) -> Result<()> {
        let m = self.momentum;
        let unbiased = var.mul_scalar(count as f32 / (count.max(2) - 1) as f32)?;
        let new_mean = self.mean.mul_scalar(1.0 - m)?.add(&mean.mul_scalar(m)?)?;
        let new_var = self
            .var
            .mul_scalar(1.0 - m)?
            .add(&unbiased.mul_scalar(m)?)?;
        *self.mean = new_mean;
        *self.var = new_var;
        Ok(())
    }
}

impl Tensor {
    /// Batch-normalises `self` (`[N, C, ...]`) with the batch's per-channel statistics and
    /// the affine `weight` and `bias` (`[C]`). Returns the output and the batch's mean and
    /// biased variance (`[C]`, f64 accumulated, in the input's dtype), for the backward. With
    /// `running`, also updates a layer's running statistics (on a GPU in the same launch).
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
        if let Some(r) = &running {
            r.check(OP, geo.1)?;
        }
        let gpu = {
            let mut operands = vec![self, weight, bias];
            if let Some(r) = &running {
                operands.extend([&*r.mean, &*r.var]);
            }
            crate::cuda::gpu_of(OP, &operands)?
        };
        if let Some(gpu) = gpu {
            let (n, c, s) = geo;
            return crate::cuda::batch_norm(&gpu, self, (weight, bias), eps, [n, c, s], running);
        }
        let (y, mean, var) = with_float!(OP, self.dtype(), T => {
            let x = self.contiguous_data::<T>(OP)?;
            let (g, b) = (weight.contiguous_data::<T>(OP)?, bias.contiguous_data::<T>(OP)?);
            let (y, mean, var) = forward_typed::<T>(&x, &g, &b, geo, eps as f64);
            let stat = |v: Vec<f64>| Tensor::from_op(v.into_iter().map(T::from_f64).collect::<Vec<T>>(), &[geo.1]);
            Ok::<_, crate::Error>((Tensor::from_op(y, self.shape()), stat(mean), stat(var)))
        })?;
        if let Some(r) = running {
            r.update(&mean, &var, geo.0 * geo.2)?;
        }
        Ok((y, mean, var))
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
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self, x, weight, mean, var])? {
            return crate::cuda::batch_norm_backward(
                &gpu,
                self,
                x,
                weight,
                mean,
                var,
                eps,
                [n, c, s],
            );
        }
        with_float!(OP, self.dtype(), T => {
            let (dy, xs) = (self.contiguous_data::<T>(OP)?, x.contiguous_data::<T>(OP)?);
            let g = weight.contiguous_data::<T>(OP)?;
            let (mean, var) = (mean.contiguous_data::<T>(OP)?, var.contiguous_data::<T>(OP)?);
            let (dx, dgamma, dbeta) = backward_typed::<T>(&dy, &xs, &g, &mean, &var, (n, c, s), eps as f64);
            let vecs = |v: Vec<f64>| Tensor::from_op(v.into_iter().map(T::from_f64).collect::<Vec<T>>(), &[c]);
            Ok((Tensor::from_op(dx, x.shape()), vecs(dgamma), vecs(dbeta)))
        })
    }

    /// `y = x * scale[c] + shift[c]` over the channel axis of `self` (`[N, C, ...]`), in one
    /// pass: batch norm at inference, where the running statistics and the affine weights
    /// fold into one scale and one shift per channel (`scale = γ / sqrt(var + eps)`,
    /// `shift = β - mean · scale`), instead of four passes (subtract, divide, multiply, add).
    pub fn channel_affine(&self, scale: &Tensor, shift: &Tensor) -> Result<Tensor> {
        const OP: &str = "channel_affine";
        let (n, c, s) = geometry(OP, self, scale)?;
        same_channels(OP, "shift", shift, c)?;
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self, scale, shift])? {
            return crate::cuda::channel_affine(&gpu, self, scale, shift, [n, c, s]);
        }
        with_float!(OP, self.dtype(), T => {
            let x = self.contiguous_data::<T>(OP)?;
            let (a, b) = (scale.contiguous_data::<T>(OP)?, shift.contiguous_data::<T>(OP)?);
            let y = affine_typed(&x, (&a, &b), c, s);
            Ok(Tensor::from_op(y, self.shape()))
        })
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
            return Err(Error::shape(
                OP,
                format!("weight {:?} should have one axis, [C]", weight.shape()),
            ));
        };
        for (what, t) in [("bias", bias), ("running mean", mean), ("running var", var)] {
            same_channels(OP, what, t, c)?;
        }
        let all = [weight, bias, mean, var];
        if let Some(gpu) = crate::cuda::gpu_of(OP, &all)? {
            return crate::cuda::batch_norm_fold(&gpu, all, eps);
        }
        with_float!(OP, weight.dtype(), T => {
            let [w, b, m, v] = [
                weight.contiguous_data::<T>(OP)?,
                bias.contiguous_data::<T>(OP)?,
                mean.contiguous_data::<T>(OP)?,
                var.contiguous_data::<T>(OP)?,
            ];
            let eps = T::from_f32(eps);
            let scale: Vec<T> = w.iter().zip(v.iter()).map(|(&w, &v)| w / (v + eps).sqrt()).collect();
            let shift = b.iter().zip(m.iter()).zip(&scale).map(|((&b, &m), &a)| b - m * a).collect();
            Ok((Tensor::from_op(scale, &[c]), Tensor::from_op(shift, &[c])))
        })
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
        let on = |t: Option<&Tensor>| t.map_or(self.device(), Tensor::device);
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self, scale])? {
            if on(x) != self.device() {
                return Err(Error::device(
                    OP,
                    format!("x is on {}, dy on {}", on(x), self.device()),
                ));
            }
            return crate::cuda::channel_affine_backward(&gpu, self, x, scale, [n, c, s]);
        }
        with_float!(OP, self.dtype(), T => {
            let dy = self.contiguous_data::<T>(OP)?;
            let a = scale.contiguous_data::<T>(OP)?;
            let vecs = |v: Vec<f64>| Tensor::from_op(v.into_iter().map(T::from_f64).collect::<Vec<T>>(), &[c]);
            let dx = affine_typed(&dy, (&a, &vec![T::ZERO; c]), c, s);
            let dscale = match x {
                Some(x) => Some(vecs(channel_dots(&dy, &x.contiguous_data::<T>(OP)?, c, s))),
                None => None,
            };
            let dshift = vecs(channel_sums(&dy, c, s, |v, _| v.to_f64()));
            Ok((Tensor::from_op(dx, self.shape()), dscale, dshift))
        })
    }
}
