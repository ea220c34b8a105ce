//! Fused optimiser steps on the GPU, in place: one launch updates a parameter and its state
//! (SGD), or up to [`kernels::ADAM_GROUP`] parameters at once (AdamW: a Rossmann step's 35
//! take two launches, where one each would cost more than the arithmetic of most of them).
use super::{kernel_error, CudaStorage, View};
use crate::params::{AdamBuffers, SgdStep};
use crate::Result;

pub(crate) fn sgd_step(
    p: &mut CudaStorage,
    (g, lg): View,
    buf: &mut CudaStorage,
    h: SgdStep,
) -> Result<()> {
    const OP: &str = "sgd_step";
    let gpu = p.gpu().clone();
    let g = g.f32_rows(OP, lg)?;
    let (p, b) = (p.f32_buffer_mut(OP)?, buf.f32_buffer_mut(OP)?);
    gpu.sgd(p, &g.view(), b, (h.decay, h.lr, h.momentum), h.first)
        .map_err(kernel_error(OP))
}

pub(crate) fn adamw_steps(updates: Vec<AdamBuffers<'_, CudaStorage>>) -> Result<()> {
    const OP: &str = "adamw_step";
    let Some(gpu) = updates.first().map(|u| u.g.0.gpu().clone()) else {
        return Ok(());
    };
    let grads = updates
        .iter()
        .map(|u| u.g.0.f32_rows(OP, u.g.1))
        .collect::<Result<Vec<_>>>()?;
    let mut params = Vec::with_capacity(updates.len());
    for (u, g) in updates.into_iter().zip(&grads) {
        params.push(kernels::AdamParam {
            p: u.p.f32_buffer_mut(OP)?,
            g: g.view(),
            m: u.m.f32_buffer_mut(OP)?,
            v: u.v.f32_buffer_mut(OP)?,
            step: u.step,
        });
    }
    gpu.adamw(&mut params).map_err(kernel_error(OP))
}
