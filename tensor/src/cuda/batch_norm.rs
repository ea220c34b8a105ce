//! Batch norm on the GPU: the fused forward (statistics and normalisation in one launch)
//! and backward (dx, dgamma, dbeta from the saved statistics), and the inference affine.
use super::{alloc, kernel_error, zeros};
use crate::{Result, RunningStats, Tensor};
use kernels::{Gpu, Running};
use std::sync::Arc;

type Three = (Tensor, Tensor, Tensor);

pub(crate) fn batch_norm(
    gpu: &Arc<Gpu>,
    x: &Tensor,
    (weight, bias): (&Tensor, &Tensor),
    eps: f32,
    dims: [usize; 3],
    running: Option<RunningStats<'_>>,
) -> Result<Three> {
    const OP: &str = "batch_norm";
    let c = dims[1];
    let mut y = alloc(OP, gpu, x.elem_count())?;
    let (mut mean, mut var) = (alloc(OP, gpu, c)?, alloc(OP, gpu, c)?);
    let (g, b) = (weight.cuda_f32(OP)?, bias.cuda_f32(OP)?);
    let xs = x.cuda_f32(OP)?;
    // The running statistics are updated in place, in the same launch.
    let running = match running {
        Some(r) => Some(Running {
            mean: r.mean.cuda_unique(OP)?,
            var: r.var.cuda_unique(OP)?,
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
    Ok((
        Tensor::from_cuda_f32(gpu, y, x.shape()),
        Tensor::from_cuda_f32(gpu, mean, &[c]),
        Tensor::from_cuda_f32(gpu, var, &[c]),
    ))
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn batch_norm_backward(
    gpu: &Arc<Gpu>,
    dy: &Tensor,
    x: &Tensor,
    weight: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    eps: f32,
    dims: [usize; 3],
) -> Result<Three> {
    const OP: &str = "batch_norm_backward";
    let c = dims[1];
    let mut dx = alloc(OP, gpu, x.elem_count())?;
    let (mut dg, mut db) = (alloc(OP, gpu, c)?, alloc(OP, gpu, c)?);
    let (xs, g) = (x.cuda_f32(OP)?, weight.cuda_f32(OP)?);
    let (m, v) = (mean.cuda_f32(OP)?, var.cuda_f32(OP)?);
    // dy in place when its images are dense and only further apart (the bn_cont block of the
    // tabular model's `cat` gradient).
    let (dys, dy_image) = dy.cuda_rows(OP)?;
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
    Ok((
        Tensor::from_cuda_f32(gpu, dx, x.shape()),
        Tensor::from_cuda_f32(gpu, dg, &[c]),
        Tensor::from_cuda_f32(gpu, db, &[c]),
    ))
}

pub(crate) fn channel_affine(
    gpu: &Arc<Gpu>,
    x: &Tensor,
    scale: &Tensor,
    shift: &Tensor,
    dims: [usize; 3],
) -> Result<Tensor> {
    const OP: &str = "channel_affine";
    let mut y = alloc(OP, gpu, x.elem_count())?;
    let (a, b) = (scale.cuda_f32(OP)?, shift.cuda_f32(OP)?);
    gpu.channel_affine(
        dims,
        &x.cuda_f32(OP)?.view(),
        (&a.view(), &b.view()),
        &mut y,
    )
    .map_err(kernel_error(OP))?;
    Ok(Tensor::from_cuda_f32(gpu, y, x.shape()))
}

/// Batch norm's inference constants `(scale, shift)` from `[weight, bias, mean, var]`.
pub(crate) fn batch_norm_fold(
    gpu: &Arc<Gpu>,
    stats: [&Tensor; 4],
    eps: f32,
) -> Result<(Tensor, Tensor)> {
    const OP: &str = "batch_norm_fold";
    let c = stats[0].elem_count();
    let [w, b, m, v] = [
        stats[0].cuda_f32(OP)?,
        stats[1].cuda_f32(OP)?,
        stats[2].cuda_f32(OP)?,
        stats[3].cuda_f32(OP)?,
    ];
    let (mut scale, mut shift) = (alloc(OP, gpu, c)?, alloc(OP, gpu, c)?);
    gpu.batch_norm_fold(
        eps,
        [&w.view(), &b.view(), &m.view(), &v.view()],
        (&mut scale, &mut shift),
    )
    .map_err(kernel_error(OP))?;
    Ok((
        Tensor::from_cuda_f32(gpu, scale, &[c]),
        Tensor::from_cuda_f32(gpu, shift, &[c]),
    ))
}

/// `(dx, d_scale, d_shift)` of [`channel_affine`]: `dx = dy * scale[c]`, the sums per channel.
pub(crate) fn channel_affine_backward(
    gpu: &Arc<Gpu>,
    dy: &Tensor,
    x: Option<&Tensor>,
    scale: &Tensor,
    dims: [usize; 3],
) -> Result<(Tensor, Option<Tensor>, Tensor)> {
    const OP: &str = "channel_affine_backward";
    let c = dims[1];
    let no_shift = zeros(OP, gpu, c)?;
    let mut dx = alloc(OP, gpu, dy.elem_count())?;
    let dys = dy.cuda_f32(OP)?;
    let a = scale.cuda_f32(OP)?;
    gpu.channel_affine(dims, &dys.view(), (&a.view(), &no_shift.as_view()), &mut dx)
        .map_err(kernel_error(OP))?;
    let mut dshift = alloc(OP, gpu, c)?;
    let xs = x.map(|x| x.cuda_f32(OP)).transpose()?;
    let mut dscale = match x {
        Some(_) => Some(alloc(OP, gpu, c)?),
        None => None,
    };
    let xv = xs.as_ref().map(|d| d.view());
    gpu.channel_sums(dims, &dys.view(), xv.as_ref(), &mut dshift, dscale.as_mut())
        .map_err(kernel_error(OP))?;
    Ok((
        Tensor::from_cuda_f32(gpu, dx, dy.shape()),
        dscale.map(|s| Tensor::from_cuda_f32(gpu, s, &[c])),
        Tensor::from_cuda_f32(gpu, dshift, &[c]),
    ))
}
