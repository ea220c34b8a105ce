//! Batch norm on the host, as one op with a closed-form backward: per channel of x viewed as
//! `[N, C, S]`, sums in f64 over the M = N·S values (a channel per rayon task for images),
//! then one affine pass `y = x · scale[c] + shift[c]`. The formulas are in `ops/batch_norm.rs`.
use super::{layout_data, CpuStorage, Element, View};
use crate::params::Running;
use crate::{Float, Result};
use rayon::prelude::*;

/// The elements of a view as `T`, row-major.
fn data<'a, T: Float>(op: &'static str, (s, l): View<'a>) -> Result<std::borrow::Cow<'a, [T]>> {
    Ok(layout_data(s.slice::<T>(op)?, l))
}

/// Per-channel f64 results as `T` storage.
fn stats<T: Float>(v: Vec<f64>) -> CpuStorage {
    T::into_storage(v.into_iter().map(T::from_f64).collect())
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

/// Per-channel sums over the `[N, C, S]` layout in f64: of the values, or of their squared
/// distances from `center[ch]` when it is given.
fn channel_sums<T: Float>(x: &[T], c: usize, s: usize, center: Option<&[f64]>) -> Vec<f64> {
    if s == 1 {
        return column_sums(x, c, center);
    }
    let n = x.len() / (c * s);
    plane_sums((n, c, s), |o, ch| {
        let plane = x[o..o + s].iter().map(|v| v.to_f64());
        match center {
            None => plane.sum::<f64>(),
            Some(m) => plane.map(|v| (v - m[ch]) * (v - m[ch])).sum::<f64>(),
        }
    })
}

multiversion! {
    /// [`channel_sums`] of rows `[N, C]`: each row added into the C accumulators, element
    /// by element, 8 f64 lanes at a time with AVX-512 (the baseline build has 2).
    fn column_sums<T: Float>(x: &[T], c: usize, center: Option<&[f64]>) -> Vec<f64> {
        let mut acc = vec![0f64; c];
        for row in x.chunks_exact(c) {
            match center {
                None => {
                    for (a, &v) in acc.iter_mut().zip(row) {
                        *a += v.to_f64();
                    }
                }
                Some(m) => {
                    for ((a, &v), &m) in acc.iter_mut().zip(row).zip(m) {
                        *a += (v.to_f64() - m) * (v.to_f64() - m);
                    }
                }
            }
        }
        acc
    }
}

/// Per-channel sums of `a * b` over the `[N, C, S]` layout, in f64.
fn channel_dots<T: Float>(a: &[T], b: &[T], c: usize, s: usize) -> Vec<f64> {
    if s == 1 {
        return column_dots(a, b, c);
    }
    let n = a.len() / (c * s);
    plane_sums((n, c, s), |o, _| {
        a[o..o + s]
            .iter()
            .zip(&b[o..o + s])
            .map(|(&a, &b)| a.to_f64() * b.to_f64())
            .sum::<f64>()
    })
}

multiversion! {
    /// [`channel_dots`] of rows `[N, C]`, as [`column_sums`].
    fn column_dots<T: Float>(a: &[T], b: &[T], c: usize) -> Vec<f64> {
        let mut acc = vec![0f64; c];
        for (ra, rb) in a.chunks_exact(c).zip(b.chunks_exact(c)) {
            for (acc, (&a, &b)) in acc.iter_mut().zip(ra.iter().zip(rb)) {
                *acc += a.to_f64() * b.to_f64();
            }
        }
        acc
    }
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
    row_affine(out, x, (a, b), d, c);
}

multiversion! {
    /// [`per_channel_affine`] of rows `[N, C]`, a row at a time.
    fn row_affine<T: Float>(
        out: &mut [T],
        x: &[T],
        ab: (&[T], &[T]),
        d: Option<(&[T], &[T])>,
        c: usize,
    ) {
        let (a, b) = ab;
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
}

/// `x * a[ch] + b[ch]` (plus `d * e[ch]` with `d = Some((d, e))`) into a new buffer.
fn affine_typed<T: Float>(
    x: &[T],
    ab: (&[T], &[T]),
    d: Option<(&[T], &[T])>,
    c: usize,
    s: usize,
) -> Vec<T> {
    let mut y = T::output_buffer(x.len());
    per_channel_affine(&mut y, x, ab, d, c, s);
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
    let mean: Vec<f64> = channel_sums(x, c, s, None)
        .into_iter()
        .map(|t| t / m)
        .collect();
    let var: Vec<f64> = channel_sums(x, c, s, Some(mean.as_slice()))
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
    (affine_typed(x, (&scale, &shift), None, c, s), mean, var)
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
    let dbeta = channel_sums(dy, c, s, None);
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
    let dx = affine_typed(xs, (&bx, &c0), Some((dy, &a)), c, s);
    (dx, dgamma, dbeta)
}

/// The batch's normalisation `y`, mean and biased variance; with `running`, the layer's
/// running statistics updated in place (in `T`, as f32 tensor ops would: the same bits).
pub(crate) fn batch_norm(
    x: View,
    (w, b): (View, View),
    [n, c, s]: [usize; 3],
    eps: f32,
    running: Option<Running<'_, CpuStorage>>,
) -> Result<[CpuStorage; 3]> {
    const OP: &str = "batch_norm";
    with_float!(OP, x.0.dtype(), T => {
        let (x, g, b) = (data::<T>(OP, x)?, data::<T>(OP, w)?, data::<T>(OP, b)?);
        let (y, mean, var) = forward_typed::<T>(&x, &g, &b, (n, c, s), eps as f64);
        let (mean, var) = (stats::<T>(mean), stats::<T>(var));
        if let Some(r) = running {
            update::<T>(r, (mean.slice(OP)?, var.slice(OP)?), n * s)?;
        }
        Ok([T::into_storage(y), mean, var])
    })
}

/// `running = (1 - momentum) running + momentum batch` for the mean and, with the batch's
/// variance made unbiased over `count` values, the variance.
fn update<T: Float>(
    r: Running<'_, CpuStorage>,
    (mean, var): (&[T], &[T]),
    count: usize,
) -> Result<()> {
    let (keep, m) = (T::from_f32(1.0 - r.momentum), T::from_f32(r.momentum));
    let unbias = T::from_f32(count as f32 / (count.max(2) - 1) as f32);
    let got = r.mean.dtype();
    let (Some(rm), Some(rv)) = (T::slice_mut(r.mean), T::slice_mut(r.var)) else {
        return Err(crate::Error::DType {
            op: "batch_norm",
            expected: T::DTYPE,
            got,
        });
    };
    for (run, &b) in rm.iter_mut().zip(mean) {
        *run = *run * keep + b * m;
    }
    for (run, &v) in rv.iter_mut().zip(var) {
        *run = *run * keep + v * unbias * m;
    }
    Ok(())
}

/// `[dx, dγ, dβ]` from dy, x, γ and the batch's statistics.
pub(crate) fn batch_norm_backward(
    dy: View,
    x: View,
    w: View,
    (mean, var): (View, View),
    [n, c, s]: [usize; 3],
    eps: f32,
) -> Result<[CpuStorage; 3]> {
    const OP: &str = "batch_norm_backward";
    with_float!(OP, dy.0.dtype(), T => {
        let (dy, xs, g) = (data::<T>(OP, dy)?, data::<T>(OP, x)?, data::<T>(OP, w)?);
        let (mean, var) = (data::<T>(OP, mean)?, data::<T>(OP, var)?);
        let (dx, dgamma, dbeta) = backward_typed::<T>(&dy, &xs, &g, &mean, &var, (n, c, s), eps as f64);
        Ok([T::into_storage(dx), stats::<T>(dgamma), stats::<T>(dbeta)])
    })
}

/// `y = x * scale[c] + shift[c]` in one pass.
pub(crate) fn channel_affine(
    x: View,
    (scale, shift): (View, View),
    [_, c, s]: [usize; 3],
) -> Result<CpuStorage> {
    const OP: &str = "channel_affine";
    with_float!(OP, x.0.dtype(), T => {
        let (x, a, b) = (data::<T>(OP, x)?, data::<T>(OP, scale)?, data::<T>(OP, shift)?);
        Ok(T::into_storage(affine_typed(&x, (&a, &b), None, c, s)))
    })
}

/// `(scale, shift)` from `[weight, bias, mean, var]`: `γ / sqrt(var + eps)`, `β - mean · scale`.
pub(crate) fn batch_norm_fold([w, b, m, v]: [View; 4], eps: f32) -> Result<[CpuStorage; 2]> {
    const OP: &str = "batch_norm_fold";
    with_float!(OP, w.0.dtype(), T => {
        let [w, b, m, v] = [data::<T>(OP, w)?, data::<T>(OP, b)?, data::<T>(OP, m)?, data::<T>(OP, v)?];
        let eps = T::from_f32(eps);
        let scale: Vec<T> = w.iter().zip(v.iter()).map(|(&w, &v)| w / (v + eps).sqrt()).collect();
        let shift = b.iter().zip(m.iter()).zip(&scale).map(|((&b, &m), &a)| b - m * a).collect();
        Ok([T::into_storage(scale), T::into_storage(shift)])
    })
}

/// `(dx, d_scale, d_shift)` of [`channel_affine`]: `dx = dy * scale[c]`, `d_scale = Σ dy x`
/// (only when `x` is given), `d_shift = Σ dy` per channel.
pub(crate) fn channel_affine_backward(
    dy: View,
    x: Option<View>,
    scale: View,
    [_, c, s]: [usize; 3],
) -> Result<(CpuStorage, Option<CpuStorage>, CpuStorage)> {
    const OP: &str = "channel_affine_backward";
    with_float!(OP, dy.0.dtype(), T => {
        let (dy, a) = (data::<T>(OP, dy)?, data::<T>(OP, scale)?);
        let dx = affine_typed(&dy, (&a, &vec![T::ZERO; c]), None, c, s);
        let dscale = match x {
            Some(x) => Some(stats::<T>(channel_dots(&dy, &data::<T>(OP, x)?, c, s))),
            None => None,
        };
        let dshift = stats::<T>(channel_sums(&dy, c, s, None));
        Ok((T::into_storage(dx), dscale, dshift))
    })
}
