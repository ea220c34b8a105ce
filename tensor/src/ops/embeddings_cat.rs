//! fastai's tabular input as one op: each categorical variable's embedding looked up by its
//! column of codes, and the embeddings laid side by side (`torch.cat([e(x_cat[:, i]) for i,
//! e in enumerate(self.embeds)], 1)` in `tabular/models.py`). The same numbers as
//! `index_select` per table and a `cat`, written once in place of twice and, on a GPU, in
//! one launch where they took one per table and one for the `cat` (Rossmann's model has 23
//! tables). Its adjoint adds each row of the gradient back into the rows the codes picked,
//! table by table, in row order: the CPU's `index_add` order, so the same bits. The
//! backends: `cpu/embeddings_cat.rs`, `cuda/embeddings_cat.rs`.
use crate::{DType, Error, Layout, Result, Storage, Tensor};

/// The batch size, after checking that `codes` is i64 `[n, t]` with a column for each of
/// the `t` tables.
fn check(op: &'static str, tables: &[[usize; 2]], codes: &Tensor) -> Result<usize> {
    if codes.dtype() != DType::I64 {
        return Err(Error::DType {
            op,
            expected: DType::I64,
            got: codes.dtype(),
        });
    }
    match *codes.shape() {
        [n, t] if t == tables.len() => Ok(n),
        _ => Err(Error::shapes(
            op,
            &[codes.shape(), &[tables.len()]],
            "codes [N, T], a column for each of the T tables (the second shape)",
        )),
    }
}

/// Each table's `[rows, width]`, or an error naming the first that is not a matrix, or not
/// of the first's dtype.
fn table_sizes(op: &'static str, tables: &[&Tensor]) -> Result<Vec<[usize; 2]>> {
    tables
        .iter()
        .map(|t| match *t.shape() {
            [_, _] if t.dtype() != tables[0].dtype() => Err(Error::DType {
                op,
                expected: tables[0].dtype(),
                got: t.dtype(),
            }),
            [rows, width] => Ok([rows, width]),
            _ => Err(Error::Shape {
                op,
                shapes: tables.iter().map(|t| t.shape().to_vec()).collect(),
                expected: "tables [rows, width]",
            }),
        })
        .collect()
}

impl Tensor {
    /// `[N, Σ width_j]`: row `b` is `tables[0][codes[b, 0]]`, then `tables[1][codes[b, 1]]`,
    /// and so on, for `tables[j]` `[rows_j, width_j]` (f32 or f64, one dtype) and i64 `codes`
    /// `[N, tables.len()]`. A code out of its table's range is an error naming it.
    pub fn embeddings_cat(tables: &[&Tensor], codes: &Tensor) -> Result<Tensor> {
        const OP: &str = "embeddings_cat";
        let sizes = table_sizes(OP, tables)?;
        let n = check(OP, &sizes, codes)?;
        let parts: Vec<(&Storage, &Layout)> =
            tables.iter().map(|t| (t.storage(), t.layout())).collect();
        let storage = Storage::embeddings_cat(&parts, (codes.storage(), codes.layout()), &sizes)?;
        let width = sizes.iter().map(|s| s[1]).sum();
        Ok(Tensor::from_storage(storage, &[n, width]))
    }

    /// The gradients of [`Tensor::embeddings_cat`]'s tables from `self` = its output's
    /// gradient `[N, Σ width_j]`: table j's is `[rows_j, width_j]` (`sizes`), row `r`
    /// summing the rows `b` with `codes[b, j] = r`, in increasing `b`. On a GPU by atomics
    /// in one launch, or, under [`crate::set_deterministic`], by each table's sorted
    /// `index_add`.
    pub fn embeddings_cat_backward(
        &self,
        codes: &Tensor,
        sizes: &[[usize; 2]],
    ) -> Result<Vec<Tensor>> {
        const OP: &str = "embeddings_cat_backward";
        let n = check(OP, sizes, codes)?;
        let width: usize = sizes.iter().map(|s| s[1]).sum();
        if self.shape() != [n, width] {
            return Err(Error::shapes(
                OP,
                &[self.shape(), codes.shape(), &[n, width]],
                "grad_output [N, the tables' widths summed] (the last)",
            ));
        }
        let storage = self.storage().embeddings_cat_backward(
            self.layout(),
            (codes.storage(), codes.layout()),
            sizes,
        )?;
        // Each table's gradient is a view of its block of the one buffer.
        let all = Tensor::from_storage(storage, &[sizes.iter().map(|[rows, w]| rows * w).sum()]);
        let mut at = 0;
        sizes
            .iter()
            .map(|&[rows, w]| {
                at += rows * w;
                all.narrow(0, at - rows * w, rows * w)?.reshape(&[rows, w])
            })
            .collect()
    }
}
