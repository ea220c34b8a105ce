//! Index ops on the GPU: index_select (embedding lookups) and index_add (their gradient),
//! range-checked by the kernels; gather and scatter_add along any dimension. Bad indices
//! are reported (a copy back to the host, and a wait) unless they are known in range
//! (`bounds.rs`).
use super::{alloc, kernel_error, kernel_layout, zeros};
use crate::{Error, Result, Tensor};
use kernels::{Accumulate, Gpu, Indices, RangeCheck};
use std::sync::Arc;

/// A kernel's report of an index out of range as the CPU path words it, with the index read
/// back from the GPU (only on this error path).
fn bad_index<'a>(
    op: &'static str,
    indices: &'a Tensor,
    dim: usize,
    shape: &'a [usize],
) -> impl Fn(kernels::Error) -> Error + 'a {
    move |e| match e {
        kernels::Error::IndexOutOfRange { position } => {
            let value = indices
                .to_vec::<i64>()
                .ok()
                .and_then(|v| v.get(position as usize).copied());
            let shown = value.map_or_else(|| "?".to_string(), |v| v.to_string());
            Error::index(
                op,
                format!(
                    "index {shown} (at position {position}) is out of range for dimension {dim} of size {} (tensor shape {shape:?})",
                    shape[dim]
                ),
            )
        }
        other => kernel_error(op)(other),
    }
}

/// `[outer, size, inner]` around `dim`.
fn around(shape: &[usize], dim: usize) -> [usize; 3] {
    [
        shape[..dim].iter().product(),
        shape[dim],
        shape[dim + 1..].iter().product(),
    ]
}

/// The 1-D `indices` as the kernels read them: in place, however far apart (a column of a
/// `[batch, n_cat]` table of codes is `n_cat` apart), with no copy.
fn indices_of<'a>(op: &'static str, indices: &'a Tensor) -> Result<Indices<'a>> {
    let buf = indices.cuda_index_buffer(op)?;
    let n = indices.elem_count();
    let start = indices.layout().offset();
    let stride = indices.layout().strides().first().copied().unwrap_or(1);
    let span = if n == 0 { 0 } else { (n - 1) * stride + 1 };
    if start + span > buf.len() {
        return Err(Error::index(
            op,
            "the indices' view lies outside its storage",
        ));
    }
    Ok(Indices {
        data: buf.slice(start..start + span),
        n,
        stride,
        host: None,
    })
}

pub(crate) fn index_select(
    gpu: &Arc<Gpu>,
    x: &Tensor,
    dim: usize,
    indices: &Tensor,
) -> Result<Tensor> {
    const OP: &str = "index_select";
    let mut shape = x.shape().to_vec();
    shape[dim] = indices.elem_count();
    let mut out = alloc(OP, gpu, shape.iter().product())?;
    gpu.index_select(
        around(x.shape(), dim),
        &x.cuda_f32(OP)?.view(),
        &indices_of(OP, indices)?,
        &mut out,
        RangeCheck::Report,
    )
    .map_err(bad_index(OP, indices, dim, x.shape()))?;
    Ok(Tensor::from_cuda_f32(gpu, out, &shape))
}

/// `x` with `src`'s slices added at `indices`, in place when `x` owns its storage alone.
pub(crate) fn index_add(
    gpu: &Arc<Gpu>,
    mut x: Tensor,
    dim: usize,
    indices: &Tensor,
    src: &Tensor,
    how: Accumulate,
) -> Result<Tensor> {
    const OP: &str = "index_add";
    let sizes = around(x.shape(), dim);
    let shape = x.shape().to_vec();
    gpu.index_add(
        sizes,
        &indices_of(OP, indices)?,
        (
            &kernel_layout(OP, src.layout())?,
            &src.cuda_buffer(OP)?.as_view(),
        ),
        x.cuda_unique(OP)?,
        how,
        RangeCheck::Report,
    )
    .map_err(bad_index(OP, indices, dim, &shape))?;
    Ok(x)
}

/// torch.gather along `dim` (shapes checked by the caller): the result has the index's shape.
pub(crate) fn gather(gpu: &Arc<Gpu>, x: &Tensor, dim: usize, index: &Tensor) -> Result<Tensor> {
    const OP: &str = "gather";
    let mut out = alloc(OP, gpu, index.elem_count())?;
    gpu.gather(
        (
            &kernel_layout(OP, x.layout())?,
            &x.cuda_buffer(OP)?.as_view(),
        ),
        (
            &kernel_layout(OP, index.layout())?,
            &index.cuda_index_buffer(OP)?.as_view(),
        ),
        dim,
        &mut out,
        RangeCheck::Report,
    )
    .map_err(bad_index(OP, index, dim, x.shape()))?;
    Ok(Tensor::from_cuda_f32(gpu, out, index.shape()))
}

/// `x` with torch.scatter_add's sums along `dim` (shapes checked by the caller), in place
/// when `x` owns its storage alone.
pub(crate) fn scatter_add(
    gpu: &Arc<Gpu>,
    mut x: Tensor,
    dim: usize,
    index: &Tensor,
    src: &Tensor,
) -> Result<Tensor> {
    const OP: &str = "scatter_add";
    let shape = x.shape().to_vec();
    gpu.scatter_add(
        &shape,
        (
            &kernel_layout(OP, index.layout())?,
            &index.cuda_index_buffer(OP)?.as_view(),
        ),
        (
            &kernel_layout(OP, src.layout())?,
            &src.cuda_buffer(OP)?.as_view(),
        ),
        dim,
        x.cuda_unique(OP)?,
        RangeCheck::Report,
    )
    .map_err(bad_index(OP, index, dim, &shape))?;
    Ok(x)
}

/// The `[n, t]` codes as the grouped lookup reads them, in place through their strides.
fn codes_of<'a>(op: &'static str, codes: &'a Tensor) -> Result<kernels::Codes<'a>> {
    let buf = codes.cuda_index_buffer(op)?;
    let (l, [n, t]) = (codes.layout(), [codes.shape()[0], codes.shape()[1]]);
    let (row, col) = (l.strides()[0], l.strides()[1]);
    let span = if n * t == 0 {
        0
    } else {
        (n - 1) * row + (t - 1) * col + 1
    };
    if l.offset() + span > buf.len() {
        return Err(Error::index(op, "the codes' view lies outside its storage"));
    }
    let view = l.offset()..l.offset() + span;
    Ok(kernels::Codes {
        data: buf.slice(view.clone()),
        n,
        count: t,
        row,
        col,
        host: None,
    })
}

/// A kernel's report of a code out of its table as the CPU path words it (the code read
/// back from the GPU, only on this error path).
fn bad_code<'a>(
    op: &'static str,
    codes: &'a Tensor,
    sizes: &'a [[usize; 2]],
) -> impl Fn(kernels::Error) -> Error + 'a {
    move |e| match e {
        kernels::Error::IndexOutOfRange { position } => {
            let (b, j) = (
                position as usize / sizes.len(),
                position as usize % sizes.len(),
            );
            let code = codes
                .narrow(0, b, 1)
                .and_then(|r| r.narrow(1, j, 1))
                .and_then(|c| c.to_vec::<i64>())
                .map_or_else(|_| "?".to_string(), |v| v[0].to_string());
            Error::index(
                op,
                format!(
                    "code {code} at [{b}, {j}] is out of range for table {j} of {} rows",
                    sizes[j][0]
                ),
            )
        }
        other => kernel_error(op)(other),
    }
}

/// The tables' rows picked by the codes, side by side, in one launch per group of tables.
pub(crate) fn embeddings_cat(
    gpu: &Arc<Gpu>,
    tables: &[&Tensor],
    codes: &Tensor,
    sizes: &[[usize; 2]],
) -> Result<Tensor> {
    const OP: &str = "embeddings_cat";
    let width: usize = sizes.iter().map(|s| s[1]).sum();
    let n = codes.shape()[0];
    let data = tables
        .iter()
        .map(|t| t.cuda_f32(OP))
        .collect::<Result<Vec<_>>>()?;
    let views: Vec<_> = data.iter().map(|d| d.view()).collect();
    let with_sizes: Vec<_> = views.iter().zip(sizes).map(|(v, &s)| (v, s)).collect();
    let mut y = alloc(OP, gpu, n * width)?;
    gpu.embeddings_cat(
        &with_sizes,
        &codes_of(OP, codes)?,
        &mut y,
        RangeCheck::Report,
    )
    .map_err(bad_code(OP, codes, sizes))?;
    Ok(Tensor::from_cuda_f32(gpu, y, &[n, width]))
}

/// The tables' gradients: one atomic launch per group of tables into zeroed gradients, or,
/// under `set_deterministic`, one sorted launch per group (the CPU's order of additions).
pub(crate) fn embeddings_cat_backward(
    gpu: &Arc<Gpu>,
    dy: &Tensor,
    codes: &Tensor,
    sizes: &[[usize; 2]],
) -> Result<Vec<Tensor>> {
    const OP: &str = "embeddings_cat_backward";
    // One buffer for every table's gradient, cleared by one memset; each gradient a view.
    // dy in place when its rows are dense (a block of columns of a wider gradient is), else
    // a dense copy. (In the tabular model dy comes dense, from emb_drop's backward.)
    let (dys, row) = dy.cuda_rows(OP)?;
    let total: usize = sizes.iter().map(|[rows, w]| rows * w).sum();
    let mut grads = zeros(OP, gpu, total)?;
    let (dy_rows, codes_in) = ((&dys.view(), row), codes_of(OP, codes)?);
    if kernels::deterministic() {
        gpu.embeddings_cat_backward_sorted((&mut grads, sizes), &codes_in, dy_rows)
    } else {
        gpu.embeddings_cat_backward((&mut grads, sizes), &codes_in, dy_rows, RangeCheck::Report)
    }
    .map_err(bad_code(OP, codes, sizes))?;
    let all = Tensor::from_cuda_f32(gpu, grads, &[total]);
    let mut at = 0;
    sizes
        .iter()
        .map(|&[rows, w]| {
            at += rows * w;
            all.narrow(0, at - rows * w, rows * w)?.reshape(&[rows, w])
        })
        .collect()
}
