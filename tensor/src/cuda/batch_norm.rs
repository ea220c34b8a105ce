//! Batch norm on the GPU: the fused forward (statistics, normalisation and the running
//! statistics' update in one launch) and backward (dx, dgamma, dbeta from the saved
//! statistics), and the inference affine.
use super::{alloc, kernel_error, zeros, CudaStorage, View};
use crate::params::Running;
use crate::Result;

pub(crate) fn batch_norm(
    x: View,
    (w, b): (View, View),
    dims: [usize; 3],
    eps: f32,
    running: Option<Running<'_, CudaStorage>>,
) -> Result<[CudaStorage; 3]> {
    const OP: &str = "batch_norm";
    let (gpu, c) = (x.0.gpu().clone(), dims[1]);
    let mut y = alloc(OP, &gpu, x.1.elem_count())?;
    let (mut mean, mut var) = (alloc(OP, &gpu, c)?, alloc(OP, &gpu, c)?);
    let (g, b) = (w.0.f32_rows(OP, w.1)?, b.0.f32_rows(OP, b.1)?);
    let xs = x.0.f32_rows(OP, x.1)?;
    // The running statistics are updated in place, in the same launch.
    let running = match running {
        Some(r) => Some(kernels::Running {
            mean: r.mean.f32_buffer_mut(OP)?,
            var: r.var.f32_buffer_mut(OP)?,
            momentum: r.momentum,
        }),
        None => None,
    };
    gpu.batch_norm_forward(
        dims,
        &xs.view(),
        (&g.view(), &b.view()),
        eps,
        &mut y,
        (&mut mean, &mut var),
        running,
    )
    .map_err(kernel_error(OP))?;
    Ok([
        CudaStorage::f32(&gpu, y),
        CudaStorage::f32(&gpu, mean),
        CudaStorage::f32(&gpu, var),
    ])
}

pub(crate) fn batch_norm_backward(
    dy: View,
    x: View,
    w: View,
    (mean, var): (View, View),
    dims: [usize; 3],
    eps: f32,
) -> Result<[CudaStorage; 3]> {
    const OP: &str = "batch_norm_backward";
    let (gpu, c) = (x.0.gpu(), dims[1]);
    let mut dx = alloc(OP, gpu, x.1.elem_count())?;
    let (mut dg, mut db) = (alloc(OP, gpu, c)?, alloc(OP, gpu, c)?);
    let (xs, g) = (x.0.f32_rows(OP, x.1)?, w.0.f32_rows(OP, w.1)?);
    let (m, v) = (mean.0.f32_rows(OP, mean.1)?, var.0.f32_rows(OP, var.1)?);
    // dy in place when its images are dense and only further apart (the bn_cont block of the
    // tabular model's `cat` gradient).
    let (dys, dy_image) = dy.0.spaced_rows(OP, dy.1)?;
    gpu.batch_norm_backward(
        dims,
        ((&dys.view(), dy_image), &xs.view()),
        &g.view(),
        (&m.view(), &v.view()),
        eps,
        &mut dx,
        (&mut dg, &mut db),
    )
    .map_err(kernel_error(OP))?;
    Ok([
        CudaStorage::f32(gpu, dx),
        CudaStorage::f32(gpu, dg),
        CudaStorage::f32(gpu, db),
    ])
}

pub(crate) fn channel_affine(
    x: View,
    (scale, shift): (View, View),
    dims: [usize; 3],
) -> Result<CudaStorage> {
    const OP: &str = "channel_affine";
    let gpu = x.0.gpu();
    let mut y = alloc(OP, gpu, x.1.elem_count())?;
    let (a, b) = (
        scale.0.f32_rows(OP, scale.1)?,
        shift.0.f32_rows(OP, shift.1)?,
    );
    gpu.channel_affine(
        dims,
        &x.0.f32_rows(OP, x.1)?.view(),
        (&a.view(), &b.view()),
        &mut y,
    )
    .map_err(kernel_error(OP))?;
    Ok(CudaStorage::f32(gpu, y))
}

/// Batch norm's inference constants `(scale, shift)` from `[weight, bias, mean, var]`.
pub(crate) fn batch_norm_fold(stats: [View; 4], eps: f32) -> Result<[CudaStorage; 2]> {
    const OP: &str = "batch_norm_fold";
    let (gpu, c) = (stats[0].0.gpu(), stats[0].1.elem_count());
    let [w, b, m, v] = [
        stats[0].0.f32_rows(OP, stats[0].1)?,
        stats[1].0.f32_rows(OP, stats[1].1)?,
        stats[2].0.f32_rows(OP, stats[2].1)?,
        stats[3].0.f32_rows(OP, stats[3].1)?,
    ];
    let (mut scale, mut shift) = (alloc(OP, gpu, c)?, alloc(OP, gpu, c)?);
    gpu.batch_norm_fold(
        eps,
        [&w.view(), &b.view(), &m.view(), &v.view()],
        (&mut scale, &mut shift),
    )
    .map_err(kernel_error(OP))?;
    Ok([CudaStorage::f32(gpu, scale), CudaStorage::f32(gpu, shift)])
}

/// `(dx, d_scale, d_shift)` of [`channel_affine`]: `dx = dy * scale[c]`, the sums per channel.
pub(crate) fn channel_affine_backward(
    dy: View,
    x: Option<View>,
    scale: View,
    dims: [usize; 3],
) -> Result<(CudaStorage, Option<CudaStorage>, CudaStorage)> {
    const OP: &str = "channel_affine_backward";
    let (gpu, c) = (dy.0.gpu(), dims[1]);
    let no_shift = zeros(OP, gpu, c)?;
    let mut dx = alloc(OP, gpu, dy.1.elem_count())?;
    let dys = dy.0.f32_rows(OP, dy.1)?;
    let a = scale.0.f32_rows(OP, scale.1)?;
    gpu.channel_affine(dims, &dys.view(), (&a.view(), &no_shift.as_view()), &mut dx)
        .map_err(kernel_error(OP))?;
    let mut dshift = alloc(OP, gpu, c)?;
    let xs = x.map(|(s, l)| s.f32_rows(OP, l)).transpose()?;
    let mut dscale = match x {
        Some(_) => Some(alloc(OP, gpu, c)?),
        None => None,
    };
    let xv = xs.as_ref().map(|d| d.view());
    gpu.channel_sums(dims, &dys.view(), xv.as_ref(), &mut dshift, dscale.as_mut())
        .map_err(kernel_error(OP))?;
    Ok((
        CudaStorage::f32(gpu, dx),
        dscale.map(|s| CudaStorage::f32(gpu, s)),
        CudaStorage::f32(gpu, dshift),
    ))
}
