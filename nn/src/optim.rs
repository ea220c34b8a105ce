//! Optimisers: SGD with momentum and AdamW, with fastai's decoupled ("true") weight decay:
//! before the step, every parameter with a gradient is shrunk, `p ← p (1 - lr·wd)` (Loshchilov
//! & Hutter, "Decoupled weight decay regularization", 2019; docs/lesson6.md, AdamW and weight
//! decay).
//!
//! Each step is fused per parameter: one pass over the parameter, its gradient and its state,
//! no temporary tensors, in place, on the device the parameter lives on (the tensor ops
//! `adamw_steps` and `sgd_step`: parallel chunks on the host; on a GPU one kernel, and for
//! AdamW one kernel for a group of up to 24 parameters). The state
//! is kept as tensors beside the parameters, on their device.
use crate::module::Param;
use autograd::{Gradients, Result, VarId};
use std::collections::hash_map::{Entry, HashMap};
use tensor::{AdamStep, AdamUpdate, SgdStep, Tensor};

/// The gradient of `param`, if it has one and is trainable.
fn grad_of(param: &Param, grads: &Gradients) -> Option<Tensor> {
    if !param.is_trainable() {
        return None;
    }
    grads.get(param.id()).cloned()
}

/// Zeros shaped, typed and placed like `param`'s value: fresh optimiser state.
fn zeros_like(param: &Param) -> Result<Tensor> {
    let p = param.value();
    Ok(p.new_full(p.shape(), 0.0)?)
}

/// Runs `f` on the parameter's value, taken out so that it is the only owner of its
/// buffer (an update in place, without a copy), and puts it back. The steps check their
/// operands before they touch a buffer, so a refused step leaves the value as it was.
fn update(param: &Param, f: impl FnOnce(&mut Tensor) -> tensor::Result<()>) -> Result<()> {
    let mut value = param.take();
    let result = f(&mut value);
    param.set(value);
    Ok(result?)
}

/// SGD with momentum as PyTorch's: `buf ← momentum·buf + g` (the first step `buf = g`),
/// `p ← p - lr·buf`, after the decoupled weight decay.
#[derive(Debug, Default)]
pub struct Sgd {
    pub momentum: f32,
    pub wd: f32,
    buffers: HashMap<VarId, Tensor>,
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
            let Some(g) = grad_of(param, grads) else {
                continue;
            };
            let first = !self.buffers.contains_key(&param.id());
            let buf = match self.buffers.entry(param.id()) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(zeros_like(param)?),
            };
            let h = SgdStep {
                decay: 1.0 - lr * self.wd,
                lr,
                momentum: self.momentum,
                first,
            };
            update(param, |p| p.sgd_step(&g, buf, h))?;
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
    m: Tensor,
    v: Tensor,
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
    /// one-cycle schedule moves between 0.95 and 0.85; 0.9 without a schedule), all
    /// parameters in one call of `adamw_steps` (two launches for Rossmann's 35 on a GPU).
    pub fn step(
        &mut self,
        params: &[&Param],
        grads: &Gradients,
        lr: f32,
        beta1: f32,
    ) -> Result<()> {
        // Each trainable parameter with a gradient and its state: fresh zeros on its first
        // step (made first, so that a failure leaves every state in the map), then taken out
        // of the map while the step borrows it.
        let with_grads: Vec<(&Param, Tensor)> = params
            .iter()
            .filter_map(|p| grad_of(p, grads).map(|g| (*p, g)))
            .collect();
        for (param, _) in &with_grads {
            if let Entry::Vacant(e) = self.state.entry(param.id()) {
                e.insert(AdamState {
                    m: zeros_like(param)?,
                    v: zeros_like(param)?,
                    step: 0,
                });
            }
        }
        let mut work: Vec<(&Param, Tensor, AdamState)> = with_grads
            .into_iter()
            .filter_map(|(p, g)| self.state.remove(&p.id()).map(|st| (p, g, st)))
            .collect();
        // Values taken out, so that each is the only owner of its buffer (in place, no copy).
        let mut values: Vec<Tensor> = work.iter().map(|(p, _, _)| p.take()).collect();
        let (b2, eps, wd) = (self.beta2, self.eps, self.wd);
        let mut updates: Vec<AdamUpdate> = work
            .iter_mut()
            .zip(&mut values)
            .map(|((_, g, st), value)| {
                let t = st.step + 1;
                AdamUpdate {
                    param: value,
                    grad: g,
                    m: &mut st.m,
                    v: &mut st.v,
                    step: AdamStep {
                        decay: 1.0 - lr * wd,
                        beta1,
                        beta2: b2,
                        step_size: lr * (1.0 - b2.powi(t)).sqrt() / (1.0 - beta1.powi(t)),
                        eps,
                    },
                }
            })
            .collect();
        // The step checks every operand before it touches a buffer: refused, it leaves
        // values and state as they were, and the step count does not move.
        let result = tensor::adamw_steps(&mut updates);
        drop(updates);
        for ((param, _, mut st), value) in work.into_iter().zip(values) {
            param.set(value);
            if result.is_ok() {
                st.step += 1;
            }
            self.state.insert(param.id(), st);
        }
        Ok(result?)
    }
}
