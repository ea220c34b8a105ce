//! fastai's tabular input as one op: each categorical variable's embedding looked up by its
//! column of codes, and the embeddings laid side by side (`torch.cat([e(x_cat[:, i]) for i,
//! e in enumerate(self.embeds)], 1)` in `tabular/models.py`). The same numbers as
//! `index_select` per table and a `cat`, written once in place of twice and, on a GPU, in
//! one launch where they took one per table and one for the `cat` (Rossmann's model has 23
//! tables). Its adjoint adds each row of the gradient back into the rows the codes picked,
//! table by table, in row order: the CPU's `index_add` order, so the same bits.
use crate::strided::min_items_per_task;
use crate::{DType, Error, Float, Result, Tensor};
use rayon::prelude::*;

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
        _ => Err(Error::shape(
            op,
            format!(
                "codes {:?} should be [N, {}], a column for each table",
                codes.shape(),
                tables.len()
            ),
        )),
    }
}

/// Each table's `[rows, width]`, or an error naming the first that is not a matrix, or not
/// of the first's dtype.
fn table_sizes(op: &'static str, tables: &[&Tensor]) -> Result<Vec<[usize; 2]>> {
    tables
        .iter()
        .enumerate()
        .map(|(j, t)| match *t.shape() {
            [_, _] if t.dtype() != tables[0].dtype() => Err(Error::DType {
                op,
                expected: tables[0].dtype(),
                got: t.dtype(),
            }),
            [rows, width] => Ok([rows, width]),
            _ => Err(Error::shape(
                op,
                format!("table {j} {:?} should be [rows, width]", t.shape()),
            )),
        })
        .collect()
}

/// An error naming the first code outside its table, if any (`codes` row-major `[n, t]`).
fn check_codes(op: &'static str, codes: &[i64], sizes: &[[usize; 2]]) -> Result<()> {
    if sizes.is_empty() {
        return Ok(());
    }
    for (p, &code) in codes.iter().enumerate() {
        let (b, j) = (p / sizes.len(), p % sizes.len());
        if !(0..sizes[j][0] as i64).contains(&code) {
            return Err(Error::index(
                op,
                format!(
                    "code {code} at [{b}, {j}] is out of range for table {j} of {} rows",
                    sizes[j][0]
                ),
            ));
        }
    }
    Ok(())
}

/// The CPU's forward: each row of the output filled table by table (rows in parallel).
fn side_by_side<T: Float>(
    op: &'static str,
    tables: &[&Tensor],
    codes: &[i64],
    sizes: &[[usize; 2]],
    n: usize,
) -> Result<Tensor> {
    let width: usize = sizes.iter().map(|s| s[1]).sum();
    let data = tables
        .iter()
        .map(|t| t.contiguous_data::<T>(op))
        .collect::<Result<Vec<_>>>()?;
    let mut y = T::output_buffer(n * width);
    if width > 0 {
        y.par_chunks_mut(width)
            .zip(codes.par_chunks(sizes.len()))
            .with_min_len(min_items_per_task(width))
            .for_each(|(row, codes)| {
                let mut at = 0;
                for ((table, &[_, w]), &code) in data.iter().zip(sizes).zip(codes) {
                    let r = code as usize * w;
                    row[at..at + w].copy_from_slice(&table[r..r + w]);
                    at += w;
                }
            });
    }
    Ok(Tensor::from_op(y, &[n, width]))
}

impl Tensor {
    /// `[N, Σ width_j]`: row `b` is `tables[0][codes[b, 0]]`, then `tables[1][codes[b, 1]]`,
    /// and so on, for `tables[j]` `[rows_j, width_j]` (f32 or f64, one dtype) and i64 `codes`
    /// `[N, tables.len()]`. A code out of its table's range is an error naming it.
    pub fn embeddings_cat(tables: &[&Tensor], codes: &Tensor) -> Result<Tensor> {
        const OP: &str = "embeddings_cat";
        let sizes = table_sizes(OP, tables)?;
        let n = check(OP, &sizes, codes)?;
        let mut all = tables.to_vec();
        all.push(codes);
        if let Some(gpu) = crate::cuda::gpu_of(OP, &all)? {
            return crate::cuda::embeddings_cat(&gpu, tables, codes, &sizes);
        }
        let codes = codes.contiguous_data::<i64>(OP)?;
        check_codes(OP, &codes, &sizes)?;
        let dtype = tables.first().map_or(DType::F32, |t| t.dtype());
        with_float!(OP, dtype, T => side_by_side::<T>(OP, tables, &codes, &sizes, n))
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
            return Err(Error::shape(
                OP,
                format!(
                    "grad_output {:?} does not match codes {:?} and tables {sizes:?}: \
                     expected [{n}, {width}]",
                    self.shape(),
                    codes.shape()
                ),
            ));
        }
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self, codes])? {
            return crate::cuda::embeddings_cat_backward(&gpu, self, codes, sizes);
        }
        let codes = codes.contiguous_data::<i64>(OP)?;
        check_codes(OP, &codes, sizes)?;
        with_float!(OP, self.dtype(), T => {
            let dy = self.contiguous_data::<T>(OP)?;
            let offsets: Vec<usize> = sizes
                .iter()
                .scan(0, |at, s| {
                    *at += s[1];
                    Some(*at - s[1])
                })
                .collect();
            let t = sizes.len();
            let grads: Vec<Vec<T>> = sizes
                .par_iter()
                .zip(&offsets)
                .enumerate()
                .map(|(j, (&[rows, w], &at))| {
                    let mut g = vec![T::ZERO; rows * w];
                    for (b, dy) in dy.chunks_exact(width.max(1)).enumerate().take(n) {
                        let r = codes[b * t + j] as usize * w;
                        for (g, &d) in g[r..r + w].iter_mut().zip(&dy[at..at + w]) {
                            *g += d;
                        }
                    }
                    g
                })
                .collect();
            Ok(grads
                .into_iter()
                .zip(sizes)
                .map(|(g, s)| Tensor::from_op(g, s))
                .collect())
        })
    }
}
