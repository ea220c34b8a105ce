//! Indexing by i64 index tensors, in adjoint pairs:
//! - `index_select` picks whole slices along one dimension (an embedding lookup is
//!   `weight.index_select(0, ids)`), and `index_add` adds slices back at those positions
//!   (the embedding's backward pass: repeated ids accumulate);
//! - `gather` picks one element per index position (cross-entropy reads
//!   `log_probs.gather(1, target)`), and `scatter_add` adds elements back (its backward pass).
//!
//! An index out of range (negative included: PyTorch's negative wrap-around is not supported,
//! to catch bugs rather than hide them) is an [`Error::IndexOutOfRange`] naming the index,
//! its position and the size.
//! The backends (`cpu/index.rs`, `cuda/index.rs`) check the indices; on the host the adding
//! ops are deterministic and use no atomics.
use crate::layout::check_dim;
use crate::{Error, Result, Storage, Tensor};
use kernels::Accumulate;

/// Refuses indices that are not 1-D.
fn one_dimensional(op: &'static str, indices: &Tensor) -> Result<()> {
    if indices.rank() != 1 {
        return Err(Error::shapes(
            op,
            &[indices.shape()],
            "1-D indices (flatten them first)",
        ));
    }
    Ok(())
}

/// Checks that `index` has the rank of `t` and is no larger than `t` outside dimension `dim`
/// (`skip_dim`) or anywhere (`!skip_dim`), as torch.gather and torch.scatter_add require.
fn check_fits(
    op: &'static str,
    index: &Tensor,
    t: &Tensor,
    dim: usize,
    skip_dim: bool,
) -> Result<()> {
    let fits = index.rank() == t.rank()
        && (0..t.rank()).all(|d| (skip_dim && d == dim) || index.shape()[d] <= t.shape()[d]);
    if !fits {
        return Err(Error::shapes(
            op,
            &[index.shape(), t.shape()],
            if skip_dim {
                "an index of the tensor's rank, no larger outside the dimension indexed"
            } else {
                "an index of the tensor's rank, no larger in any dimension"
            },
        ));
    }
    Ok(())
}

impl Tensor {
    /// `self` once `add` has added into its storage in place, given the shape: its own
    /// storage when it alone holds it whole (no copy, as PyTorch's `index_add_`), else a
    /// row-major copy, so that no other tensor sees a change.
    fn added_into(
        mut self,
        add: impl FnOnce(&mut Storage, &[usize]) -> Result<()>,
    ) -> Result<Tensor> {
        let shape = self.shape().to_vec();
        add(self.storage_for_update()?, &shape)?;
        Ok(self)
    }

    /// The slices of `self` at `indices` (1-D, i64) along `dim`, in that order; repeats are
    /// allowed. `weight.index_select(0, ids)` is an embedding lookup. Any dtype.
    pub fn index_select(&self, dim: usize, indices: &Tensor) -> Result<Tensor> {
        const OP: &str = "index_select";
        check_dim(OP, dim, self.shape())?;
        one_dimensional(OP, indices)?;
        let storage = self.storage().index_select(
            self.layout(),
            dim,
            (indices.storage(), indices.layout()),
        )?;
        let mut shape = self.shape().to_vec();
        shape[dim] = indices.elem_count();
        Ok(Tensor::from_storage(storage, &shape))
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

    /// [`Tensor::index_add_with`], consuming `self`: when `self` is the only owner of its
    /// storage, the slices are added into it in place, with no copy (as PyTorch's
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
        one_dimensional(OP, indices)?;
        let mut expected = self.shape().to_vec();
        expected[dim] = indices.elem_count();
        if src.shape() != expected {
            return Err(Error::shapes(
                OP,
                &[src.shape(), &expected],
                "src of the second shape: self's, with the number of indices along dim",
            ));
        }
        self.added_into(|t, shape| {
            t.index_add(
                shape,
                dim,
                (indices.storage(), indices.layout()),
                (src.storage(), src.layout()),
                how,
            )
        })
    }

    /// `out[..., i, ...] = self[..., index[..., i, ...], ...]` along `dim` (torch.gather):
    /// `index` is i64 with the rank of `self`, no larger than `self` outside `dim`, and the
    /// result has the shape of `index`. `log_probs.gather(1, target)` reads each row's
    /// target log-probability. Any dtype.
    pub fn gather(&self, dim: usize, index: &Tensor) -> Result<Tensor> {
        const OP: &str = "gather";
        check_dim(OP, dim, self.shape())?;
        check_fits(OP, index, self, dim, true)?;
        let storage =
            self.storage()
                .gather(self.layout(), dim, (index.storage(), index.layout()))?;
        Ok(Tensor::from_storage(storage, index.shape()))
    }

    /// A copy of `self` (f32 or f64, and `src` of the same dtype) with
    /// `self[..., index[p], ...] += src[p]` along `dim` for every position `p` of `index`
    /// (torch.scatter_add): `index` is i64 with the rank of `self`,
    /// no larger than `src` anywhere and than `self` outside `dim`. The adjoint of
    /// [`Tensor::gather`].
    pub fn scatter_add(&self, dim: usize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        self.clone().into_scatter_add(dim, index, src)
    }

    /// [`Tensor::scatter_add`], consuming `self`: added into its storage when `self` is its
    /// only owner, into a copy otherwise (see [`Tensor::into_index_add`]).
    pub fn into_scatter_add(self, dim: usize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        const OP: &str = "scatter_add";
        check_dim(OP, dim, self.shape())?;
        check_fits(OP, index, &self, dim, true)?;
        check_fits(OP, index, src, dim, false)?;
        self.added_into(|t, shape| {
            t.scatter_add(
                shape,
                dim,
                (index.storage(), index.layout()),
                (src.storage(), src.layout()),
            )
        })
    }
}
