//! Joining tensors: `cat` along an existing dimension (`cpu/cat.rs`, `cuda/cat.rs`), `stack`
//! along a new one: `cat` of the inputs each unsqueezed at `dim` (a view, no copy). Any
//! dtype, as long as all inputs share it.
use crate::layout::check_dim;
use crate::{Error, Layout, Result, Storage, Tensor};

/// `[2, 3], [2, 4]`: every input's shape, for error messages.
fn all_shapes(tensors: &[&Tensor]) -> Vec<Vec<usize>> {
    tensors.iter().map(|t| t.shape().to_vec()).collect()
}

/// The first tensor of a non-empty list, or an error naming the op.
fn first<'a>(op: &'static str, tensors: &[&'a Tensor]) -> Result<&'a Tensor> {
    tensors.first().copied().ok_or(Error::argument(
        op,
        "the number of tensors",
        0,
        "at least 1",
    ))
}

/// Checks that every input has the first one's dtype.
fn same_dtype(op: &'static str, tensors: &[&Tensor]) -> Result<()> {
    let dtype = tensors[0].dtype();
    match tensors.iter().find(|t| t.dtype() != dtype) {
        Some(t) => Err(Error::DType {
            op,
            expected: dtype,
            got: t.dtype(),
        }),
        None => Ok(()),
    }
}

impl Tensor {
    /// Concatenates `tensors` along `dim`: all must have the same dtype, rank and sizes
    /// outside `dim`.
    pub fn cat(tensors: &[&Tensor], dim: usize) -> Result<Tensor> {
        const OP: &str = "cat";
        let first = first(OP, tensors)?;
        check_dim(OP, dim, first.shape())?;
        let fits = |t: &&Tensor| {
            t.rank() == first.rank()
                && (0..first.rank()).all(|d| d == dim || t.shape()[d] == first.shape()[d])
        };
        if !tensors.iter().all(fits) {
            return Err(Error::Cat {
                op: OP,
                dim,
                shapes: all_shapes(tensors),
            });
        }
        same_dtype(OP, tensors)?;
        let mut shape = first.shape().to_vec();
        shape[dim] = tensors.iter().map(|t| t.shape()[dim]).sum();
        let parts: Vec<(&Storage, &Layout)> =
            tensors.iter().map(|t| (t.storage(), t.layout())).collect();
        let storage = Storage::cat(&parts, dim, &shape)?;
        Ok(Tensor::from_storage(storage, &shape))
    }

    /// Stacks `tensors` (all of one shape and dtype) along a new dimension `dim`
    /// (`0..=rank`): `n` tensors of shape `[a, b]` stacked at 1 give `[a, n, b]`.
    pub fn stack(tensors: &[&Tensor], dim: usize) -> Result<Tensor> {
        const OP: &str = "stack";
        let first = first(OP, tensors)?;
        if dim > first.rank() {
            return Err(Error::Dim {
                op: OP,
                dim,
                shape: first.shape().to_vec(),
            });
        }
        if tensors.iter().any(|t| t.shape() != first.shape()) {
            return Err(Error::Shape {
                op: OP,
                shapes: all_shapes(tensors),
                expected: "equal shapes to stack",
            });
        }
        same_dtype(OP, tensors)?;
        let views = tensors
            .iter()
            .map(|t| t.unsqueeze(dim))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&Tensor> = views.iter().collect();
        Tensor::cat(&refs, dim)
    }
}
