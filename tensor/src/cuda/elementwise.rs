//! Element-wise ops on the GPU: broadcasting binary ops and comparisons read both operands
//! through their (stride-0 where broadcast) layouts, as the CPU path does; unary maps run on
//! row-major data.
use super::{alloc, kernel_error, kernel_layout};
use crate::layout::broadcast_shape;
use crate::{Result, Tensor};
use kernels::{BinaryOp, Gpu, UnaryOp};
use std::sync::Arc;

pub(crate) fn binary(
    gpu: &Arc<Gpu>,
    op: BinaryOp,
    name: &'static str,
    lhs: &Tensor,
    rhs: &Tensor,
) -> Result<Tensor> {
    let shape = broadcast_shape(name, lhs.shape(), rhs.shape())?;
    let (la, lb) = (lhs.layout().expand(&shape)?, rhs.layout().expand(&shape)?);
    let (a, b) = (lhs.cuda_buffer(name)?, rhs.cuda_buffer(name)?);
    let mut out = alloc(name, gpu, shape.iter().product())?;
    gpu.binary(
        op,
        (&kernel_layout(name, &la)?, &a.as_view()),
        (&kernel_layout(name, &lb)?, &b.as_view()),
        &mut out,
    )
    .map_err(kernel_error(name))?;
    Ok(Tensor::from_cuda_f32(gpu, out, &shape))
}

pub(crate) fn unary(gpu: &Arc<Gpu>, op: UnaryOp, name: &'static str, x: &Tensor) -> Result<Tensor> {
    let data = x.cuda_f32(name)?;
    let mut out = alloc(name, gpu, x.elem_count())?;
    gpu.unary(op, &data.view(), &mut out)
        .map_err(kernel_error(name))?;
    Ok(Tensor::from_cuda_f32(gpu, out, x.shape()))
}

/// `on_true` where `mask` is non-zero, else `on_false`, all broadcast together.
pub(crate) fn where_cond(
    gpu: &Arc<Gpu>,
    mask: &Tensor,
    on_true: &Tensor,
    on_false: &Tensor,
) -> Result<Tensor> {
    const OP: &str = "where_cond";
    let shape = broadcast_shape(OP, mask.shape(), on_true.shape())?;
    let shape = broadcast_shape(OP, &shape, on_false.shape())?;
    let mut layouts = Vec::with_capacity(3);
    for t in [mask, on_true, on_false] {
        layouts.push(kernel_layout(OP, &t.layout().expand(&shape)?)?);
    }
    let (c, t, f) = (
        mask.cuda_buffer(OP)?,
        on_true.cuda_buffer(OP)?,
        on_false.cuda_buffer(OP)?,
    );
    let mut out = alloc(OP, gpu, shape.iter().product())?;
    gpu.where_cond(
        (&layouts[0], &c.as_view()),
        (&layouts[1], &t.as_view()),
        (&layouts[2], &f.as_view()),
        &mut out,
    )
    .map_err(kernel_error(OP))?;
    Ok(Tensor::from_cuda_f32(gpu, out, &shape))
}

/// `shape` filled with `value`.
pub(crate) fn full(gpu: &Arc<Gpu>, shape: &[usize], value: f32) -> Result<Tensor> {
    let mut out = super::zeros("full", gpu, shape.iter().product())?;
    if value != 0.0 {
        gpu.fill(&mut out, value).map_err(kernel_error("full"))?;
    }
    Ok(Tensor::from_cuda_f32(gpu, out, shape))
}
