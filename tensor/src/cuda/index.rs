//! Index ops on the GPU: index_select (embedding lookups) and index_add (their gradient),
//! gather and scatter_add along any dimension. The kernels skip an index out of range and
//! report the first, which costs a copy back to the host and a wait at every launch.
use super::{alloc, download, kernel_error, kernel_layout, CudaStorage};
use crate::cpu::CpuStorage;
use crate::layout::around;
use crate::{Error, Layout, Result};
use kernels::{Accumulate, Indices};

/// Element `position` of the i64 elements `l` selects (row-major), read back from the GPU
/// for an error; the error of the read where it fails.
pub(super) fn value_at(s: &CudaStorage, l: &Layout, position: u64) -> Result<i64> {
    match &download(s, l)? {
        CpuStorage::I64(v) => v.get(position as usize).copied(),
        _ => None,
    }
    .ok_or(Error::Internal {
        op: "value_at",
        what: "a kernel reported an index that is not there",
    })
}

/// A kernel's report of an index out of range as the CPU path words it, with the index read
/// back from the GPU (only on this error path).
fn bad_index<'a>(
    op: &'static str,
    (indices, li): (&'a CudaStorage, &'a Layout),
    dim: usize,
    shape: &'a [usize],
) -> impl Fn(kernels::Error) -> Error + 'a {
    move |e| match e {
        kernels::Error::IndexOutOfRange { position } => match value_at(indices, li, position) {
            Ok(index) => Error::IndexOutOfRange {
                op,
                index,
                position: position as usize,
                dim,
                size: shape[dim],
            },
            Err(e) => e,
        },
        other => kernel_error(op)(other),
    }
}

/// The 1-D indices as the kernels read them: in place, however far apart (a column of a
/// `[batch, n_cat]` table of codes is `n_cat` apart), with no copy.
fn indices_of<'a>(op: &'static str, (s, l): (&'a CudaStorage, &Layout)) -> Result<Indices<'a>> {
    let buf = s.i64_buffer(op)?;
    let n = l.elem_count();
    let start = l.offset();
    let stride = l.strides().first().copied().unwrap_or(1);
    let span = if n == 0 { 0 } else { (n - 1) * stride + 1 };
    if start + span > buf.len() {
        return Err(Error::Internal {
            op,
            what: "the indices' view lies outside its storage",
        });
    }
    Ok(Indices {
        data: buf.slice(start..start + span),
        n,
        stride,
    })
}

/// The slices of `x` (`l` in it) at the 1-D `indices` along `dim`, in their order.
pub(crate) fn index_select(
    x: &CudaStorage,
    l: &Layout,
    dim: usize,
    indices: (&CudaStorage, &Layout),
) -> Result<CudaStorage> {
    const OP: &str = "index_select";
    let gpu = x.gpu();
    let [outer, size, inner] = around(l.shape(), dim);
    let mut out = alloc(OP, gpu, outer * indices.1.elem_count() * inner)?;
    gpu.index_select(
        [outer, size, inner],
        &x.f32_rows(OP, l)?.view(),
        &indices_of(OP, indices)?,
        &mut out,
    )
    .map_err(bad_index(OP, indices, dim, l.shape()))?;
    Ok(CudaStorage::f32(gpu, out))
}

/// Adds slice `j` of `src` along `dim` into `t`, the row-major elements of a tensor of
/// `shape`, at position `indices[j]`, in place, as `how` says.
pub(crate) fn index_add(
    t: &mut CudaStorage,
    shape: &[usize],
    dim: usize,
    indices: (&CudaStorage, &Layout),
    (src, ls): (&CudaStorage, &Layout),
    how: Accumulate,
) -> Result<()> {
    const OP: &str = "index_add";
    let gpu = t.gpu().clone();
    gpu.index_add(
        around(shape, dim),
        &indices_of(OP, indices)?,
        (&kernel_layout(OP, ls)?, &src.f32_buffer(OP)?.as_view()),
        t.f32_buffer_mut(OP)?,
        how,
    )
    .map_err(bad_index(OP, indices, dim, shape))
}

/// torch.gather along `dim` (shapes checked by the caller): the result has the index's shape.
pub(crate) fn gather(
    x: &CudaStorage,
    l: &Layout,
    dim: usize,
    (index, li): (&CudaStorage, &Layout),
) -> Result<CudaStorage> {
    const OP: &str = "gather";
    let gpu = x.gpu();
    let mut out = alloc(OP, gpu, li.elem_count())?;
    gpu.gather(
        (&kernel_layout(OP, l)?, &x.f32_buffer(OP)?.as_view()),
        (&kernel_layout(OP, li)?, &index.i64_buffer(OP)?.as_view()),
        dim,
        &mut out,
    )
    .map_err(bad_index(OP, (index, li), dim, l.shape()))?;
    Ok(CudaStorage::f32(gpu, out))
}

/// torch.scatter_add's sums along `dim` (shapes checked by the caller) into `t`, the
/// row-major elements of a tensor of `shape`, in place.
pub(crate) fn scatter_add(
    t: &mut CudaStorage,
    shape: &[usize],
    dim: usize,
    (index, li): (&CudaStorage, &Layout),
    (src, ls): (&CudaStorage, &Layout),
) -> Result<()> {
    const OP: &str = "scatter_add";
    let gpu = t.gpu().clone();
    gpu.scatter_add(
        shape,
        (&kernel_layout(OP, li)?, &index.i64_buffer(OP)?.as_view()),
        (&kernel_layout(OP, ls)?, &src.f32_buffer(OP)?.as_view()),
        dim,
        t.f32_buffer_mut(OP)?,
    )
    .map_err(bad_index(OP, (index, li), dim, shape))
}
