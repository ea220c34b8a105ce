//! Reductions and softmax on the GPU. The reduced dimensions are brought together (a view,
//! then a copy only when the data is not already laid out as `[outer, r, inner]`), so one
//! kernel reduces the middle axis of a contiguous buffer.
use super::{alloc, alloc_i64, binary, kernel_error, unary, CudaStorage, DeviceData};
use crate::params::Divide;
use crate::{Layout, Result};
use kernels::{BinaryOp, Extremum, UnaryOp};

/// The elements of `l` as a contiguous `[outer, r, inner]` with the (distinct) `dims` the
/// middle axis.
fn three_axes<'a>(
    op: &'static str,
    s: &'a CudaStorage,
    l: &Layout,
    dims: &[usize],
) -> Result<(DeviceData<'a, f32>, [usize; 3])> {
    let mut dims = dims.to_vec();
    dims.sort_unstable();
    let shape = l.shape();
    let r: usize = dims.iter().map(|&d| shape[d]).product();
    let adjacent = dims.windows(2).all(|w| w[1] == w[0] + 1);
    if adjacent && !dims.is_empty() {
        let outer = shape[..dims[0]].iter().product();
        let inner = shape[dims[dims.len() - 1] + 1..].iter().product();
        return Ok((s.f32_rows(op, l)?, [outer, r, inner]));
    }
    // Move the reduced dimensions last.
    let mut perm: Vec<usize> = (0..l.rank()).filter(|d| !dims.contains(d)).collect();
    let outer = perm.iter().map(|&d| shape[d]).product();
    perm.extend(&dims);
    Ok((s.f32_rows(op, &l.permute(&perm)?)?, [outer, r, 1]))
}

/// The sum over the (distinct) `dims`, divided as `divide` says.
pub(crate) fn sum(
    op: &'static str,
    s: &CudaStorage,
    l: &Layout,
    dims: &[usize],
    divide: Divide,
) -> Result<CudaStorage> {
    let (x, axes) = three_axes(op, s, l, dims)?;
    let scale = (1.0 / divide.divisor(axes[1])) as f32;
    let mut out = alloc(op, s.gpu(), axes[0] * axes[2])?;
    s.gpu()
        .sum_mid(axes, &x.view(), &mut out, scale)
        .map_err(kernel_error(op))?;
    Ok(CudaStorage::f32(s.gpu(), out))
}

/// The variance over the (distinct, non-empty) `dims` in two passes, as the CPU
/// code: the mean, then the mean square of the deviations (divided by r - 1 when
/// `unbiased`).
pub(crate) fn var(
    s: &CudaStorage,
    l: &Layout,
    dims: &[usize],
    unbiased: bool,
) -> Result<CudaStorage> {
    const OP: &str = "var";
    let mean = sum(OP, s, l, dims, Divide::ByCount)?;
    let mut kept = l.shape().to_vec();
    for &d in dims {
        kept[d] = 1;
    }
    let spread = Layout::contiguous(&kept).expand(l.shape())?;
    let deviations = binary(OP, (s, l), (&mean, &spread), BinaryOp::Sub)?;
    let dense = Layout::contiguous(l.shape());
    let squares = unary(OP, &deviations, &dense, UnaryOp::Sqr)?;
    let divide = if unbiased {
        Divide::ByCountLessOne
    } else {
        Divide::ByCount
    };
    sum(OP, &squares, &dense, dims, divide)
}

/// The maximum or minimum over the (distinct, non-empty) `dims`.
pub(crate) fn extremum(
    op: &'static str,
    s: &CudaStorage,
    l: &Layout,
    dims: &[usize],
    which: Extremum,
) -> Result<CudaStorage> {
    let (x, axes) = three_axes(op, s, l, dims)?;
    let mut out = alloc(op, s.gpu(), axes[0] * axes[2])?;
    s.gpu()
        .extremum(which, axes, &x.view(), Some(&mut out), None)
        .map_err(kernel_error(op))?;
    Ok(CudaStorage::f32(s.gpu(), out))
}

/// The i64 index of the first maximum or minimum along `dim` (non-empty).
pub(crate) fn arg_extremum(
    op: &'static str,
    s: &CudaStorage,
    l: &Layout,
    dim: usize,
    which: Extremum,
) -> Result<CudaStorage> {
    let (x, axes) = three_axes(op, s, l, &[dim])?;
    let mut out = alloc_i64(op, s.gpu(), axes[0] * axes[2])?;
    s.gpu()
        .extremum(which, axes, &x.view(), None, Some(&mut out))
        .map_err(kernel_error(op))?;
    Ok(CudaStorage::i64(s.gpu(), out))
}

/// Softmax (or, `log`, log-softmax) along `dim`, in the input's row-major order: rows along
/// the last axis, moved there when needed.
pub(crate) fn softmax(
    op: &'static str,
    s: &CudaStorage,
    l: &Layout,
    dim: usize,
    log: bool,
) -> Result<CudaStorage> {
    let last = l.rank() - 1;
    let moved = l.transpose(dim, last)?;
    let cols = l.shape()[dim];
    let rows = l.elem_count().checked_div(cols).unwrap_or(0);
    let mut out = alloc(op, s.gpu(), l.elem_count())?;
    if rows > 0 {
        let x = s.f32_rows(op, &moved)?;
        s.gpu()
            .softmax_rows([rows, cols], &x.view(), &mut out, log)
            .map_err(kernel_error(op))?;
    }
    let out = CudaStorage::f32(s.gpu(), out);
    if dim == last {
        return Ok(out);
    }
    let back = Layout::contiguous(moved.shape()).transpose(dim, last)?;
    super::contiguous(op, &out, &back)
}
