//! Convolution and its two gradients written out as their definition: an explicit column
//! matrix per image (im2col), a plain matrix product, and col2im for the input gradient.
//! This is the f64 path (gradient checks on small images): clear rather than fast, and
//! independent of the f32 path's implicit im2col, so the two check each other.
//!
//! For one image, with `cols = im2col(x)` (`[C*kh*kw, H_out*W_out]`) and the weight seen as
//! `W` (`[C_out, C*kh*kw]`):
//! - forward: `y = W * cols` (+ bias on each output channel's row);
//! - input gradient: `dx = col2im(W^T * dy)`;
//! - weight gradient: `dW = sum over images of dy * cols^T`.
//!
//! The callers ([`Tensor::conv2d`] and its backward methods) have checked the shapes and
//! built the [`Geometry`]; `n` is the batch size and `co` the number of output channels.
use super::conv::{col2im_image, im2col_image, Geometry};
use crate::cpu::simple_gemm::{gemm_acc, Mat};
use crate::{Float, Result, Tensor};

/// Elements of one input image.
fn image_len(g: &Geometry) -> usize {
    g.c * g.h * g.w
}

/// `conv2d` of `x` `[n, C, H, W]` with `weight` `[co, C, kh, kw]` and an optional `bias`.
pub(crate) fn conv2d<T: Float>(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    g: &Geometry,
    n: usize,
    co: usize,
) -> Result<Tensor> {
    const OP: &str = "conv2d";
    let x = x.contiguous_data::<T>(OP)?;
    let w = weight.contiguous_data::<T>(OP)?;
    let bias = bias.map(|b| b.contiguous_data::<T>(OP)).transpose()?;
    let (k, px) = (g.k(), g.pixels());
    let mut out = vec![T::ZERO; n * co * px];
    if n * co > 0 {
        let mut cols = vec![T::ZERO; k * px];
        for (xi, yi) in x
            .chunks_exact(image_len(g))
            .zip(out.chunks_exact_mut(co * px))
        {
            if let Some(b) = &bias {
                for (row, &bv) in yi.chunks_exact_mut(px).zip(b.iter()) {
                    row.fill(bv);
                }
            }
            im2col_image(xi, g, &mut cols);
            gemm_acc(Mat::row_major(&w, co, k), Mat::row_major(&cols, k, px), yi);
        }
    }
    Tensor::from_vec(out, &[n, co, g.ho, g.wo])
}

/// Gradient with respect to the input: `dy` `[n, co, H_out, W_out]`, `weight` `[co, C, kh,
/// kw]`, result `[n, C, H, W]`.
pub(crate) fn backward_input<T: Float>(
    dy: &Tensor,
    weight: &Tensor,
    g: &Geometry,
    n: usize,
    co: usize,
) -> Result<Tensor> {
    const OP: &str = "conv2d_backward_input";
    let dy = dy.contiguous_data::<T>(OP)?;
    let w = weight.contiguous_data::<T>(OP)?;
    let (k, px) = (g.k(), g.pixels());
    let mut dx = vec![T::ZERO; n * image_len(g)];
    if n * co > 0 {
        let mut dcols = vec![T::ZERO; k * px];
        for (dyi, dxi) in dy
            .chunks_exact(co * px)
            .zip(dx.chunks_exact_mut(image_len(g)))
        {
            dcols.fill(T::ZERO);
            gemm_acc(
                Mat::row_major(&w, co, k).t(),
                Mat::row_major(dyi, co, px),
                &mut dcols,
            );
            col2im_image(&dcols, g, dxi);
        }
    }
    Tensor::from_vec(dx, &[n, g.c, g.h, g.w])
}

/// Gradient with respect to the weight: `dy` `[n, co, H_out, W_out]`, `x` the forward input
/// `[n, C, H, W]`, result `[co, C, kh, kw]`.
pub(crate) fn backward_weight<T: Float>(
    dy: &Tensor,
    x: &Tensor,
    g: &Geometry,
    n: usize,
    co: usize,
) -> Result<Tensor> {
    const OP: &str = "conv2d_backward_weight";
    let dy = dy.contiguous_data::<T>(OP)?;
    let x = x.contiguous_data::<T>(OP)?;
    let (k, px) = (g.k(), g.pixels());
    let mut dw = vec![T::ZERO; co * k];
    if n * co > 0 {
        let mut cols = vec![T::ZERO; k * px];
        for (dyi, xi) in dy.chunks_exact(co * px).zip(x.chunks_exact(image_len(g))) {
            im2col_image(xi, g, &mut cols);
            gemm_acc(
                Mat::row_major(dyi, co, px),
                Mat::row_major(&cols, k, px).t(),
                &mut dw,
            );
        }
    }
    Tensor::from_vec(dw, &[co, g.c, g.kh, g.kw])
}
