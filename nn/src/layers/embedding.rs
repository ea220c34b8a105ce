//! `Embedding`: row `i` of a `[n, dim]` matrix for each index `i` (an `index_select`), so a
//! categorical variable with n levels becomes `dim` learnable numbers (lesson 6's entity
//! embeddings). An index out of range is an error naming it, not an out-of-bounds read.
use crate::module::{Mode, Module, Param};
use crate::vars::Path;
use autograd::{Result, Var};
use std::fmt;
use std::rc::Rc;

pub struct Embedding {
    pub weight: Rc<Param>,
}

impl Embedding {
    /// fastai's initialisation: truncated normal times 0.01, named `p.weight`.
    pub fn new(p: Path, n: usize, dim: usize) -> crate::Result<Self> {
        let weight = p.param("weight", p.init().trunc_normal(&[n, dim])?)?;
        Ok(Embedding { weight })
    }
}

impl Module<Var> for Embedding {
    type Output = Var;
    /// Looks up `x` (an i64 tensor of any shape): `[.., dim]`. 1-D indices are used as they
    /// lie, so a column of a table of codes is looked up without a copy.
    fn forward(&self, x: Var, _mode: Mode) -> Result<Var> {
        let idx = x.tensor();
        let flat = if idx.rank() == 1 {
            idx.clone()
        } else {
            idx.reshape(&[idx.elem_count()])?
        };
        let rows = self.weight.var_for(&x).index_select(0, &flat)?;
        let mut shape = idx.shape().to_vec();
        shape.push(rows.shape()[1]);
        rows.reshape(&shape)
    }
}

impl fmt::Display for Embedding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.weight.value().shape().to_vec();
        write!(f, "Embedding({}, {})", s[0], s[1])
    }
}
