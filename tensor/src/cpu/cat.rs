//! Concatenation on the host. Seen as `[outer, size, inner]` around the joined dimension,
//! every input contributes one contiguous block of `size * inner` elements to each of the
//! `outer` rows of the result, so `cat` is a sequence of block copies per row, and rows are
//! filled in parallel. Any dtype, as long as all inputs share it.
use super::{layout_data, CpuStorage, Element};
use crate::layout::around;
use crate::strided::min_items_per_task;
use crate::{Layout, Result};
use rayon::prelude::*;
use std::borrow::Cow;

/// The elements of `parts` (at least one; each a storage and the layout of an input in it,
/// all of one dtype) joined along `dim` into `shape`.
pub(crate) fn cat(
    parts: &[(&CpuStorage, &Layout)],
    dim: usize,
    shape: &[usize],
) -> Result<CpuStorage> {
    with_dtype!(parts[0].0.dtype(), T => join::<T>(parts, dim, shape))
}

fn join<T: Element>(
    parts: &[(&CpuStorage, &Layout)],
    dim: usize,
    shape: &[usize],
) -> Result<CpuStorage> {
    let [outer, _, inner] = around(shape, dim);
    let blocks: Vec<usize> = parts.iter().map(|(_, l)| l.shape()[dim] * inner).collect();
    let row: usize = blocks.iter().sum();
    let data: Vec<Cow<'_, [T]>> = parts
        .iter()
        .map(|&(s, l)| Ok(layout_data(s.slice::<T>("cat")?, l)))
        .collect::<Result<_>>()?;
    let mut out = vec![T::default(); outer * row];
    if row > 0 {
        out.par_chunks_mut(row)
            .enumerate()
            .with_min_len(min_items_per_task(row))
            .for_each(|(o, out_row)| {
                let mut at = 0;
                for (d, &b) in data.iter().zip(&blocks) {
                    out_row[at..at + b].copy_from_slice(&d[o * b..(o + 1) * b]);
                    at += b;
                }
            });
    }
    Ok(T::into_storage(out))
}
