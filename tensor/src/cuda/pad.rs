//! Padding on the GPU, through the row and column maps the front end (`ops/pad.rs`) built.
use super::{alloc, kernel_error, zeros, CudaStorage, View};
use crate::params::PadMaps;
use crate::Result;

/// `[planes, H, W]` of a shape `[..., H, W]`.
fn planes(shape: &[usize]) -> [usize; 3] {
    let r = shape.len();
    [shape[..r - 2].iter().product(), shape[r - 2], shape[r - 1]]
}

/// `x` `[..., H, W]` padded through the row and column maps: `[..., rows, cols]`.
pub(crate) fn pad((x, l): View, maps: PadMaps) -> Result<CudaStorage> {
    const OP: &str = "pad2d";
    let gpu = x.gpu();
    let dims = planes(l.shape());
    let mut y = alloc(OP, gpu, dims[0] * maps.0.len() * maps.1.len())?;
    gpu.pad(dims, maps, &x.f32_rows(OP, l)?.view(), &mut y, false)
        .map_err(kernel_error(OP))?;
    Ok(CudaStorage::f32(gpu, y))
}

/// The adjoint of [`pad`]: `dy` added back onto the positions of `input_shape` it copied.
pub(crate) fn pad_backward(
    (dy, l): View,
    maps: PadMaps,
    input_shape: &[usize],
) -> Result<CudaStorage> {
    const OP: &str = "pad2d_backward";
    let gpu = dy.gpu();
    let mut dx = zeros(OP, gpu, input_shape.iter().product())?;
    gpu.pad(
        planes(input_shape),
        maps,
        &dy.f32_rows(OP, l)?.view(),
        &mut dx,
        true,
    )
    .map_err(kernel_error(OP))?;
    Ok(CudaStorage::f32(gpu, dx))
}
