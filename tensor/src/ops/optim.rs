//! Fused optimiser steps, in place: one pass over a parameter, its gradient and its state, no
//! temporary tensors. On the host the buffers are taken out of their tensors (no copy when
//! each tensor is the only owner of its storage) and updated in parallel chunks; on a GPU one
//! kernel updates them where they are. The arithmetic is fastai's: the decoupled weight
//! decay `p ← p · decay` (`decay = 1 - lr·wd`, Loshchilov & Hutter 2019) before the update.
use crate::{DType, Error, Result, Tensor};
use rayon::prelude::*;

/// Elements per parallel chunk; smaller tensors are updated on the calling thread.
const CHUNK: usize = 1 << 14;

pub use kernels::AdamStep;

/// One parameter's part of [`adamw_steps`]: the parameter, its gradient, its moments (all
/// updated in place but the gradient) and its step.
pub struct AdamUpdate<'a> {
    pub param: &'a mut Tensor,
    pub grad: &'a Tensor,
    pub m: &'a mut Tensor,
    pub v: &'a mut Tensor,
    pub step: AdamStep,
}

/// One SGD-with-momentum step: `buf ← first ? g : momentum · buf + g`,
/// `p ← p · decay - lr · buf` (PyTorch's SGD).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdStep {
    pub decay: f32,
    pub lr: f32,
    pub momentum: f32,
    pub first: bool,
}

/// Refuses operands that are not f32, not of one shape, or not on one device.
fn check(op: &'static str, ts: &[&Tensor]) -> Result<()> {
    let shape = ts[0].shape();
    for t in ts {
        if t.dtype() != DType::F32 {
            return Err(Error::DType {
                op,
                expected: DType::F32,
                got: t.dtype(),
            });
        }
        if t.shape() != shape {
            return Err(Error::shape(
                op,
                format!(
                    "parameter {shape:?} and its gradient or state {:?} differ",
                    t.shape()
                ),
            ));
        }
    }
    crate::cuda::gpu_of(op, ts).map(|_| ())
}

/// Takes the f32 buffer out of `t` (leaving an empty tensor) for an update on the host.
fn take(t: &mut Tensor) -> Result<Vec<f32>> {
    std::mem::replace(t, Tensor::zeros(&[0])).into_vec::<f32>()
}

/// Runs `f` over matching chunks of the parameter, its gradient and its `S` state buffers
/// (all of one length), in parallel when they are long.
fn chunked<const S: usize>(
    p: &mut [f32],
    g: &[f32],
    states: [&mut [f32]; S],
    f: impl Fn(&mut [f32], &[f32], [&mut [f32]; S]) + Sync,
) {
    let parallel = p.len() >= 2 * CHUNK;
    let mut split = states.map(|s| s.chunks_mut(CHUNK));
    let tasks: Vec<_> = p
        .chunks_mut(CHUNK)
        .zip(g.chunks(CHUNK))
        .map(|(p, g)| (p, g, split.each_mut().map(|s| s.next().unwrap_or_default())))
        .collect();
    if parallel {
        tasks.into_par_iter().for_each(|(p, g, s)| f(p, g, s));
    } else {
        tasks.into_iter().for_each(|(p, g, s)| f(p, g, s));
    }
}

impl Tensor {
    /// One AdamW step on `self` (a parameter) with gradient `grad` and moments `m`, `v`,
    /// all updated in place.
    pub fn adamw_step(
        &mut self,
        grad: &Tensor,
        m: &mut Tensor,
        v: &mut Tensor,
        h: AdamStep,
    ) -> Result<()> {
        adamw_steps(&mut [AdamUpdate {
            param: self,
            grad,
            m,
            v,
            step: h,
        }])
    }

    /// One SGD-with-momentum step on `self` with gradient `grad` and momentum buffer `buf`,
    /// both updated in place.
    pub fn sgd_step(&mut self, grad: &Tensor, buf: &mut Tensor, h: SgdStep) -> Result<()> {
        const OP: &str = "sgd_step";
        check(OP, &[self, grad, buf])?;
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self])? {
            let g = grad.cuda_f32(OP)?;
            let (p, b) = (self.cuda_unique(OP)?, buf.cuda_unique(OP)?);
            return gpu
                .sgd(p, &g.view(), b, (h.decay, h.lr, h.momentum), h.first)
                .map_err(crate::cuda::kernel_error(OP));
        }
        let shape = self.shape().to_vec();
        let (mut p, mut b) = (take(self)?, take(buf)?);
        let g = grad.contiguous_data::<f32>(OP)?;
        let SgdStep {
            decay,
            lr,
            momentum,
            first,
        } = h;
        chunked(&mut p, &g, [&mut b], |p, g, [b]| {
            for ((p, &g), b) in p.iter_mut().zip(g).zip(b.iter_mut()) {
                *b = if first { g } else { momentum * *b + g };
                *p = *p * decay - lr * *b;
            }
        });
        *self = Tensor::from_vec(p, &shape)?;
        *buf = Tensor::from_vec(b, &shape)?;
        Ok(())
    }
}

/// One AdamW step on each of `updates`, in place. Every update is checked before any
/// buffer is touched, so a refused call changes nothing. On a GPU one launch updates up to
/// [`kernels::ADAM_GROUP`] parameters (a Rossmann step's 35 take two), where one launch
/// each would cost more than the arithmetic of most of them.
pub fn adamw_steps(updates: &mut [AdamUpdate<'_>]) -> Result<()> {
    const OP: &str = "adamw_step";
    for u in updates.iter() {
        check(OP, &[u.param, u.grad, u.m, u.v])?;
    }
    let all: Vec<&Tensor> = updates.iter().map(|u| &*u.param).collect();
    if all.is_empty() {
        return Ok(());
    }
    if let Some(gpu) = crate::cuda::gpu_of(OP, &all)? {
        let grads = updates
            .iter()
            .map(|u| {
                let g: &Tensor = u.grad;
                g.cuda_f32(OP)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut params = Vec::with_capacity(updates.len());
        for (u, g) in updates.iter_mut().zip(&grads) {
            params.push(kernels::AdamParam {
                p: u.param.cuda_unique(OP)?,
                g: g.view(),
                m: u.m.cuda_unique(OP)?,
                v: u.v.cuda_unique(OP)?,
                step: u.step,
            });
        }
        return gpu
            .adamw(&mut params)
            .map_err(crate::cuda::kernel_error(OP));
    }
    for u in updates.iter_mut() {
        adamw_on_host(u)?;
    }
    Ok(())
}

fn adamw_on_host(u: &mut AdamUpdate<'_>) -> Result<()> {
    const OP: &str = "adamw_step";
    let shape = u.param.shape().to_vec();
    let (mut p, mut mv, mut vv) = (take(u.param)?, take(u.m)?, take(u.v)?);
    let g = u.grad.contiguous_data::<f32>(OP)?;
    let AdamStep {
        decay,
        beta1: b1,
        beta2: b2,
        step_size,
        eps,
    } = u.step;
    chunked(&mut p, &g, [&mut mv, &mut vv], |p, g, [m, v]| {
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *p = *p * decay - step_size * *m / (v.sqrt() + eps);
        }
    });
    *u.param = Tensor::from_vec(p, &shape)?;
    *u.m = Tensor::from_vec(mv, &shape)?;
    *u.v = Tensor::from_vec(vv, &shape)?;
    Ok(())
}
