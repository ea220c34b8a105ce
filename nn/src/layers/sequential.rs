//! `Sequential`: layers applied in order. As in PyTorch's `nn.Sequential` the i-th layer is
//! named `i`: build it at `p.pp(i)`, where `p` is the Sequential's own path.
use crate::module::{Layer, Mode, Module};
use autograd::{Result, Var};
use std::any::Any;
use std::fmt;

#[derive(Default)]
pub struct Sequential {
    pub layers: Vec<Box<dyn Layer>>,
}

/// One line of a model summary: a layer's name, its configuration and its output's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    pub name: String,
    pub layer: String,
    pub output_shape: Vec<usize>,
}

impl Sequential {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a layer (builder style).
    pub fn push(mut self, layer: impl Layer) -> Self {
        self.layers.push(Box::new(layer));
        self
    }

    /// The forward pass, recording a [`SummaryRow`] per layer named from `name` (what
    /// `learn.summary()` prints). A nested `Sequential` records its layers, not itself.
    pub fn trace(&self, x: Var, mode: Mode, name: &str, rows: &mut Vec<SummaryRow>) -> Result<Var> {
        let mut y = x;
        for (i, layer) in self.layers.iter().enumerate() {
            let name = if name.is_empty() {
                i.to_string()
            } else {
                format!("{name}.{i}")
            };
            let any: &dyn Any = layer.as_ref();
            y = match any.downcast_ref::<Sequential>() {
                Some(inner) => inner.trace(y, mode, &name, rows)?,
                None => {
                    let y = layer.forward(y, mode)?;
                    rows.push(SummaryRow {
                        name,
                        layer: layer.to_string(),
                        output_shape: y.shape().to_vec(),
                    });
                    y
                }
            };
        }
        Ok(y)
    }
}

impl Module<Var> for Sequential {
    type Output = Var;
    fn forward(&self, x: Var, mode: Mode) -> Result<Var> {
        let mut y = x;
        for layer in &self.layers {
            y = crate::hooks::forward(layer.as_ref(), y, mode)?;
        }
        Ok(y)
    }
}

impl fmt::Display for Sequential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sequential({} layers)", self.layers.len())
    }
}
