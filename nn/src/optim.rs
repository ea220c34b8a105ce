//! Optimisers: SGD with momentum and AdamW, with fastai's decoupled ("true") weight decay:
//! before the step, every parameter with a gradient is shrunk, `p ← p (1 - lr·wd)`
//! (Loshchilov & Hutter, "Decoupled weight decay regularization", 2019; LESSON6.md A7).
//!
//! Each step is fused per parameter: one pass over the parameter, its gradient and its state,
//! no temporary tensors, in parallel chunks for large parameters, and in place: the
//! parameter's buffer is taken out of it, updated and put back.
use crate::module::Param;
use autograd::{Gradients, Result, VarId};
use rayon::prelude::*;
use std::collections::HashMap;

/// One chunk of (parameter, gradient, first moment, second moment), as rayon zips them.
type AdamChunk<'a> = (((&'a mut [f32], &'a [f32]), &'a mut [f32]), &'a mut [f32]);

/// Elements per parallel chunk; smaller parameters are updated on the calling thread.
const CHUNK: usize = 1 << 14;

/// The gradient of `param` as contiguous f32, if it has one and is trainable.
fn grad_of<'g>(param: &Param, grads: &'g Gradients) -> Result<Option<std::borrow::Cow<'g, [f32]>>> {
    if !param.is_trainable() {
        return Ok(None);
    }
    match grads.get(param.id()) {
        Some(g) => Ok(Some(g.contiguous_data::<f32>("optimizer step")?)),
        None => Ok(None),
    }
}

/// Runs `f` on the parameter's values as a mutable slice, writing them back afterwards.
fn update_in_place(param: &Param, f: impl FnOnce(&mut [f32])) -> Result<()> {
    let value = param.take();
    let shape = value.shape().to_vec();
    let mut p = value.into_vec::<f32>()?;
    f(&mut p);
    param.set(tensor::Tensor::from_vec(p, &shape)?);
    Ok(())
}

/// SGD with momentum as PyTorch's: `buf ← momentum·buf + g` (the first step `buf = g`),
/// `p ← p - lr·buf`, after the decoupled weight decay.
#[derive(Debug, Default)]
pub struct Sgd {
    pub momentum: f32,
    pub wd: f32,
    buffers: HashMap<VarId, Vec<f32>>,
}

impl Sgd {
    pub fn new(momentum: f32, wd: f32) -> Self {
        Sgd {
            momentum,
            wd,
            buffers: HashMap::new(),
        }
    }

    /// One step on `params` with learning rate `lr`.
    pub fn step(&mut self, params: &[&Param], grads: &Gradients, lr: f32) -> Result<()> {
        for param in params {
            let Some(g) = grad_of(param, grads)? else {
                continue;
            };
            let (mom, decay) = (self.momentum, 1.0 - lr * self.wd);
            let first = !self.buffers.contains_key(&param.id());
            let buf = self
                .buffers
                .entry(param.id())
                .or_insert_with(|| vec![0.0; g.len()]);
            update_in_place(param, |p| {
                let step = |((p, g), b): ((&mut [f32], &[f32]), &mut [f32])| {
                    for ((p, &g), b) in p.iter_mut().zip(g).zip(b.iter_mut()) {
                        *b = if first { g } else { mom * *b + g };
                        *p = *p * decay - lr * *b;
                    }
                };
                if p.len() >= 2 * CHUNK {
                    p.par_chunks_mut(CHUNK)
                        .zip(g.par_chunks(CHUNK))
                        .zip(buf.par_chunks_mut(CHUNK))
                        .for_each(step);
                } else {
                    step(((p, &g[..]), &mut buf[..]));
                }
            })?;
        }
        Ok(())
    }
}

/// AdamW as fastai v1 runs it for lesson 6 (PyTorch 1.0's Adam after a decoupled weight
/// decay): `m ← β1 m + (1-β1) g`, `v ← β2 v + (1-β2) g²`,
/// `p ← p - lr·sqrt(1-β2^t)/(1-β1^t) · m / (sqrt(v) + eps)`. β1 is the scheduled momentum.
#[derive(Debug)]
pub struct AdamW {
    pub beta2: f32,
    pub eps: f32,
    pub wd: f32,
    state: HashMap<VarId, AdamState>,
}

#[derive(Debug)]
struct AdamState {
    m: Vec<f32>,
    v: Vec<f32>,
    step: i32,
}

impl AdamW {
    /// fastai's defaults: β2 = 0.99, eps = 1e-8, and weight decay `wd` (1e-2 by default).
    pub fn new(wd: f32) -> Self {
        AdamW {
            beta2: 0.99,
            eps: 1e-8,
            wd,
            state: HashMap::new(),
        }
    }

    /// One step on `params` with learning rate `lr` and β1 = `beta1` (the momentum the
    /// one-cycle schedule moves between 0.95 and 0.85; 0.9 without a schedule).
    pub fn step(
        &mut self,
        params: &[&Param],
        grads: &Gradients,
        lr: f32,
        beta1: f32,
    ) -> Result<()> {
        for param in params {
            let Some(g) = grad_of(param, grads)? else {
                continue;
            };
            let st = self.state.entry(param.id()).or_insert_with(|| AdamState {
                m: vec![0.0; g.len()],
                v: vec![0.0; g.len()],
                step: 0,
            });
            st.step += 1;
            let (b1, b2, eps) = (beta1, self.beta2, self.eps);
            let decay = 1.0 - lr * self.wd;
            let step_size = lr * (1.0 - b2.powi(st.step)).sqrt() / (1.0 - b1.powi(st.step));
            update_in_place(param, |p| {
                let step = |(((p, g), m), v): AdamChunk<'_>| {
                    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut())
                    {
                        *m = b1 * *m + (1.0 - b1) * g;
                        *v = b2 * *v + (1.0 - b2) * g * g;
                        *p = *p * decay - step_size * *m / (v.sqrt() + eps);
                    }
                };
                if p.len() >= 2 * CHUNK {
                    p.par_chunks_mut(CHUNK)
                        .zip(g.par_chunks(CHUNK))
                        .zip(st.m.par_chunks_mut(CHUNK))
                        .zip(st.v.par_chunks_mut(CHUNK))
                        .for_each(step);
                } else {
                    step((((p, &g[..]), &mut st.m[..]), &mut st.v[..]));
                }
            })?;
        }
        Ok(())
    }
}
