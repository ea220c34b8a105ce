//! Convolution on the GPU: im2col into column matrices, a batch at a time, then one strided
//! batched cuBLAS product with the weight (repeated with batch stride 0); the input gradient
//! is the transposed product followed by col2im (gather form, no atomics); the weight
//! gradient is one product per chunk of images, their columns side by side (accumulated
//! over chunks with beta = 1). A 1x1 convolution of stride 1 without padding builds no
//! columns: its columns are its input, so its products read the input and write the input
//! gradient in place, with no im2col or col2im.
use super::{alloc, kernel_error, kernel_layout, zeros};
use crate::ops::Geometry;
use crate::{Error, Layout, Result, Tensor};
use kernels::{ConvGeometry, CudaSlice, Gemm, Gpu, Operand};
use std::sync::Arc;

fn geometry(g: &Geometry) -> Result<ConvGeometry> {
    let v = |n: usize| {
        u32::try_from(n).map_err(|_| Error::shape("conv2d", format!("size {n} exceeds 2^32")))
    };
    Ok(ConvGeometry {
        c: v(g.c)?,
        h: v(g.h)?,
        w: v(g.w)?,
        kh: v(g.kh)?,
        kw: v(g.kw)?,
        sh: v(g.p.stride[0])?,
        sw: v(g.p.stride[1])?,
        ph: v(g.p.padding[0])?,
        pw: v(g.p.padding[1])?,
        oh: v(g.ho)?,
        ow: v(g.wo)?,
    })
}

/// Images per chunk, so that a chunk's columns fit in the GPU's [`Gpu::conv_columns`] bytes
/// (one image at least).
fn chunk(gpu: &Gpu, g: &ConvGeometry) -> usize {
    let image = g.k() * g.pixels() * std::mem::size_of::<f32>();
    (gpu.conv_columns() / image.max(1)).max(1)
}

/// Images per chunk and a buffer for a chunk's column matrices; or the whole batch and no
/// buffer when the columns are the images themselves (a 1x1 convolution of stride 1 without
/// padding): the products then read the input, or write the input gradient, where it is.
fn chunks(
    op: &'static str,
    gpu: &Arc<Gpu>,
    g: &ConvGeometry,
    n: usize,
) -> Result<(usize, Option<CudaSlice<f32>>)> {
    if g.columns_are_input() {
        return Ok((n.max(1), None));
    }
    let step = chunk(gpu, g);
    Ok((
        step,
        Some(alloc(op, gpu, step.min(n) * g.k() * g.pixels())?),
    ))
}

pub(crate) fn conv2d(
    gpu: &Arc<Gpu>,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    g: &Geometry,
    n: usize,
    co: usize,
) -> Result<Tensor> {
    const OP: &str = "conv2d";
    let cg = geometry(g)?;
    let (k, px) = (cg.k(), cg.pixels());
    let xs = x.cuda_f32(OP)?;
    let w = weight.cuda_f32(OP)?;
    let mut out = alloc(OP, gpu, n * co * px)?;
    let (step, mut cols) = chunks(OP, gpu, &cg, n)?;
    for n0 in (0..n).step_by(step) {
        let imgs = step.min(n - n0);
        let xv = xs.view();
        let xv = xv.slice(n0 * cg.image_len()..);
        let cv = match &mut cols {
            Some(cols) => {
                gpu.im2col(imgs, &cg, &xv, cols, false)
                    .map_err(kernel_error(OP))?;
                cols.as_view()
            }
            None => xv,
        };
        let wv = w.view();
        let mut ov = out.slice_mut(n0 * co * px..(n0 + imgs) * co * px);
        gpu.gemm(
            Gemm {
                batch: imgs,
                m: co,
                n: px,
                k,
            },
            Operand {
                data: &wv,
                transposed: false,
                batch_stride: 0,
            },
            Operand {
                data: &cv,
                transposed: false,
                batch_stride: k * px,
            },
            &mut ov,
            0.0,
        )
        .map_err(kernel_error(OP))?;
    }
    if let Some(b) = bias {
        gpu.add_channel_bias([co, px], &b.cuda_f32(OP)?.view(), &mut out)
            .map_err(kernel_error(OP))?;
    }
    Ok(Tensor::from_cuda_f32(gpu, out, &[n, co, g.ho, g.wo]))
}

pub(crate) fn conv2d_backward_input(
    gpu: &Arc<Gpu>,
    dy: &Tensor,
    weight: &Tensor,
    g: &Geometry,
    n: usize,
    co: usize,
) -> Result<Tensor> {
    const OP: &str = "conv2d_backward_input";
    let cg = geometry(g)?;
    let (k, px) = (cg.k(), cg.pixels());
    let dys = dy.cuda_f32(OP)?;
    let w = weight.cuda_f32(OP)?;
    let mut dx = alloc(OP, gpu, n * cg.image_len())?;
    let (step, mut cols) = chunks(OP, gpu, &cg, n)?;
    for n0 in (0..n).step_by(step) {
        let imgs = step.min(n - n0);
        let (wv, dv) = (w.view(), dys.view());
        let dv = dv.slice(n0 * co * px..);
        let chunk_dx = n0 * cg.image_len()..(n0 + imgs) * cg.image_len();
        // The product's columns, then folded onto the images; or the images' gradient itself.
        let mut cv = match &mut cols {
            Some(cols) => cols.as_view_mut(),
            None => dx.slice_mut(chunk_dx.clone()),
        };
        gpu.gemm(
            Gemm {
                batch: imgs,
                m: k,
                n: px,
                k: co,
            },
            Operand {
                data: &wv,
                transposed: true,
                batch_stride: 0,
            },
            Operand {
                data: &dv,
                transposed: false,
                batch_stride: co * px,
            },
            &mut cv,
            0.0,
        )
        .map_err(kernel_error(OP))?;
        if let Some(cols) = &cols {
            gpu.col2im(imgs, &cg, &cols.as_view(), &mut dx.slice_mut(chunk_dx))
                .map_err(kernel_error(OP))?;
        }
    }
    Ok(Tensor::from_cuda_f32(gpu, dx, &[n, g.c, g.h, g.w]))
}

pub(crate) fn conv2d_backward_weight(
    gpu: &Arc<Gpu>,
    dy: &Tensor,
    x: &Tensor,
    g: &Geometry,
    n: usize,
    co: usize,
) -> Result<Tensor> {
    const OP: &str = "conv2d_backward_weight";
    let cg = geometry(g)?;
    let (k, px) = (cg.k(), cg.pixels());
    if n == 0 {
        // No images: an empty sum.
        let dw = zeros(OP, gpu, co * k)?;
        return Ok(Tensor::from_cuda_f32(gpu, dw, &[co, g.c, g.kh, g.kw]));
    }
    let xs = x.cuda_f32(OP)?;
    let dy = dy.reshape(&[n, co, px])?;
    let mut dw = alloc(OP, gpu, co * k)?;
    let step = chunk(gpu, &cg);
    // A chunk's columns side by side, [k, imgs*px], and its dy as [co, imgs*px]: the weight
    // gradient is one product per chunk, dW += dY cols^T, not one small product per image.
    let mut cols = alloc(OP, gpu, step.min(n) * k * px)?;
    let mut dy_wide = alloc(OP, gpu, step.min(n) * co * px)?;
    for n0 in (0..n).step_by(step) {
        let imgs = step.min(n - n0);
        let xv = xs.view();
        gpu.im2col(imgs, &cg, &xv.slice(n0 * cg.image_len()..), &mut cols, true)
            .map_err(kernel_error(OP))?;
        let chunk_dy = dy.narrow(0, n0, imgs)?.permute(&[1, 0, 2])?;
        let dense = kernel_layout(OP, &Layout::contiguous(chunk_dy.shape()))?;
        gpu.copy_strided(
            (
                &kernel_layout(OP, chunk_dy.layout())?,
                &chunk_dy.cuda_buffer(OP)?.as_view(),
            ),
            (&dense, &mut dy_wide),
        )
        .map_err(kernel_error(OP))?;
        let (dv, cv) = (dy_wide.as_view(), cols.as_view());
        gpu.gemm(
            Gemm {
                batch: 1,
                m: co,
                n: k,
                k: imgs * px,
            },
            Operand {
                data: &dv,
                transposed: false,
                batch_stride: 0,
            },
            // cols^T (imgs*px x k), stored as cols [k, imgs*px].
            Operand {
                data: &cv,
                transposed: true,
                batch_stride: 0,
            },
            &mut dw.as_view_mut(),
            if n0 == 0 { 0.0 } else { 1.0 },
        )
        .map_err(kernel_error(OP))?;
    }
    Ok(Tensor::from_cuda_f32(gpu, dw, &[co, g.c, g.kh, g.kw]))
}

/// The column matrices `[N, C*kh*kw, oh*ow]` of a batch (the explicit `im2col` op).
pub(crate) fn im2col(gpu: &Arc<Gpu>, x: &Tensor, g: &Geometry, n: usize) -> Result<Tensor> {
    const OP: &str = "im2col";
    let cg = geometry(g)?;
    let mut cols = alloc(OP, gpu, n * cg.k() * cg.pixels())?;
    gpu.im2col(n, &cg, &x.cuda_f32(OP)?.view(), &mut cols, false)
        .map_err(kernel_error(OP))?;
    Ok(Tensor::from_cuda_f32(gpu, cols, &[n, cg.k(), cg.pixels()]))
}

/// Columns folded back onto images `[N, C, H, W]` (the explicit `col2im` op).
pub(crate) fn col2im(gpu: &Arc<Gpu>, cols: &Tensor, g: &Geometry, n: usize) -> Result<Tensor> {
    const OP: &str = "col2im";
    let cg = geometry(g)?;
    let mut x = alloc(OP, gpu, n * cg.image_len())?;
    gpu.col2im(n, &cg, &cols.cuda_f32(OP)?.view(), &mut x.as_view_mut())
        .map_err(kernel_error(OP))?;
    Ok(Tensor::from_cuda_f32(gpu, x, &[n, g.c, g.h, g.w]))
}
