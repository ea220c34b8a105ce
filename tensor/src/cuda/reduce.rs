//! Reductions and softmax on the GPU. The reduced dimensions are brought together (a view,
//! then a copy only when the data is not already laid out as `[outer, r, inner]`), so one
//! kernel reduces the middle axis of a contiguous tensor.
use super::{alloc, alloc_i64, kernel_error, CudaData};
use crate::layout::check_dim;
use crate::{Error, Result, Tensor};
use kernels::{Extremum, Gpu};
use std::sync::Arc;

/// `t` as a contiguous `[outer, r, inner]` with `dims` (sorted, distinct) the middle axis,
/// and the shape of the result.
fn three_axes(
    op: &'static str,
    t: &Tensor,
    dims: &[usize],
    keepdim: bool,
) -> Result<(Tensor, [usize; 3], Vec<usize>)> {
    let mut dims = dims.to_vec();
    dims.sort_unstable();
    dims.dedup();
    for &d in &dims {
        check_dim(op, d, t.shape())?;
    }
    let shape = t.shape();
    let out_shape: Vec<usize> = (0..t.rank())
        .filter_map(|d| match (dims.contains(&d), keepdim) {
            (false, _) => Some(shape[d]),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect();
    let r: usize = dims.iter().map(|&d| shape[d]).product();
    let adjacent = dims.windows(2).all(|w| w[1] == w[0] + 1);
    let (x, outer, inner) = if adjacent && !dims.is_empty() {
        let outer = shape[..dims[0]].iter().product();
        let inner = shape[dims[dims.len() - 1] + 1..].iter().product();
        (t.contiguous()?, outer, inner)
    } else {
        // Move the reduced dimensions last.
        let mut perm: Vec<usize> = (0..t.rank()).filter(|d| !dims.contains(d)).collect();
        perm.extend(&dims);
        let outer = perm[..perm.len() - dims.len()]
            .iter()
            .map(|&d| shape[d])
            .product();
        (t.permute(&perm)?.contiguous()?, outer, 1)
    };
    Ok((x, [outer, r, inner], out_shape))
}

/// What a sum over r elements is divided by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Divide {
    /// Nothing: a sum.
    No,
    /// r: a mean.
    ByCount,
    /// r - 1: an unbiased variance's sum of squares.
    ByCountLessOne,
}

/// Sum over `dims`, divided as `divide` says.
pub(crate) fn sum(
    gpu: &Arc<Gpu>,
    op: &'static str,
    t: &Tensor,
    dims: &[usize],
    keepdim: bool,
    divide: Divide,
) -> Result<Tensor> {
    let (x, axes, out_shape) = three_axes(op, t, dims, keepdim)?;
    let scale = match divide {
        Divide::No => 1.0,
        Divide::ByCount => 1.0 / axes[1] as f32,
        Divide::ByCountLessOne => 1.0 / (axes[1] as f32 - 1.0),
    };
    let mut out = alloc(op, gpu, axes[0] * axes[2])?;
    gpu.sum_mid(axes, &x.cuda_f32(op)?.view(), &mut out, scale)
        .map_err(kernel_error(op))?;
    Ok(Tensor::from_cuda_f32(gpu, out, &out_shape))
}

/// Variance over `dims` in two passes, as the CPU path: the mean, then the mean square of
/// the deviations (divided by r - 1 when `unbiased`).
pub(crate) fn var(
    gpu: &Arc<Gpu>,
    t: &Tensor,
    dims: &[usize],
    keepdim: bool,
    unbiased: bool,
) -> Result<Tensor> {
    const OP: &str = "var";
    for &d in dims {
        check_dim(OP, d, t.shape())?;
    }
    let mut distinct = dims.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    non_empty(OP, t, distinct.iter().map(|&d| t.shape()[d]).product())?;
    let mean = sum(gpu, OP, t, dims, true, Divide::ByCount)?;
    let squares = t.sub(&mean)?.sqr()?;
    let divide = if unbiased {
        Divide::ByCountLessOne
    } else {
        Divide::ByCount
    };
    sum(gpu, OP, &squares, dims, keepdim, divide)
}

fn non_empty(op: &'static str, t: &Tensor, r: usize) -> Result<()> {
    if r == 0 {
        return Err(Error::shape(
            op,
            format!("cannot reduce an empty axis of shape {:?}", t.shape()),
        ));
    }
    Ok(())
}

/// Maximum or minimum over `dims`.
pub(crate) fn extremum(
    gpu: &Arc<Gpu>,
    op: &'static str,
    which: Extremum,
    t: &Tensor,
    dims: &[usize],
    keepdim: bool,
) -> Result<Tensor> {
    let (x, axes, out_shape) = three_axes(op, t, dims, keepdim)?;
    non_empty(op, t, axes[1])?;
    let mut out = alloc(op, gpu, axes[0] * axes[2])?;
    gpu.extremum(which, axes, &x.cuda_f32(op)?.view(), Some(&mut out), None)
        .map_err(kernel_error(op))?;
    Ok(Tensor::from_cuda_f32(gpu, out, &out_shape))
}

/// Index (i64) of the first maximum or minimum along `dim`.
pub(crate) fn arg_extremum(
    gpu: &Arc<Gpu>,
    op: &'static str,
    which: Extremum,
    t: &Tensor,
    dim: usize,
    keepdim: bool,
) -> Result<Tensor> {
    let (x, axes, out_shape) = three_axes(op, t, &[dim], keepdim)?;
    non_empty(op, t, axes[1])?;
    let mut out = alloc_i64(op, gpu, axes[0] * axes[2])?;
    gpu.extremum(which, axes, &x.cuda_f32(op)?.view(), None, Some(&mut out))
        .map_err(kernel_error(op))?;
    Ok(Tensor::from_cuda(gpu, CudaData::I64(out), &out_shape))
}

/// Softmax or log-softmax along `dim`: rows along the last axis, moved there when needed.
pub(crate) fn softmax(
    gpu: &Arc<Gpu>,
    op: &'static str,
    t: &Tensor,
    dim: usize,
    log: bool,
) -> Result<Tensor> {
    check_dim(op, dim, t.shape())?;
    let last = t.rank() - 1;
    let x = t.transpose(dim, last)?.contiguous()?;
    let cols = t.shape()[dim];
    let rows = t.elem_count().checked_div(cols).unwrap_or(0);
    let mut out = alloc(op, gpu, t.elem_count())?;
    if rows > 0 {
        gpu.softmax_rows([rows, cols], &x.cuda_f32(op)?.view(), &mut out, log)
            .map_err(kernel_error(op))?;
    }
    Tensor::from_cuda_f32(gpu, out, x.shape())
        .transpose(dim, last)?
        .contiguous()
}
