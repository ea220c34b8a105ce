//! Forward hooks, fastai's `hook_output(m)`: a [`Hook`] stores the output of one module each
//! time it runs (and, asked for, keeps its gradient on the tape), so that a heat map can
//! look at the body's activations and Grad-CAM at the gradient flowing into them, without
//! changing the model. A hook is removed when it is dropped, so it never keeps storing (and
//! holding activations) after use, the leak fastai's `with hook_output(...)` guards against.
//!
//! Hooks fire when a hooked module runs through [`forward`], which [`crate::layers::Sequential`]
//! uses for each of its layers: hook `model.layers[0]` to see the body of fastai's
//! `Sequential[body, head]`, as the lesson's `hook_output(m[0])`. A module is known by its
//! address, so a module of zero size (`ReLU`, `Flatten`), which has none of its own, cannot
//! be told from another of its kind: hook the block around it instead.
use crate::module::{Layer, Mode};
use autograd::{Gradients, Result, Var};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// What a hook has stored: the latest output, and whether to keep its gradient.
struct Slot {
    output: RefCell<Option<Var>>,
    grad: bool,
}

thread_local! {
    /// Live hooks: (the hooked module's address, the hook's id, its slot).
    static HOOKS: RefCell<Vec<(usize, u64, Rc<Slot>)>> = const { RefCell::new(Vec::new()) };
    static NEXT_ID: Cell<u64> = const { Cell::new(0) };
}

/// A module's identity: the address of its data (the same for `&m` and a `Box`'s contents).
fn address(m: &dyn Layer) -> usize {
    m as *const dyn Layer as *const () as usize
}

/// A registered forward hook on one module; removed when dropped.
pub struct Hook {
    id: u64,
    slot: Rc<Slot>,
}

/// Hooks `module`'s output. With `grad`, the output's gradient is kept when a backward pass
/// runs through it (read it with [`Hook::grad`]).
pub fn hook_output(module: &dyn Layer, grad: bool) -> Hook {
    let id = NEXT_ID.with(|n| {
        n.set(n.get() + 1);
        n.get()
    });
    let slot = Rc::new(Slot {
        output: RefCell::new(None),
        grad,
    });
    HOOKS.with(|h| h.borrow_mut().push((address(module), id, slot.clone())));
    Hook { id, slot }
}

impl Hook {
    /// The output of the hooked module's latest forward pass, if it ran since the hook was
    /// made.
    pub fn stored(&self) -> Option<Var> {
        self.slot.output.borrow().clone()
    }

    /// The gradient of the stored output in `grads` (a hook made with `grad`, after a backward
    /// pass through it).
    pub fn grad<'g>(&self, grads: &'g Gradients) -> Option<&'g tensor::Tensor> {
        self.slot.output.borrow().as_ref().and_then(|v| grads.of(v))
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        let id = self.id;
        // `try_with`: a hook dropped while the thread is exiting has nothing left to remove.
        let _ = HOOKS.try_with(|h| h.borrow_mut().retain(|(_, i, _)| *i != id));
    }
}

/// How many hooks are registered on this thread (every [`Hook`] not yet dropped).
pub fn live_hooks() -> usize {
    HOOKS.with(|h| h.borrow().len())
}

/// Runs `module` and hands its output to the hooks on it.
pub fn forward(module: &dyn Layer, x: Var, mode: Mode) -> Result<Var> {
    let y = module.forward(x, mode)?;
    let at = address(module);
    HOOKS.with(|h| {
        for (_, _, slot) in h.borrow().iter().filter(|(a, _, _)| *a == at) {
            if slot.grad {
                if let Some(tape) = y.tape() {
                    tape.retain_grad(&y);
                }
            }
            *slot.output.borrow_mut() = Some(y.clone());
        }
    });
    Ok(y)
}
