//! Indexing by i64 index tensors on the host, in adjoint pairs: `index_select` copies whole
//! slices along one dimension and `index_add` adds slices back at those positions; `gather`
//! copies one element per index position and `scatter_add` adds elements back. Every index
//! is checked before anything is read or written: one out of range (negative included) is an
//! error naming it and the size. The adding ops use no atomics: each output row or line is
//! summed by exactly one task, in the order a serial loop would use, so every run gives the
//! same bits.
use super::{layout_data, CpuStorage, Element};
use crate::layout::{around, contiguous_strides};
use crate::strided::{fill_rows, min_items_per_task};
use crate::{Error, Float, Layout, Result};
use rayon::prelude::*;

/// The i64 indices `l` selects from `s`, each checked against dimension `dim` of `shape`.
fn checked_indices(
    op: &'static str,
    (s, l): (&CpuStorage, &Layout),
    dim: usize,
    shape: &[usize],
) -> Result<Vec<usize>> {
    let size = shape[dim];
    layout_data(s.slice::<i64>(op)?, l)
        .iter()
        .enumerate()
        .map(|(position, &index)| {
            usize::try_from(index)
                .ok()
                .filter(|&u| u < size)
                .ok_or(Error::IndexOutOfRange {
                    op,
                    index,
                    position,
                    dim,
                    size,
                })
        })
        .collect()
}

/// The slices of `x` (`l` in it) at the 1-D `indices` along `dim`, in their order.
pub(crate) fn index_select(
    x: &CpuStorage,
    l: &Layout,
    dim: usize,
    indices: (&CpuStorage, &Layout),
) -> Result<CpuStorage> {
    const OP: &str = "index_select";
    let idx = checked_indices(OP, indices, dim, l.shape())?;
    with_dtype!(x.dtype(), T => Ok(select::<T>(x.slice(OP)?, l, dim, &idx)))
}

fn select<T: Element>(x: &[T], l: &Layout, dim: usize, idx: &[usize]) -> CpuStorage {
    let [outer, size, inner] = around(l.shape(), dim);
    let x = layout_data(x, l);
    let mut out = vec![T::default(); outer * idx.len() * inner];
    if !out.is_empty() {
        out.par_chunks_mut(inner)
            .enumerate()
            .with_min_len(min_items_per_task(inner))
            .for_each(|(r, row)| {
                let (o, j) = (r / idx.len(), r % idx.len());
                let src = (o * size + idx[j]) * inner;
                row.copy_from_slice(&x[src..src + inner]);
            });
    }
    T::into_storage(out)
}

/// Adds slice `j` of `src` along `dim` into `t`, the row-major elements of a tensor of
/// `shape`, at position `indices[j]`, in place; repeated indices accumulate.
pub(crate) fn index_add(
    t: &mut CpuStorage,
    shape: &[usize],
    dim: usize,
    indices: (&CpuStorage, &Layout),
    (src, ls): (&CpuStorage, &Layout),
) -> Result<()> {
    const OP: &str = "index_add";
    let idx = checked_indices(OP, indices, dim, shape)?;
    let [_, size, inner] = around(shape, dim);
    let len = idx.len();
    // Group the source slices by target (a counting sort, stable): target row `t` takes
    // `order[starts[t]..starts[t + 1]]` in increasing `j`. Then each output row is summed
    // by one task, in the order a serial scatter would add: deterministic, no atomics,
    // and parallel over all output rows (the vocabulary, for an embedding).
    let mut starts = vec![0usize; size + 1];
    for &i in &idx {
        starts[i + 1] += 1;
    }
    for t in 0..size {
        starts[t + 1] += starts[t];
    }
    let mut next = starts.clone();
    let mut order = vec![0usize; len];
    for (j, &i) in idx.iter().enumerate() {
        order[next[i]] = j;
        next[i] += 1;
    }
    let groups = Groups {
        starts: &starts,
        order: &order,
        size,
        inner,
        len,
    };
    with_float!(OP, t.dtype(), T => {
        let mut out = take::<T>(OP, t)?;
        add_slices(&mut out, &layout_data(src.slice::<T>(OP)?, ls), &groups);
        *t = T::into_storage(out);
        Ok(())
    })
}

/// The buffer of `t` as `T`, moved out to be added into (`T::into_storage` puts it back).
fn take<T: Element>(op: &'static str, t: &mut CpuStorage) -> Result<Vec<T>> {
    let got = t.dtype();
    T::take(t).ok_or(Error::DType {
        op,
        expected: T::DTYPE,
        got,
    })
}

/// Source slices grouped by target row for [`index_add`] (a stable counting sort): target
/// row `t` takes source slices `order[starts[t]..starts[t + 1]]`, in increasing order.
struct Groups<'a> {
    starts: &'a [usize],
    order: &'a [usize],
    /// Extent of the indexed dimension of the target.
    size: usize,
    /// Elements per slice (the product of the dimensions after it).
    inner: usize,
    /// Number of indices (source slices per outer position).
    len: usize,
}

/// Each row of `out` plus its source slices `s` (row-major), summed by one task in the order
/// a serial scatter would add.
fn add_slices<T: Float>(out: &mut [T], s: &[T], g: &Groups) {
    let (size, inner, len) = (g.size, g.inner, g.len);
    if out.is_empty() || inner == 0 {
        return;
    }
    out.par_chunks_mut(inner)
        .enumerate()
        .with_min_len(min_items_per_task(inner * (len / size.max(1)).max(1)))
        .for_each(|(r, row)| {
            let (o, target) = (r / size, r % size);
            for &j in &g.order[g.starts[target]..g.starts[target + 1]] {
                let from = &s[(o * len + j) * inner..][..inner];
                for (a, &b) in row.iter_mut().zip(from) {
                    *a += b;
                }
            }
        });
}

/// `out[p] = x[.., index[p], ..]` along `dim` for every position `p` of `index` (its
/// layout's shape is the result's).
pub(crate) fn gather(
    x: &CpuStorage,
    l: &Layout,
    dim: usize,
    index: (&CpuStorage, &Layout),
) -> Result<CpuStorage> {
    const OP: &str = "gather";
    let idx = checked_indices(OP, index, dim, l.shape())?;
    with_dtype!(x.dtype(), T => Ok(pick::<T>(x.slice(OP)?, l, dim, index.1.shape(), &idx)))
}

fn pick<T: Element>(
    data: &[T],
    l: &Layout,
    dim: usize,
    index_shape: &[usize],
    idx: &[usize],
) -> CpuStorage {
    // Walk the index's shape over `x`'s strides, with `dim`'s stride replaced by the index
    // value times that stride: no copy of `x`, whatever its layout.
    let step = l.strides()[dim];
    let mut strides = l.strides().to_vec();
    strides[dim] = 0;
    let idx_strides = contiguous_strides(index_shape);
    let mut out = vec![T::default(); idx.len()];
    fill_rows(
        &mut out,
        index_shape,
        [(&strides, l.offset()), (&idx_strides, 0)],
        |row, [src, at], [s_step, i_step]| {
            for (i, o) in row.iter_mut().enumerate() {
                *o = data[src + i * s_step + idx[at + i * i_step] * step];
            }
        },
    );
    T::into_storage(out)
}

/// `t[.., index[p], ..] += src[p]` along `dim` for every position `p` of `index`, in `t`,
/// the row-major elements of a tensor of `shape`.
pub(crate) fn scatter_add(
    t: &mut CpuStorage,
    shape: &[usize],
    dim: usize,
    index: (&CpuStorage, &Layout),
    (src, ls): (&CpuStorage, &Layout),
) -> Result<()> {
    const OP: &str = "scatter_add";
    let idx = checked_indices(OP, index, dim, shape)?;
    with_float!(OP, t.dtype(), T => {
        let sums = add_lines::<T>(
            (t.slice(OP)?, shape),
            dim,
            (index.1.shape(), &idx),
            (src.slice(OP)?, ls),
        )?;
        *t = T::into_storage(sums);
        Ok(())
    })
}

/// [`scatter_add`]'s sums in `T`, row-major in `shape`.
fn add_lines<T: Float>(
    (data, shape): (&[T], &[usize]),
    dim: usize,
    (ishape, idx): (&[usize], &[usize]),
    (src, ls): (&[T], &Layout),
) -> Result<Vec<T>> {
    let (src_strides, src_offset) = (ls.strides(), ls.offset());
    let rank = shape.len();
    // Work with `dim` moved last: each line along `dim` is then a contiguous chunk, every
    // index position adds into its own line only, and lines are disjoint, so lines run in
    // parallel (one task per line group) with no atomics.
    let others: Vec<usize> = (0..rank).filter(|&d| d != dim).collect();
    let mut perm = others.clone();
    perm.push(dim);
    let moved = Layout::contiguous(shape).permute(&perm)?;
    let mut out = layout_data(data, &moved).into_owned();
    let size = shape[dim];
    let istrides = contiguous_strides(ishape);
    let k = ishape[dim];
    if !out.is_empty() && k > 0 {
        out.par_chunks_mut(size)
            .enumerate()
            .with_min_len(min_items_per_task(k.max(size)))
            .for_each(|(line, buf)| {
                // This line's coordinates outside `dim`; lines beyond the index's extent
                // receive nothing.
                let (mut rem, mut at, mut from) = (line, 0, src_offset);
                for &d in others.iter().rev() {
                    let c = rem % shape[d];
                    rem /= shape[d];
                    if c >= ishape[d] {
                        return;
                    }
                    at += c * istrides[d];
                    from += c * src_strides[d];
                }
                for q in 0..k {
                    buf[idx[at + q * istrides[dim]]] += src[from + q * src_strides[dim]];
                }
            });
    }
    if dim + 1 == rank {
        return Ok(out);
    }
    let mut inverse = vec![0; rank];
    for (i, &p) in perm.iter().enumerate() {
        inverse[p] = i;
    }
    let back = Layout::contiguous(moved.shape()).permute(&inverse)?;
    Ok(layout_data(&out, &back).into_owned())
}
