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
