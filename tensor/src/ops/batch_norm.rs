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

/// Per-channel sums of `f(value, channel)` over the `[N, C, S]` layout, in f64. With S = 1
/// (`[N, C]`), rows are added into the accumulators element by element, which vectorises.
fn channel_sums<T: Float>(x: &[T], c: usize, s: usize, f: impl Fn(T, usize) -> f64) -> Vec<f64> {
    let mut acc = vec![0f64; c];
    for image in x.chunks_exact(c * s) {
        if s == 1 {
            for (ch, (a, &v)) in acc.iter_mut().zip(image).enumerate() {
                *a += f(v, ch);
            }
        } else {
            for (ch, plane) in image.chunks_exact(s).enumerate() {
                acc[ch] += plane.iter().map(|&v| f(v, ch)).sum::<f64>();
            }
        }
    }
    acc
}

/// `out = x * a[ch] + b[ch]` per channel (with S = 1 a row at a time, which vectorises).
fn per_channel_affine<T: Float>(out: &mut [T], x: &[T], a: &[T], b: &[T], c: usize, s: usize) {
    for (o, xi) in out.chunks_exact_mut(c * s).zip(x.chunks_exact(c * s)) {
        if s == 1 {
            for (((o, &v), &a), &b) in o.iter_mut().zip(xi).zip(a).zip(b) {
                *o = v * a + b;
            }
        } else {
            for (ch, (o, xi)) in o.chunks_exact_mut(s).zip(xi.chunks_exact(s)).enumerate() {
                for (o, &v) in o.iter_mut().zip(xi) {
                    *o = v * a[ch] + b[ch];
                }
            }
        }
    }
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
    let mut y = T::output_buffer(x.len());
    per_channel_affine(&mut y, x, &scale, &shift, c, s);
    (y, mean, var)
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
    // Σ dy·x per channel, pairing the two tensors element by element.
    let mut dyx = vec![0f64; c];
    for (d, x) in dy.chunks_exact(c * s).zip(xs.chunks_exact(c * s)) {
        if s == 1 {
            for (acc, (&d, &x)) in dyx.iter_mut().zip(d.iter().zip(x)) {
                *acc += d.to_f64() * x.to_f64();
            }
        } else {
            for (ch, (d, x)) in d.chunks_exact(s).zip(x.chunks_exact(s)).enumerate() {
                dyx[ch] += d
                    .iter()
                    .zip(x)
                    .map(|(&d, &x)| d.to_f64() * x.to_f64())
                    .sum::<f64>();
            }
        }
    }
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
    // dx = (bx x + c0) + a dy: the x part, then the dy part added in place.
    let mut dx = T::output_buffer(xs.len());
    per_channel_affine(&mut dx, xs, &bx, &c0, c, s);
    for (o, d) in dx.chunks_exact_mut(c * s).zip(dy.chunks_exact(c * s)) {
        if s == 1 {
            for ((o, &d), &a) in o.iter_mut().zip(d).zip(&a) {
                *o += a * d;
            }
            continue;
        }
        for (ch, (o, d)) in o.chunks_exact_mut(s).zip(d.chunks_exact(s)).enumerate() {
            for (o, &d) in o.iter_mut().zip(d) {
                *o += a[ch] * d;
            }
        }
    }
    (dx, dgamma, dbeta)
}

impl Tensor {
    /// Batch-normalises `self` (`[N, C, ...]`) with the batch's per-channel statistics and
    /// the affine `weight` and `bias` (`[C]`). Returns the output and the batch's mean and
    /// biased variance (`[C]`, f64 accumulated, in the input's dtype), for the running
    /// statistics and the backward.
    pub fn batch_norm(
        &self,
        weight: &Tensor,
        bias: &Tensor,
        eps: f32,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        const OP: &str = "batch_norm";
        let geo = geometry(OP, self, weight)?;
        same_channels(OP, "bias", bias, geo.1)?;
        with_float!(OP, self.dtype(), T => {
            let x = self.contiguous_data::<T>(OP)?;
            let (g, b) = (weight.contiguous_data::<T>(OP)?, bias.contiguous_data::<T>(OP)?);
            let (y, mean, var) = forward_typed::<T>(&x, &g, &b, geo, eps as f64);
            let stat = |v: Vec<f64>| Tensor::from_op(v.into_iter().map(T::from_f64).collect::<Vec<T>>(), &[geo.1]);
            Ok((Tensor::from_op(y, self.shape()), stat(mean), stat(var)))
        })
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
        if self.shape() != x.shape() {
            return Err(Error::shape(
                OP,
                format!(
                    "gradient {:?} does not match the input {:?}",
                    self.shape(),
                    x.shape()
                ),
            ));
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
}
