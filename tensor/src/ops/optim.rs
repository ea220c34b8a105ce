//! Fused optimiser steps, in place: one pass over a parameter, its gradient and its state, no
//! temporary tensors (`cpu/optim.rs`, `cuda/optim.rs`). A tensor updated in place is its
//! storage's only owner and covers it exactly, or is first replaced by its own copy. The
//! arithmetic is fastai's: the decoupled weight decay `p ← p · decay` (`decay = 1 - lr·wd`,
//! Loshchilov & Hutter 2019) before the update.
use crate::params::AdamBuffers;
use crate::{DType, Error, Result, Storage, Tensor};

pub use crate::params::SgdStep;
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
            return Err(Error::shapes(
                op,
                &[shape, t.shape()],
                "a parameter and its gradient or state of one shape",
            ));
        }
        if t.device() != ts[0].device() {
            return Err(ts[0].storage().mismatch(op, &[t.storage()]));
        }
    }
    Ok(())
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
        check("sgd_step", &[self, grad, buf])?;
        Storage::sgd_step(
            self.storage_for_update()?,
            grad.view(),
            buf.storage_for_update()?,
            h,
        )
    }
}

/// One AdamW step on each of `updates`, in place. Every update is checked before any
/// buffer is touched, so a refused call changes nothing.
pub fn adamw_steps(updates: &mut [AdamUpdate<'_>]) -> Result<()> {
    const OP: &str = "adamw_step";
    for u in updates.iter() {
        check(OP, &[u.param, u.grad, u.m, u.v])?;
        if u.param.device() != updates[0].param.device() {
            return Err(updates[0]
                .param
                .storage()
                .mismatch(OP, &[u.param.storage()]));
        }
    }
    let mut buffers = Vec::with_capacity(updates.len());
    for u in updates.iter_mut() {
        buffers.push(AdamBuffers {
            p: u.param.storage_for_update()?,
            g: u.grad.view(),
            m: u.m.storage_for_update()?,
            v: u.v.storage_for_update()?,
            step: u.step,
        });
    }
    Storage::adamw_steps(buffers)
}
