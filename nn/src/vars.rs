//! Where parameter names come from: the place a layer is built. A model is built from a
//! [`Path`] (candle's `VarBuilder::pp`): `Linear::new(p.pp("layers").pp(0), 233, 1000, true)`
//! registers `layers.0.weight` and `layers.0.bias` in the model's [`Vars`], the store that
//! records every [`Param`] and [`Buffer`] under its state-dict name in creation order. So a
//! model built in PyTorch's order has PyTorch's state dict, and everything that works on
//! parameters by name (saving, loading, freezing, layer groups, moving to a GPU) reads the
//! store instead of asking each layer.
use crate::init::Init;
use crate::module::{Buffer, Param};
use crate::{Error, Result};
use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use tensor::{Device, Tensor};

/// One named entry of a model's state.
#[derive(Clone)]
pub enum Entry {
    Param(Rc<Param>),
    Buffer(Rc<Buffer>),
}

impl Entry {
    pub fn value(&self) -> Tensor {
        match self {
            Entry::Param(p) => p.value(),
            Entry::Buffer(b) => b.value(),
        }
    }
    pub fn set(&self, value: Tensor) {
        match self {
            Entry::Param(p) => p.set(value),
            Entry::Buffer(b) => b.set(value),
        }
    }
}

struct Store {
    /// The random streams the layers are initialised from, in creation order.
    init: Init,
    entries: RefCell<Vec<(String, Entry)>>,
}

/// A model's named parameters and buffers: a cheap handle, shared by every [`Path`] into it.
#[derive(Clone)]
pub struct Vars(Rc<Store>);

impl Vars {
    /// An empty store whose layers are initialised from `seed` (see [`Init`]).
    pub fn new(seed: u64) -> Self {
        Vars(Rc::new(Store {
            init: Init::new(seed),
            entries: RefCell::new(Vec::new()),
        }))
    }

    /// The path of the model itself (names without a prefix).
    pub fn root(&self) -> Path {
        Path {
            vars: self.clone(),
            prefix: String::new(),
        }
    }

    /// Every entry with its name, in creation order (PyTorch's `state_dict()` order).
    pub fn entries(&self) -> Vec<(String, Entry)> {
        self.0.entries.borrow().clone()
    }

    /// Every parameter with its name, in order (PyTorch's `named_parameters()`).
    pub fn params(&self) -> Vec<(String, Rc<Param>)> {
        let entries = self.0.entries.borrow();
        let params = entries.iter().filter_map(|(name, e)| match e {
            Entry::Param(p) => Some((name.clone(), p.clone())),
            Entry::Buffer(_) => None,
        });
        params.collect()
    }

    /// Number of learnable scalars.
    pub fn param_count(&self) -> usize {
        self.params()
            .iter()
            .map(|(_, p)| p.value().elem_count())
            .sum()
    }

    /// Moves every parameter and every float buffer to `device` (PyTorch's
    /// `model.to(device)`); integer buffers (batch norm's `num_batches_tracked`) are counted
    /// on the host, not computed with, and stay there. Moves nothing unless everything can.
    pub fn to_device(&self, device: Device) -> tensor::Result<()> {
        let floats: Vec<Entry> = (self.entries().into_iter())
            .map(|(_, e)| e)
            .filter(|e| e.value().dtype() != tensor::DType::I64)
            .collect();
        let moved = (floats.iter())
            .map(|e| e.value().to_device(device))
            .collect::<tensor::Result<Vec<_>>>()?;
        for (e, t) in floats.iter().zip(moved) {
            e.set(t);
        }
        Ok(())
    }

    /// Renames the entries by `rename`, dropping those it gives no name (fastai's
    /// `create_body` renaming torchvision's children `0`, `1`, ... and leaving out the
    /// classifier). A new name taken twice is refused, and nothing is renamed.
    pub fn rename(&self, rename: impl Fn(&str) -> Option<String>) -> Result<()> {
        let mut renamed: Vec<(String, Entry)> = Vec::new();
        for (name, e) in self.entries() {
            if let Some(new) = rename(&name) {
                check_unique(&renamed, &new)?;
                renamed.push((new, e));
            }
        }
        *self.0.entries.borrow_mut() = renamed;
        Ok(())
    }

    fn add(&self, name: String, e: Entry) -> Result<()> {
        let mut entries = self.0.entries.borrow_mut();
        check_unique(&entries, &name)?;
        entries.push((name, e));
        Ok(())
    }
}

/// Refuses `name` when `entries` already has it: two layers built at one path are a
/// mistake, which a silent overwrite would hide until a checkpoint failed to load.
fn check_unique(entries: &[(String, Entry)], name: &str) -> Result<()> {
    if entries.iter().any(|(n, _)| n == name) {
        return Err(Error::DuplicateName(name.to_string()));
    }
    Ok(())
}

/// A place in a model (`layers.0`) where a layer registers its parameters and buffers.
#[derive(Clone)]
pub struct Path {
    vars: Vars,
    prefix: String,
}

impl Path {
    /// The path one level down: `p.pp("layers").pp(0)` is `layers.0`.
    pub fn pp(&self, name: impl fmt::Display) -> Path {
        Path {
            vars: self.vars.clone(),
            prefix: self.join(&name.to_string()),
        }
    }

    /// The path's name (`layers.0`; empty at the root).
    pub fn name(&self) -> &str {
        &self.prefix
    }

    /// The store the path leads into.
    pub fn vars(&self) -> &Vars {
        &self.vars
    }

    /// The model's random streams, for a layer's initial values.
    pub fn init(&self) -> &Init {
        &self.vars.0.init
    }

    /// Registers `value` as the parameter `name` here (`layers.0` + `weight`).
    pub fn param(&self, name: &str, value: Tensor) -> Result<Rc<Param>> {
        let p = Rc::new(Param::new(value));
        self.vars.add(self.join(name), Entry::Param(p.clone()))?;
        Ok(p)
    }

    /// Registers `value` as the buffer `name` here (`bn_cont` + `running_mean`).
    pub fn buffer(&self, name: &str, value: Tensor) -> Result<Rc<Buffer>> {
        let b = Rc::new(Buffer::new(value));
        self.vars.add(self.join(name), Entry::Buffer(b.clone()))?;
        Ok(b)
    }

    /// What follows this path in `name` (`0.weight` for `layers.0.weight` at `layers`), or
    /// `None` for a name elsewhere.
    pub fn strip<'a>(&self, name: &'a str) -> Option<&'a str> {
        if self.prefix.is_empty() {
            return Some(name);
        }
        name.strip_prefix(&self.prefix)?.strip_prefix('.')
    }

    fn join(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }
}
