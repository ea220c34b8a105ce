//! `Sequential`: layers applied in order, named `0`, `1`, ... in the state dict as in
//! PyTorch's `nn.Sequential`.
use crate::module::{join, Entry, Mode, Module, SummaryRow};
use autograd::{Result, Var};

#[derive(Default)]
pub struct Sequential {
    pub layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a layer (builder style).
    pub fn push(mut self, layer: impl Module + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }
}

impl Module for Sequential {
    fn forward(&self, x: &Var, mode: Mode) -> Result<Var> {
        let mut y = x.clone();
        for layer in &self.layers {
            y = crate::hooks::forward(layer.as_ref(), &y, mode)?;
        }
        Ok(y)
    }

    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'a>)) {
        for (i, layer) in self.layers.iter().enumerate() {
            layer.visit(&join(prefix, &i.to_string()), f);
        }
    }

    fn describe(&self) -> String {
        format!("Sequential({} layers)", self.layers.len())
    }

    fn trace(&self, x: &Var, mode: Mode, name: &str, rows: &mut Vec<SummaryRow>) -> Result<Var> {
        let mut y = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            y = layer.trace(&y, mode, &join(name, &i.to_string()), rows)?;
        }
        Ok(y)
    }
}
