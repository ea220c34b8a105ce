//! Indexing by i64 index tensors, in adjoint pairs:
//! - `index_select` picks whole slices along one dimension (an embedding lookup is
//!   `weight.index_select(0, ids)`), and `index_add` adds slices back at those positions
//!   (the embedding's backward pass: repeated ids accumulate);
//! - `gather` picks one element per index position (cross-entropy reads
//!   `log_probs.gather(1, target)`), and `scatter_add` adds elements back (its backward pass).
//!
//! An index out of range (negative included: PyTorch's negative wrap-around is not supported,
//! to catch bugs rather than hide them) is an [`Error::Index`] naming the index and the size.
//! The adding ops are deterministic and use no atomics: each output row or line is summed
//! by exactly one task, in the order a serial loop would use.
use crate::cpu::layout_data;
use crate::cpu::Element;
use crate::cuda::Accumulate;
use crate::layout::{check_dim, contiguous_strides};
use crate::strided::fill_rows;
use crate::strided::min_items_per_task;
use crate::{Error, Float, Result, Tensor};
use rayon::prelude::*;

/// `(outer, size, inner)`: the shape seen as `[prod(before dim), shape[dim], prod(after dim)]`.
fn split3(shape: &[usize], dim: usize) -> (usize, usize, usize) {
    let outer = shape[..dim].iter().product();
    let inner = shape[dim + 1..].iter().product();
    (outer, shape[dim], inner)
}

/// Checks every index against `size` (the extent of `dim` in `shape`) and converts it.
fn checked_indices(
    op: &'static str,
    idx: &[i64],
    dim: usize,
    shape: &[usize],
) -> Result<Vec<usize>> {
    let size = shape[dim];
    idx.iter()
        .map(|&i| {
            usize::try_from(i)
                .ok()
                .filter(|&u| u < size)
                .ok_or_else(|| {
                    Error::index(
                        op,
                        format!(
                            "index {i} is out of range for dimension {dim} of size {size} \
                         (tensor shape {shape:?})"
                        ),
                    )
                })
        })
        .collect()
}

/// The indices of a 1-D i64 index tensor, checked against dimension `dim` of `shape`.
fn vector_indices(
    op: &'static str,
    indices: &Tensor,
    dim: usize,
    shape: &[usize],
) -> Result<Vec<usize>> {
    one_dimensional(op, indices)?;
    checked_indices(op, &indices.contiguous_data::<i64>(op)?, dim, shape)
}

/// Refuses indices that are not 1-D.
fn one_dimensional(op: &'static str, indices: &Tensor) -> Result<()> {
    if indices.rank() != 1 {
        return Err(Error::shape(
            op,
            format!(
                "indices must be 1-D, got shape {:?} (flatten them first)",
                indices.shape()
            ),
        ));
    }
    Ok(())
}

/// Checks that `index` has the rank of `t` and is no larger than `t` outside dimension `dim`
/// (`skip_dim`) or anywhere (`!skip_dim`), as torch.gather and torch.scatter_add require.
fn check_fits(
    op: &'static str,
    index: &Tensor,
    name: &str,
    t: &Tensor,
    dim: usize,
    skip_dim: bool,
) -> Result<()> {
    let fits = index.rank() == t.rank()
        && (0..t.rank()).all(|d| (skip_dim && d == dim) || index.shape()[d] <= t.shape()[d]);
    if !fits {
        let what = if skip_dim {
            format!("in every dimension but {dim}")
        } else {
            "in every dimension".to_string()
        };
        return Err(Error::shape(
            op,
            format!(
                "index {:?} must have the rank of {name} {:?} and be no larger {what}",
                index.shape(),
                t.shape()
            ),
        ));
    }
    Ok(())
}

fn select<T: Element>(op: &'static str, t: &Tensor, dim: usize, idx: &[usize]) -> Result<Tensor> {
    let (outer, size, inner) = split3(t.shape(), dim);
    let x = t.contiguous_data::<T>(op)?;
    let mut shape = t.shape().to_vec();
    shape[dim] = idx.len();
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
    Ok(Tensor::from_op(out, &shape))
}

fn gather_typed<T: Element>(
    op: &'static str,
    t: &Tensor,
    dim: usize,
    index_shape: &[usize],
    idx: &[usize],
) -> Result<Tensor> {
    let data = t.storage_slice::<T>(op)?;
    // Walk the index's shape over `t`'s strides, with `dim`'s stride replaced by the index
    // value times that stride: no copy of `t`, whatever its layout.
    let step = t.strides()[dim];
    let mut strides = t.strides().to_vec();
    strides[dim] = 0;
    let idx_strides = contiguous_strides(index_shape);
    let mut out = vec![T::default(); idx.len()];
    fill_rows(
        &mut out,
        index_shape,
        [(&strides, t.layout().offset()), (&idx_strides, 0)],
        |row, [src, at], [s_step, i_step]| {
            for (i, o) in row.iter_mut().enumerate() {
                *o = data[src + i * s_step + idx[at + i * i_step] * step];
            }
        },
    );
    Ok(Tensor::from_op(out, index_shape))
}

/// Source slices grouped by target row for [`Tensor::index_add`] (a stable counting sort):
/// target row `t` takes source slices `order[starts[t]..starts[t + 1]]`, in increasing order.
struct Groups<'a> {
    starts: &'a [usize],
    order: &'a [usize],
    /// Extent of the indexed dimension of `self`.
    size: usize,
    /// Elements per slice (the product of the dimensions after it).
    inner: usize,
    /// Number of indices (source slices per outer position).
    len: usize,
}

/// [`Tensor::index_add`] in `T`: each output row is summed by one task, in the order a serial
/// scatter would add.
fn add_slices<T: Float>(op: &'static str, t: &Tensor, src: &Tensor, g: &Groups) -> Result<Tensor> {
    let (size, inner, len) = (g.size, g.inner, g.len);
    let s = src.contiguous_data::<T>(op)?;
    let mut out = t.contiguous_data::<T>(op)?.into_owned();
    if !out.is_empty() && inner > 0 {
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
    Ok(Tensor::from_op(out, t.shape()))
}

/// [`Tensor::scatter_add`] in `T`, its arguments checked (`idx` is `index`'s values).
fn scatter_add<T: Float>(
    op: &'static str,
    t: &Tensor,
    dim: usize,
    index: &Tensor,
    idx: &[usize],
    src: &Tensor,
) -> Result<Tensor> {
    let src_data = src.storage_slice::<T>(op)?;
    let (src_strides, src_offset) = (src.strides(), src.layout().offset());
    let rank = t.rank();
    // Work on `t` with `dim` moved last: each line along `dim` is then a contiguous
    // chunk, every index position adds into its own line only, and lines are disjoint,
    // so lines run in parallel (one task per line group) with no atomics.
    let others: Vec<usize> = (0..rank).filter(|&d| d != dim).collect();
    let mut perm = others.clone();
    perm.push(dim);
    let moved = t.layout().permute(&perm)?;
    let mut out = layout_data(t.storage_slice::<T>(op)?, &moved).into_owned();
    let size = t.shape()[dim];
    let (ishape, istrides) = (index.shape(), contiguous_strides(index.shape()));
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
                    let c = rem % t.shape()[d];
                    rem /= t.shape()[d];
                    if c >= ishape[d] {
                        return;
                    }
                    at += c * istrides[d];
                    from += c * src_strides[d];
                }
                for q in 0..k {
                    buf[idx[at + q * istrides[dim]]] += src_data[from + q * src_strides[dim]];
                }
            });
    }
    let mut inverse = vec![0; rank];
    for (i, &p) in perm.iter().enumerate() {
        inverse[p] = i;
    }
    Tensor::from_op(out, moved.shape())
        .permute(&inverse)?
        .contiguous()
}

impl Tensor {
    /// The slices of `self` at `indices` (1-D, i64) along `dim`, in that order; repeats are
    /// allowed. `weight.index_select(0, ids)` is an embedding lookup. Any dtype.
    pub fn index_select(&self, dim: usize, indices: &Tensor) -> Result<Tensor> {
        const OP: &str = "index_select";
        check_dim(OP, dim, self.shape())?;
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self, indices])? {
            one_dimensional(OP, indices)?;
            return crate::cuda::index_select(&gpu, self, dim, indices);
        }
        let idx = vector_indices(OP, indices, dim, self.shape())?;
        with_dtype!(self.dtype(), T => select::<T>(OP, self, dim, &idx))
    }

    /// A copy of `self` (f32 or f64, and `src` of the same dtype) with slice `j` of `src`
    /// along `dim` added at position `indices[j]`; repeated indices accumulate. `src` has the
    /// shape of `self` with `dim` of size `indices.len()`. The adjoint of [`Tensor::index_select`]: the embedding's
    /// backward pass is `zeros(weight).index_add(0, ids, grad)`.
    pub fn index_add(&self, dim: usize, indices: &Tensor, src: &Tensor) -> Result<Tensor> {
        self.index_add_with(dim, indices, src, Accumulate::default())
    }

    /// [`Tensor::index_add`], choosing on a GPU how rows that share an index are added:
    /// [`Accumulate::Atomic`] (fastest, in any order), [`Accumulate::Sorted`] (the same
    /// order on every run, the CPU's) or [`Accumulate::Auto`] (the default: the one
    /// [`crate::set_deterministic`] chose). On the host the sum is always in the CPU's order.
    pub fn index_add_with(
        &self,
        dim: usize,
        indices: &Tensor,
        src: &Tensor,
        how: Accumulate,
    ) -> Result<Tensor> {
        self.clone().into_index_add(dim, indices, src, how)
    }

    /// [`Tensor::index_add_with`], consuming `self`: on a GPU, when `self` is the only owner
    /// of its storage, the slices are added into it in place, with no copy (as PyTorch's
    /// `index_add_`); otherwise into a copy, so no other tensor sees a change. The
    /// embedding's backward pass adds into fresh zeros this way.
    pub fn into_index_add(
        self,
        dim: usize,
        indices: &Tensor,
        src: &Tensor,
        how: Accumulate,
    ) -> Result<Tensor> {
        const OP: &str = "index_add";
        check_dim(OP, dim, self.shape())?;
        let mut expected = self.shape().to_vec();
        expected[dim] = indices.elem_count();
        let check_src = || {
            if src.shape() == expected {
                return Ok(());
            }
            Err(Error::shape(
                OP,
                format!(
                    "src {:?} must have shape {expected:?}: self {:?} with dimension {dim} \
                     of size {} (the number of indices)",
                    src.shape(),
                    self.shape(),
                    indices.elem_count()
                ),
            ))
        };
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[&self, indices, src])? {
            one_dimensional(OP, indices)?;
            check_src()?;
            return crate::cuda::index_add(&gpu, self, dim, indices, src, how);
        }
        let idx = vector_indices(OP, indices, dim, self.shape())?;
        check_src()?;
        let (_, size, inner) = split3(self.shape(), dim);
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
        with_float!(OP, self.dtype(), T => add_slices::<T>(OP, &self, src, &groups))
    }

    /// `out[..., i, ...] = self[..., index[..., i, ...], ...]` along `dim` (torch.gather):
    /// `index` is i64 with the rank of `self`, no larger than `self` outside `dim`, and the
    /// result has the shape of `index`. `log_probs.gather(1, target)` reads each row's
    /// target log-probability. Any dtype.
    pub fn gather(&self, dim: usize, index: &Tensor) -> Result<Tensor> {
        const OP: &str = "gather";
        check_dim(OP, dim, self.shape())?;
        check_fits(OP, index, "self", self, dim, true)?;
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self, index])? {
            return crate::cuda::gather(&gpu, self, dim, index);
        }
        let idx = checked_indices(OP, &index.contiguous_data::<i64>(OP)?, dim, self.shape())?;
        with_dtype!(self.dtype(), T => gather_typed::<T>(OP, self, dim, index.shape(), &idx))
    }

    /// A copy of `self` (f32 or f64, and `src` of the same dtype) with
    /// `self[..., index[p], ...] += src[p]` along `dim` for every position `p` of `index`
    /// (torch.scatter_add): `index` is i64 with the rank of `self`,
    /// no larger than `src` anywhere and than `self` outside `dim`. The adjoint of
    /// [`Tensor::gather`].
    pub fn scatter_add(&self, dim: usize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        self.clone().into_scatter_add(dim, index, src)
    }

    /// [`Tensor::scatter_add`], consuming `self`: added into in place on a GPU when `self` is
    /// the only owner of its storage, into a copy otherwise (see [`Tensor::into_index_add`]).
    pub fn into_scatter_add(self, dim: usize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        const OP: &str = "scatter_add";
        check_dim(OP, dim, self.shape())?;
        check_fits(OP, index, "self", &self, dim, true)?;
        check_fits(OP, index, "src", src, dim, false)?;
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[&self, index, src])? {
            return crate::cuda::scatter_add(&gpu, self, dim, index, src);
        }
        let idx = checked_indices(OP, &index.contiguous_data::<i64>(OP)?, dim, self.shape())?;
        with_float!(OP, self.dtype(), T => scatter_add::<T>(OP, &self, dim, index, &idx, src))
    }
}
