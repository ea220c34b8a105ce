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
        record("index_select", &[self], y, move |_, _, saved| {
            let indices = saved.keep("indices", indices);
            Box::new(move |g| {
                let dw = zeros(&input, g)?.into_index_add(dim, &indices, g, Accumulate::default());
                Ok(vec![Some(dw?)])
            })
        })
    }

    /// fastai's tabular input: each of `tables` (`[rows_j, width_j]`) looked up by its column
    /// of the i64 `codes` `[N, tables.len()]`, side by side (`Tensor::embeddings_cat`: the
    /// lookups and their concatenation in one op); each table's gradient from its block of
    /// the output's.
    pub fn embeddings_cat(tables: &[&Var], codes: &Tensor) -> Result<Var> {
        let values: Vec<&Tensor> = tables.iter().map(|t| t.tensor()).collect();
        let y = Tensor::embeddings_cat(&values, codes)?;
        let sizes: Vec<[usize; 2]> = values
            .iter()
            .map(|t| [t.shape()[0], t.shape()[1]])
            .collect();
        let codes = codes.clone();
        record("embeddings_cat", tables, y, move |_, needs, saved| {
            let needs = needs.to_vec();
            let codes = saved.keep("codes", codes);
            Box::new(move |g| {
                let grads = g.embeddings_cat_backward(&codes, &sizes)?;
                Ok(grads
                    .into_iter()
                    .zip(needs)
                    .map(|(g, n)| n.then_some(g))
                    .collect())
            })
        })
    }

    /// `self[i][index[i][j]]` along `dim` (torch.gather): cross-entropy picks the target's
    /// log-probability this way.
    pub fn gather(&self, dim: usize, index: &Tensor) -> Result<Var> {
        let y = self.tensor().gather(dim, index)?;
        let (input, index) = (self.shape().to_vec(), index.clone());
        record("gather", &[self], y, move |_, _, saved| {
            let index = saved.keep("index", index);
            Box::new(move |g| {
                Ok(vec![Some(
                    zeros(&input, g)?.into_scatter_add(dim, &index, g)?,
                )])
            })
        })
    }
}
