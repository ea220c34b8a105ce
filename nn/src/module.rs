//! What every layer is: a [`Module`] maps its input to an output in a [`Mode`], with
//! [`Param`]s (learnable) and [`Buffer`]s (kept between steps) that the model's
//! [`crate::vars::Vars`] names.
use autograd::{Result, Tape, Var, VarId};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use tensor::Tensor;

/// Training or inference: dropout and batch norm behave differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// A learnable tensor with a stable identity: each step puts it on that step's tape as a leaf
/// with the same [`VarId`], so its gradient is found under the same id every time. The value
/// sits in a `RefCell` so that an optimiser can update it through a shared reference.
#[derive(Debug)]
pub struct Param {
    id: VarId,
    value: RefCell<Tensor>,
    trainable: Cell<bool>,
}

impl Param {
    pub fn new(value: Tensor) -> Self {
        Param {
            id: VarId::new(),
            value: RefCell::new(value),
            trainable: Cell::new(true),
        }
    }
    pub fn id(&self) -> VarId {
        self.id
    }
    /// The current value (a cheap handle, not a copy of the data).
    pub fn value(&self) -> Tensor {
        self.value.borrow().clone()
    }
    /// Replaces the value (an optimiser step, a checkpoint load).
    pub fn set(&self, value: Tensor) {
        *self.value.borrow_mut() = value;
    }
    /// Takes the value out, leaving an empty tensor, so that an in-place update can own the
    /// only handle to its buffer; put it back with [`Param::set`].
    pub fn take(&self) -> Tensor {
        self.value.replace(Tensor::zeros(&[0]))
    }
    /// Whether the optimiser updates it (false for a frozen layer).
    pub fn is_trainable(&self) -> bool {
        self.trainable.get()
    }
    pub fn set_trainable(&self, on: bool) {
        self.trainable.set(on);
    }
    /// The parameter as a var for a forward pass next to `x`: a leaf on `x`'s tape when it
    /// is trainable and `x` has a tape, otherwise a constant.
    pub fn var_for(&self, x: &Var) -> Var {
        match (x.tape(), self.is_trainable()) {
            (Some(tape), true) => tape.leaf(self.value(), self.id),
            (Some(tape), false) => tape.input(self.value()),
            (None, _) => Var::constant(self.value()),
        }
    }
    /// The parameter as a leaf on `tape`.
    pub fn leaf(&self, tape: &Tape) -> Var {
        tape.leaf(self.value(), self.id)
    }
}

/// A non-learnable tensor a layer keeps between steps (batch norm's running statistics).
#[derive(Debug)]
pub struct Buffer {
    value: RefCell<Tensor>,
}

impl Buffer {
    pub fn new(value: Tensor) -> Self {
        Buffer {
            value: RefCell::new(value),
        }
    }
    pub fn value(&self) -> Tensor {
        self.value.borrow().clone()
    }
    pub fn set(&self, value: Tensor) {
        *self.value.borrow_mut() = value;
    }
    /// Takes the value out, leaving an empty tensor, so that an in-place update can own the
    /// only handle to its buffer; put it back with [`Buffer::set`].
    pub fn take(&self) -> Tensor {
        self.value.replace(Tensor::zeros(&[0]))
    }
}

/// A layer or a model: maps its `Input` (a var; a tabular model's categorical codes and
/// continuous values) to its output in a [`Mode`]. It shows its configuration (`Display`,
/// PyTorch's `repr`: `Linear(in_features=233, out_features=1000, bias=true)`), the line
/// `summary()` prints for it. Its parameters are not its to name: they are named where it is
/// built (see [`crate::vars`]).
pub trait Module<Input>: fmt::Display {
    type Output;
    /// The forward pass.
    fn forward(&self, x: Input, mode: Mode) -> Result<Self::Output>;
}

/// A module from one var to one var, what a [`crate::layers::Sequential`] holds (`Any`, so
/// that a summary can tell a nested `Sequential` from a layer).
pub trait Layer: Module<Var, Output = Var> + Any {}

impl<T: Module<Var, Output = Var> + Any> Layer for T {}
