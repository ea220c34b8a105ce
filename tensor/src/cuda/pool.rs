//! Pooling on the GPU, over the windows the front end (`ops/pool.rs`) built, fixed or
//! adaptive alike.
use super::index::value_at;
use super::{alloc, alloc_i64, kernel_error, CudaStorage, View};
use crate::{Error, Result};
use kernels::Windows;

/// `[planes, H, W]` of an `[N, C, H, W]` shape.
fn planes(shape: &[usize]) -> [usize; 3] {
    [shape[0] * shape[1], shape[2], shape[3]]
}

/// Max pooling of `x` `[N, C, H, W]` over `win`: the maxima `[N, C, H_out, W_out]` and, when
/// `indices`, their i64 positions `y * W + x` in each input plane.
pub(crate) fn max_pool(
    op: &'static str,
    (x, l): View,
    win: &Windows,
    indices: bool,
) -> Result<(CudaStorage, Option<CudaStorage>)> {
    let (gpu, s) = (x.gpu(), l.shape());
    let n = s[0] * s[1] * win.rows.len() * win.cols.len();
    let mut y = alloc(op, gpu, n)?;
    let mut idx = if indices {
        Some(alloc_i64(op, gpu, n)?)
    } else {
        None
    };
    gpu.max_pool(
        planes(s),
        win,
        &x.f32_rows(op, l)?.view(),
        &mut y,
        idx.as_mut(),
    )
    .map_err(kernel_error(op))?;
    let indices = idx.map(|i| CudaStorage::i64(gpu, i));
    Ok((CudaStorage::f32(gpu, y), indices))
}

/// The gradient of max pooling over `win` with respect to its input `[N, C, H, W]`,
/// gathered per input pixel (`dx` is written whole, so it needs no clearing). An index
/// outside its window is an error.
pub(crate) fn max_pool_backward(
    op: &'static str,
    (dy, l): View,
    (indices, li): View,
    win: &Windows,
    input_shape: &[usize],
) -> Result<CudaStorage> {
    let gpu = dy.gpu();
    let mut dx = alloc(op, gpu, input_shape.iter().product())?;
    gpu.max_pool_backward(
        planes(input_shape),
        win,
        &dy.f32_rows(op, l)?.view(),
        &indices.i64_rows(op, li)?.view(),
        &mut dx,
    )
    .map_err(|e| match e {
        kernels::Error::IndexOutOfRange { position } => match value_at(indices, li, position) {
            Ok(index) => Error::OutsideWindow {
                op,
                index,
                position: position as usize,
            },
            Err(e) => e,
        },
        other => kernel_error(op)(other),
    })?;
    Ok(CudaStorage::f32(gpu, dx))
}

/// Average pooling of `x` `[N, C, H, W]` over `win`, each window's sum divided by `area`, or
/// by the window's own size when `None` (adaptive pooling).
pub(crate) fn avg_pool(
    op: &'static str,
    (x, l): View,
    win: &Windows,
    area: Option<usize>,
) -> Result<CudaStorage> {
    let (gpu, s) = (x.gpu(), l.shape());
    let mut y = alloc(op, gpu, s[0] * s[1] * win.rows.len() * win.cols.len())?;
    gpu.avg_pool(
        planes(s),
        win,
        kernel_area(area),
        &x.f32_rows(op, l)?.view(),
        &mut y,
        false,
    )
    .map_err(kernel_error(op))?;
    Ok(CudaStorage::f32(gpu, y))
}

/// The gradient of [`avg_pool`] with respect to its input `[N, C, H, W]`.
pub(crate) fn avg_pool_backward(
    op: &'static str,
    (dy, l): View,
    win: &Windows,
    area: Option<usize>,
    input_shape: &[usize],
) -> Result<CudaStorage> {
    let gpu = dy.gpu();
    let mut dx = alloc(op, gpu, input_shape.iter().product())?;
    gpu.avg_pool(
        planes(input_shape),
        win,
        kernel_area(area),
        &dy.f32_rows(op, l)?.view(),
        &mut dx,
        true,
    )
    .map_err(kernel_error(op))?;
    Ok(CudaStorage::f32(gpu, dx))
}

/// The divisor as the kernel takes it: 0 for each window's own size.
fn kernel_area(area: Option<usize>) -> f32 {
    area.map_or(0.0, |a| a as f32)
}
