//! Element-wise ops on the GPU: broadcasting binary ops and comparisons read both operands
//! through their (stride-0 where broadcast) layouts, as the CPU code does; unary maps run on
//! row-major data.
use super::{alloc, kernel_error, kernel_layout, CudaStorage};
use crate::{Layout, Result};
use kernels::{BinaryOp, Gpu, UnaryOp};

pub(crate) fn unary(
    op: &'static str,
    s: &CudaStorage,
    l: &Layout,
    f: UnaryOp,
) -> Result<CudaStorage> {
    let x = s.f32_rows(op, l)?;
    let mut out = alloc(op, s.gpu(), l.elem_count())?;
    s.gpu()
        .unary(f, &x.view(), &mut out)
        .map_err(kernel_error(op))?;
    Ok(CudaStorage::f32(s.gpu(), out))
}

/// `f` of each pair of elements; both layouts are already expanded to the output's shape.
pub(crate) fn binary(
    op: &'static str,
    (a, la): (&CudaStorage, &Layout),
    (b, lb): (&CudaStorage, &Layout),
    f: BinaryOp,
) -> Result<CudaStorage> {
    let gpu = a.gpu();
    let mut out = alloc(op, gpu, la.elem_count())?;
    gpu.binary(
        f,
        (&kernel_layout(op, la)?, &a.f32_buffer(op)?.as_view()),
        (&kernel_layout(op, lb)?, &b.f32_buffer(op)?.as_view()),
        &mut out,
    )
    .map_err(kernel_error(op))?;
    Ok(CudaStorage::f32(gpu, out))
}

/// `on_true` where `mask` is non-zero, else `on_false`; the layouts have one shape.
pub(crate) fn where_cond(
    (c, lc): (&CudaStorage, &Layout),
    (t, lt): (&CudaStorage, &Layout),
    (f, lf): (&CudaStorage, &Layout),
) -> Result<CudaStorage> {
    const OP: &str = "where_cond";
    let gpu = c.gpu();
    let mut out = alloc(OP, gpu, lc.elem_count())?;
    gpu.where_cond(
        (&kernel_layout(OP, lc)?, &c.f32_buffer(OP)?.as_view()),
        (&kernel_layout(OP, lt)?, &t.f32_buffer(OP)?.as_view()),
        (&kernel_layout(OP, lf)?, &f.f32_buffer(OP)?.as_view()),
        &mut out,
    )
    .map_err(kernel_error(OP))?;
    Ok(CudaStorage::f32(gpu, out))
}

/// `n` f32 elements equal to `value` on the GPU `ordinal`.
pub(crate) fn full(ordinal: usize, n: usize, value: f32) -> Result<CudaStorage> {
    const OP: &str = "full";
    let gpu = Gpu::get(ordinal).map_err(kernel_error(OP))?;
    let mut out = super::zeros(OP, &gpu, n)?;
    if value != 0.0 {
        gpu.fill(&mut out, value).map_err(kernel_error(OP))?;
    }
    Ok(CudaStorage::f32(&gpu, out))
}
