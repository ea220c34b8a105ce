//! Pooling on the GPU, over the windows the CPU path computes (fixed or adaptive alike).
use super::{alloc, alloc_i64, kernel_error, zeros, CudaData};
use crate::{Error, Result, Tensor};
use kernels::{Gpu, Windows};
use std::sync::Arc;

/// `[planes, H, W]` of an `[N, C, H, W]` shape.
fn planes(shape: &[usize]) -> [usize; 3] {
    [shape[0] * shape[1], shape[2], shape[3]]
}

/// Max pooling: the maxima and, with `indices`, their positions in each plane.
pub(crate) fn max_pool(
    gpu: &Arc<Gpu>,
    x: &Tensor,
    win: &Windows,
    indices: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    const OP: &str = "max_pool2d";
    let s = x.shape();
    let out_shape = [s[0], s[1], win.rows.len(), win.cols.len()];
    let n: usize = out_shape.iter().product();
    let mut y = alloc(OP, gpu, n)?;
    let mut idx = if indices {
        Some(alloc_i64(OP, gpu, n)?)
    } else {
        None
    };
    gpu.max_pool(
        planes(s),
        win,
        &x.cuda_f32(OP)?.view(),
        &mut y,
        idx.as_mut(),
    )
    .map_err(kernel_error(OP))?;
    let indices = idx.map(|i| Tensor::from_cuda(gpu, CudaData::I64(i), &out_shape));
    Ok((Tensor::from_cuda_f32(gpu, y, &out_shape), indices))
}

/// The gradient of max pooling over `win`, gathered per input pixel (`dx` is written
/// whole, so it needs no clearing).
pub(crate) fn max_pool_backward(
    gpu: &Arc<Gpu>,
    dy: &Tensor,
    indices: &Tensor,
    input_shape: &[usize],
    win: &Windows,
) -> Result<Tensor> {
    const OP: &str = "max_pool2d_backward";
    let mut dx = alloc(OP, gpu, input_shape.iter().product())?;
    let dims = planes(input_shape);
    gpu.max_pool_backward(
        dims,
        win,
        &dy.cuda_f32(OP)?.view(),
        &indices.cuda_i64(OP)?.view(),
        &mut dx,
    )
    .map_err(|e| match e {
        kernels::Error::IndexOutOfRange { position } => Error::index(
            OP,
            format!("the index at position {position} is not in its pooling window"),
        ),
        other => kernel_error(OP)(other),
    })?;
    Ok(Tensor::from_cuda_f32(gpu, dx, input_shape))
}

/// Average pooling, dividing by `area` (> 0) or by each window's size (0).
pub(crate) fn avg_pool(gpu: &Arc<Gpu>, x: &Tensor, win: &Windows, area: f32) -> Result<Tensor> {
    const OP: &str = "avg_pool2d";
    let s = x.shape();
    let out_shape = [s[0], s[1], win.rows.len(), win.cols.len()];
    let mut y = alloc(OP, gpu, out_shape.iter().product())?;
    gpu.avg_pool(planes(s), win, area, &x.cuda_f32(OP)?.view(), &mut y, false)
        .map_err(kernel_error(OP))?;
    Ok(Tensor::from_cuda_f32(gpu, y, &out_shape))
}

pub(crate) fn avg_pool_backward(
    gpu: &Arc<Gpu>,
    dy: &Tensor,
    input_shape: &[usize],
    win: &Windows,
    area: f32,
) -> Result<Tensor> {
    const OP: &str = "avg_pool2d_backward";
    let mut dx = alloc(OP, gpu, input_shape.iter().product())?;
    gpu.avg_pool(
        planes(input_shape),
        win,
        area,
        &dy.cuda_f32(OP)?.view(),
        &mut dx,
        true,
    )
    .map_err(kernel_error(OP))?;
    Ok(Tensor::from_cuda_f32(gpu, dx, input_shape))
}

/// `x` `[planes, H, W]` padded through the row and column maps (see `ops/pad.rs`).
pub(crate) fn pad(
    gpu: &Arc<Gpu>,
    x: &Tensor,
    dims: [usize; 3],
    maps: (&[Option<usize>], &[Option<usize>]),
    out_shape: &[usize],
) -> Result<Tensor> {
    const OP: &str = "pad2d";
    let mut y = alloc(OP, gpu, out_shape.iter().product())?;
    gpu.pad(dims, maps, &x.cuda_f32(OP)?.view(), &mut y, false)
        .map_err(kernel_error(OP))?;
    Ok(Tensor::from_cuda_f32(gpu, y, out_shape))
}

/// The adjoint of [`pad`]: `dy` added back onto the input positions it copied.
pub(crate) fn pad_backward(
    gpu: &Arc<Gpu>,
    dy: &Tensor,
    dims: [usize; 3],
    maps: (&[Option<usize>], &[Option<usize>]),
    input_shape: &[usize],
) -> Result<Tensor> {
    const OP: &str = "pad2d_backward";
    let mut dx = zeros(OP, gpu, input_shape.iter().product())?;
    gpu.pad(dims, maps, &dy.cuda_f32(OP)?.view(), &mut dx, true)
        .map_err(kernel_error(OP))?;
    Ok(Tensor::from_cuda_f32(gpu, dx, input_shape))
}
