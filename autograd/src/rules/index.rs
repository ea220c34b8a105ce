//! Backward rules of the indexing ops. `index_select` along 0 is an embedding lookup; its
//! gradient adds each output row back into the row it was read from (`index_add`, duplicates
//! accumulating). `gather` is undone by `scatter_add` the same way. Only the indices are kept.
use crate::var::{record, zeros, Var};
use crate::Result;
use tensor::{Accumulate, Tensor};

impl Var {
    /// Rows (along `dim`) of `self` picked by the 1-D i64 `indices` (an embedding lookup when
    /// `self` is the embedding matrix and `dim` is 0).
    pub fn index_select(&self, dim: usize, indices: &Tensor) -> Result<Var> {
        let y = self.tensor().index_select(dim, indices)?;
        let (input, indices) = (self.shape().to_vec(), indices.clone());
        record("index_select", &[self], y, move |_, _| {
            Box::new(move |g| {
                let dw = zeros(&input, g)?.into_index_add(dim, &indices, g, Accumulate::default());
                Ok(vec![Some(dw?)])
            })
        })
    }

    /// `self[i][index[i][j]]` along `dim` (torch.gather): cross-entropy picks the target's
    /// log-probability this way.
    pub fn gather(&self, dim: usize, index: &Tensor) -> Result<Var> {
        let y = self.tensor().gather(dim, index)?;
        let (input, index) = (self.shape().to_vec(), index.clone());
        record("gather", &[self], y, move |_, _| {
            Box::new(move |g| {
                Ok(vec![Some(
                    zeros(&input, g)?.into_scatter_add(dim, &index, g)?,
                )])
            })
        })
    }
}
