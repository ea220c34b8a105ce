//! fastai's tabular input on the host: each table's rows picked by its column of codes and
//! laid side by side, and the adjoint, which adds each row of the gradient back into the
//! rows the codes picked, table by table, in row order (the CPU's `index_add` order, so the
//! same bits). Every code is checked against its table first.
use super::{layout_data, CpuStorage};
use crate::strided::min_items_per_task;
use crate::{DType, Error, Float, Layout, Result};
use rayon::prelude::*;
use std::borrow::Cow;

/// The codes `[n, t]` that `l` selects in `s`, or an error naming the first outside its
/// table (table `j` has `sizes[j][0]` rows).
fn checked_codes<'a>(
    op: &'static str,
    (s, l): (&'a CpuStorage, &Layout),
    sizes: &[[usize; 2]],
) -> Result<Cow<'a, [i64]>> {
    let codes = layout_data(s.slice::<i64>(op)?, l);
    if sizes.is_empty() {
        return Ok(codes);
    }
    for (p, &code) in codes.iter().enumerate() {
        let (b, j) = (p / sizes.len(), p % sizes.len());
        if !(0..sizes[j][0] as i64).contains(&code) {
            return Err(Error::CodeOutOfRange {
                op,
                code,
                row: b,
                table: j,
                rows: sizes[j][0],
            });
        }
    }
    Ok(codes)
}

/// `[n, Σ width_j]`: row `b` is row `codes[b, j]` of each table `j` (`[rows_j, width_j]`,
/// `sizes[j]`) in turn.
pub(crate) fn embeddings_cat(
    tables: &[(&CpuStorage, &Layout)],
    codes: (&CpuStorage, &Layout),
    sizes: &[[usize; 2]],
) -> Result<CpuStorage> {
    const OP: &str = "embeddings_cat";
    let n = codes.1.shape()[0];
    let codes = checked_codes(OP, codes, sizes)?;
    let dtype = tables.first().map_or(DType::F32, |t| t.0.dtype());
    with_float!(OP, dtype, T => side_by_side::<T>(OP, tables, &codes, sizes, n))
}

/// Each row of the output filled table by table (rows in parallel).
fn side_by_side<T: Float>(
    op: &'static str,
    tables: &[(&CpuStorage, &Layout)],
    codes: &[i64],
    sizes: &[[usize; 2]],
    n: usize,
) -> Result<CpuStorage> {
    let width: usize = sizes.iter().map(|s| s[1]).sum();
    let data = tables
        .iter()
        .map(|&(s, l)| Ok(layout_data(s.slice::<T>(op)?, l)))
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
    Ok(T::into_storage(y))
}

/// The tables' gradients from `dy` (`l` in it, `[n, Σ width_j]`), one after another: table
/// j's `[rows_j, width_j]` (`sizes[j]`), row `r` summing the rows `b` of its columns of `dy`
/// with `codes[b, j] = r`, in increasing `b`.
pub(crate) fn embeddings_cat_backward(
    dy: &CpuStorage,
    l: &Layout,
    codes: (&CpuStorage, &Layout),
    sizes: &[[usize; 2]],
) -> Result<CpuStorage> {
    const OP: &str = "embeddings_cat_backward";
    let codes = checked_codes(OP, codes, sizes)?;
    with_float!(OP, dy.dtype(), T => Ok(gradients::<T>(
        (&layout_data(dy.slice(OP)?, l), l.shape()),
        &codes,
        sizes,
    )))
}

/// Each table's gradient summed by one task, into its own block of one buffer.
fn gradients<T: Float>(
    (dy, shape): (&[T], &[usize]),
    codes: &[i64],
    sizes: &[[usize; 2]],
) -> CpuStorage {
    let (n, width, t) = (shape[0], shape[1], sizes.len());
    let mut grads = vec![T::ZERO; sizes.iter().map(|[rows, w]| rows * w).sum()];
    // Table j's block of the gradients, and where its columns of dy start.
    let mut blocks = Vec::with_capacity(t);
    let (mut rest, mut at) = (&mut grads[..], 0);
    for &[rows, w] in sizes {
        let (block, tail) = std::mem::take(&mut rest).split_at_mut(rows * w);
        blocks.push((block, at));
        (rest, at) = (tail, at + w);
    }
    blocks
        .into_par_iter()
        .zip(sizes)
        .enumerate()
        .for_each(|(j, ((g, at), &[_, w]))| {
            for (b, dy) in dy.chunks_exact(width.max(1)).enumerate().take(n) {
                let r = codes[b * t + j] as usize * w;
                for (g, &d) in g[r..r + w].iter_mut().zip(&dy[at..at + w]) {
                    *g += d;
                }
            }
        });
    T::into_storage(grads)
}
