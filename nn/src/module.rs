//! What every layer is: a [`Module`] maps a var to a var in a [`Mode`], and shows its
//! parameters and buffers under the names PyTorch gives them in a state dict (`weight`,
//! `bias`, `running_mean`, prefixed by the path of the layer: `layers.0.weight`).
use autograd::{Result, Tape, Var, VarId};
use std::cell::{Cell, RefCell};
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

/// One named entry of a module's state.
pub enum Entry<'a> {
    Param(&'a Param),
    Buffer(&'a Buffer),
}

/// A layer or a model.
pub trait Module {
    /// The forward pass.
    fn forward(&self, x: &Var, mode: Mode) -> Result<Var>;

    /// Calls `f` with the state-dict name (`prefix` + the entry's own name) of every
    /// parameter and buffer, in PyTorch's order.
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'a>));

    /// A short description for `summary()` (`Linear(in_features=233, out_features=1000)`).
    fn describe(&self) -> String;

    /// The forward pass, recording a [`SummaryRow`] per layer under `name` (what
    /// `learn.summary()` prints). Containers record their children instead of themselves.
    fn trace(&self, x: &Var, mode: Mode, name: &str, rows: &mut Vec<SummaryRow>) -> Result<Var> {
        let y = self.forward(x, mode)?;
        let params = named_params(self);
        rows.push(SummaryRow {
            name: name.to_string(),
            layer: self.describe(),
            output_shape: y.shape().to_vec(),
            params: params.iter().map(|(_, p)| p.value().elem_count()).sum(),
            trainable: params.iter().all(|(_, p)| p.is_trainable()),
        });
        Ok(y)
    }
}

/// One line of a model summary.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    pub name: String,
    pub layer: String,
    pub output_shape: Vec<usize>,
    pub params: usize,
    pub trainable: bool,
}

/// Joins a state-dict prefix and a name: `join("layers.0", "weight") == "layers.0.weight"`.
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Every parameter of `m` with its state-dict name.
pub fn named_params<M: Module + ?Sized>(m: &M) -> Vec<(String, &Param)> {
    let mut out = Vec::new();
    m.visit("", &mut |name, e| {
        if let Entry::Param(p) = e {
            out.push((name.to_string(), p));
        }
    });
    out
}

/// Moves every parameter and every float buffer of `m` to `device` (PyTorch's
/// `model.to(device)`); integer buffers (batch norm's `num_batches_tracked`) are counted on
/// the host, not computed with, and stay there. Moves nothing unless every tensor can move.
pub fn to_device<M: Module + ?Sized>(m: &M, device: tensor::Device) -> tensor::Result<()> {
    let mut moved = Vec::new();
    let mut failed = None;
    m.visit("", &mut |_, e| {
        let value = match &e {
            Entry::Param(p) => p.value(),
            Entry::Buffer(b) => b.value(),
        };
        if value.dtype() == tensor::DType::I64 || failed.is_some() {
            return;
        }
        match value.to_device(device) {
            Ok(t) => moved.push((e, t)),
            Err(err) => failed = Some(err),
        }
    });
    if let Some(err) = failed {
        return Err(err);
    }
    for (e, t) in moved {
        match e {
            Entry::Param(p) => p.set(t),
            Entry::Buffer(b) => b.set(t),
        }
    }
    Ok(())
}

/// Number of learnable scalars in `m`.
pub fn param_count<M: Module + ?Sized>(m: &M) -> usize {
    named_params(m)
        .iter()
        .map(|(_, p)| p.value().elem_count())
        .sum()
}
