//! Reverse mode: walk the tape from the last op to the first, turning the gradient of each
//! op's output into gradients of its inputs with the op's rule.
use crate::tape::VarId;
use crate::var::Var;
use crate::{Error, Result};
use std::collections::HashMap;
use tensor::Tensor;

/// The gradients a backward pass produced: one per leaf (parameter) reached, plus those of
/// the intermediate values asked for with [`crate::Tape::retain_grad`].
#[derive(Default, Debug)]
pub struct Gradients {
    map: HashMap<VarId, Tensor>,
}

impl Gradients {
    /// The gradient of the value with this id, if backward reached it.
    pub fn get(&self, id: VarId) -> Option<&Tensor> {
        self.map.get(&id)
    }
    /// The gradient of `v`, if backward reached it.
    pub fn of(&self, v: &Var) -> Option<&Tensor> {
        self.get(v.id())
    }
    /// Takes the gradient out (an optimiser consumes them).
    pub fn remove(&mut self, id: VarId) -> Option<Tensor> {
        self.map.remove(&id)
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&VarId, &Tensor)> {
        self.map.iter()
    }
}

impl Var {
    /// Gradients of this scalar (a loss) with respect to every leaf it depends on.
    pub fn backward(&self) -> Result<Gradients> {
        if self.tensor().elem_count() != 1 {
            return Err(Error::NotScalar {
                shape: self.shape().to_vec(),
            });
        }
        let seed = self.tensor().new_full(self.shape(), 1.0)?;
        self.backward_with(&seed)
    }

    /// Gradients given the gradient `seed` of this value (its shape).
    pub fn backward_with(&self, seed: &Tensor) -> Result<Gradients> {
        if seed.shape() != self.shape() || seed.dtype() != self.dtype() {
            return Err(Error::Seed {
                output: (self.shape().to_vec(), self.dtype()),
                seed: (seed.shape().to_vec(), seed.dtype()),
            });
        }
        let tape = match (self.tape(), self.is_tracked()) {
            (Some(t), true) => t.clone(),
            _ => return Err(Error::Untracked),
        };
        let inner = &tape.inner;
        if inner.consumed.replace(true) {
            return Err(Error::Consumed { op: "backward" });
        }
        let entries = std::mem::take(&mut *inner.entries.borrow_mut());
        let retained = inner.retained.borrow().clone();
        let leaves = inner.leaves.borrow().clone();
        let mut pending: HashMap<VarId, Tensor> = HashMap::new();
        pending.insert(self.id(), seed.clone());
        let mut out = Gradients::default();
        for entry in entries.into_iter().rev() {
            // An op whose output did not reach the seed contributes nothing; dropping its
            // rule here frees what it saved.
            let Some(g) = pending.remove(&entry.output) else {
                continue;
            };
            if retained.contains(&entry.output) {
                out.map.insert(entry.output, g.clone());
            }
            let grads = (entry.rule)(&g)?;
            for ((id, tracked, shape), grad) in entry.inputs.iter().zip(grads) {
                if let (true, Some(grad)) = (tracked, grad) {
                    if grad.shape() != shape.as_slice() {
                        return Err(Error::RuleShape {
                            op: entry.op,
                            grad: grad.shape().to_vec(),
                            input: shape.clone(),
                        });
                    }
                    accumulate(&mut pending, *id, grad)?;
                }
            }
        }
        for (id, g) in pending {
            if leaves.contains(&id) || retained.contains(&id) {
                out.map.insert(id, g);
            }
        }
        Ok(out)
    }
}

/// Adds `grad` into the pending gradient of `id` (a value used by several ops gets the sum).
fn accumulate(pending: &mut HashMap<VarId, Tensor>, id: VarId, grad: Tensor) -> Result<()> {
    let total = match pending.remove(&id) {
        Some(prev) => prev.add(&grad)?,
        None => grad,
    };
    pending.insert(id, total);
    Ok(())
}
