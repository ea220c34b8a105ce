//! Fused optimiser steps on the host, in place: one pass over a parameter, its gradient and
//! its state, in parallel chunks for long tensors. The arithmetic is fastai's: the decoupled
//! weight decay `p ← p · decay` (`decay = 1 - lr·wd`, Loshchilov & Hutter 2019) before the
//! update.
use super::{layout_data, CpuStorage, View};
use crate::params::{AdamBuffers, SgdStep};
use crate::{DType, Error, Result};
use kernels::AdamStep;
use rayon::prelude::*;

/// Elements per parallel chunk; smaller tensors are updated on the calling thread.
const CHUNK: usize = 1 << 14;

/// The f32 elements of storage updated in place.
fn f32_mut<'a>(op: &'static str, s: &'a mut CpuStorage) -> Result<&'a mut [f32]> {
    let got = s.dtype();
    match s {
        CpuStorage::F32(v) => Ok(v),
        _ => Err(Error::DType {
            op,
            expected: DType::F32,
            got,
        }),
    }
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

pub(crate) fn sgd_step(
    p: &mut CpuStorage,
    (g, lg): View,
    buf: &mut CpuStorage,
    h: SgdStep,
) -> Result<()> {
    const OP: &str = "sgd_step";
    let g = layout_data(g.slice::<f32>(OP)?, lg);
    let SgdStep {
        decay,
        lr,
        momentum,
        first,
    } = h;
    chunked(f32_mut(OP, p)?, &g, [f32_mut(OP, buf)?], |p, g, [b]| {
        for ((p, &g), b) in p.iter_mut().zip(g).zip(b.iter_mut()) {
            *b = if first { g } else { momentum * *b + g };
            *p = *p * decay - lr * *b;
        }
    });
    Ok(())
}

pub(crate) fn adamw_steps(updates: Vec<AdamBuffers<'_, CpuStorage>>) -> Result<()> {
    const OP: &str = "adamw_step";
    for u in updates {
        let g = layout_data(u.g.0.slice::<f32>(OP)?, u.g.1);
        let AdamStep {
            decay,
            beta1: b1,
            beta2: b2,
            step_size,
            eps,
        } = u.step;
        let states = [f32_mut(OP, u.m)?, f32_mut(OP, u.v)?];
        chunked(f32_mut(OP, u.p)?, &g, states, |p, g, [m, v]| {
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                *p = *p * decay - step_size * *m / (v.sqrt() + eps);
            }
        });
    }
    Ok(())
}
