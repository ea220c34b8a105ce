//! Softmax and log-softmax along one axis, computed the stable way: subtract the row's
//! maximum before exponentiating, so that e^x never overflows. Cross-entropy is
//! `-log_softmax(x)[target]`, which is why log-softmax is a primitive here and not
//! `log(softmax(x))` (that underflows to log(0) for confident predictions). The row's sum of
//! exponentials is accumulated in f64, for f32 and f64 tensors alike.
use crate::cpu::layout_data;
use crate::layout::check_dim;
use crate::{Float, Result, Tensor};
use rayon::prelude::*;

/// Runs `row_fn(row, out_row)` on every row of `t` along `dim`, in `T`.
fn along_last<T: Float>(
    op: &'static str,
    t: &Tensor,
    dim: usize,
    row_fn: impl Fn(&[T], &mut [T]) + Sync,
) -> Result<Tensor> {
    check_dim(op, dim, t.shape())?;
    let rank = t.rank();
    // Move `dim` last, as a view; rows of the result are then contiguous.
    let mut perm: Vec<usize> = (0..rank).filter(|&d| d != dim).collect();
    perm.push(dim);
    let moved = t.layout().permute(&perm)?;
    let data = layout_data(t.storage_slice::<T>(op)?, &moved);
    let len = t.shape()[dim];
    let mut out = T::output_buffer(data.len());
    if len > 0 {
        if data.len() >= crate::strided::PAR_THRESHOLD {
            out.par_chunks_mut(len)
                .zip(data.par_chunks(len))
                .for_each(|(o, x)| row_fn(x, o));
        } else {
            out.chunks_mut(len)
                .zip(data.chunks(len))
                .for_each(|(o, x)| row_fn(x, o));
        }
    }
    let result = Tensor::from_op(out, moved.shape());
    // Put `dim` back where it was.
    let mut inverse = vec![0; rank];
    for (i, &p) in perm.iter().enumerate() {
        inverse[p] = i;
    }
    result.permute(&inverse)?.contiguous()
}

fn row_max<T: Float>(x: &[T]) -> T {
    x.iter().copied().fold(T::NEG_INFINITY, T::max)
}

/// [`Tensor::log_softmax`] in `T`.
fn log_softmax<T: Float>(t: &Tensor, dim: usize) -> Result<Tensor> {
    along_last("log_softmax", t, dim, |x: &[T], out: &mut [T]| {
        let m = row_max(x);
        let log_sum = T::from_f64(x.iter().map(|&v| (v - m).to_f64().exp()).sum::<f64>().ln());
        for (o, &v) in out.iter_mut().zip(x) {
            *o = (v - m) - log_sum;
        }
    })
}

/// [`Tensor::softmax`] in `T`.
fn softmax<T: Float>(t: &Tensor, dim: usize) -> Result<Tensor> {
    along_last("softmax", t, dim, |x: &[T], out: &mut [T]| {
        let m = row_max(x);
        let mut total = 0f64;
        for (o, &v) in out.iter_mut().zip(x) {
            *o = (v - m).exp();
            total += o.to_f64();
        }
        let inv = T::from_f64(1.0 / total);
        out.iter_mut().for_each(|o| *o *= inv);
    })
}

impl Tensor {
    /// `(x - max) - log(sum(exp(x - max)))` along `dim`. The max is subtracted first and the
    /// log-sum on its own: folding them into one f32 `max + log(sum)` would round the small
    /// log-sum to the ulp of a large max, and the log-probability of a confident prediction
    /// (close to 0) would lose all its digits.
    pub fn log_softmax(&self, dim: usize) -> Result<Tensor> {
        if let Some(gpu) = crate::cuda::gpu_of("log_softmax", &[self])? {
            return crate::cuda::softmax(&gpu, "log_softmax", self, dim, true);
        }
        with_float!("log_softmax", self.dtype(), T => log_softmax::<T>(self, dim))
    }

    /// `exp(x - max) / sum(exp(x - max))` along `dim`.
    pub fn softmax(&self, dim: usize) -> Result<Tensor> {
        if let Some(gpu) = crate::cuda::gpu_of("softmax", &[self])? {
            return crate::cuda::softmax(&gpu, "softmax", self, dim, false);
        }
        with_float!("softmax", self.dtype(), T => softmax::<T>(self, dim))
    }
}
