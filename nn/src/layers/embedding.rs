//! `Embedding`: row `i` of a `[n, dim]` matrix for each index `i` (an `index_select`), so a
//! categorical variable with n levels becomes `dim` learnable numbers (lesson 6's entity
//! embeddings). An index out of range is an error naming it, not an out-of-bounds read.
use crate::init::Init;
use crate::module::{join, Entry, Mode, Module, Param};
use autograd::{Result, Var};

pub struct Embedding {
    pub weight: Param,
}

impl Embedding {
    /// fastai's initialisation: truncated normal times 0.01.
    pub fn new(init: &Init, n: usize, dim: usize) -> tensor::Result<Self> {
        Ok(Embedding {
            weight: Param::new(init.trunc_normal(&[n, dim])?),
        })
    }

    /// Looks up `indices` (an i64 tensor of any shape): `[.., dim]`. 1-D indices are used
    /// as they lie, so a column of a table of codes is looked up without a copy.
    pub fn lookup(&self, indices: &Var) -> Result<Var> {
        let idx = indices.tensor();
        let flat = if idx.rank() == 1 {
            idx.clone()
        } else {
            idx.reshape(&[idx.elem_count()])?
        };
        let rows = self.weight.var_for(indices).index_select(0, &flat)?;
        let mut shape = idx.shape().to_vec();
        shape.push(rows.shape()[1]);
        rows.reshape(&shape)
    }
}

impl Module for Embedding {
    fn forward(&self, x: &Var, _mode: Mode) -> Result<Var> {
        self.lookup(x)
    }

    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'a>)) {
        f(&join(prefix, "weight"), Entry::Param(&self.weight));
    }

    fn describe(&self) -> String {
        let s = self.weight.value().shape().to_vec();
        format!("Embedding({}, {})", s[0], s[1])
    }
}
