//! 2-D convolution as im2col + GEMM, and the two GEMMs + col2im of its backward pass.
//!
//! im2col turns each output pixel's receptive field into a column: for an image `[C, H, W]`
//! and a `kh x kw` kernel, `cols` is `[C*kh*kw, H_out*W_out]`, row `(c, i, j)` holding input
//! pixel `(c, y*s + i - p, x*s + j - p)` (or 0 in the padding) for every output pixel `(y, x)`.
//! Then the convolution of one image is one matrix product (the lesson's "a convolution is
//! just a matrix multiply"): `out [C_out, H_out*W_out] = W [C_out, C*kh*kw] * cols`.
//! Backward: `d_cols = W^T * d_out`, folded back onto the image by col2im (overlapping
//! windows add up), and `d_W = sum over images of d_out * cols^T`.
//!
//! Like PyTorch's `conv2d`, this is a cross-correlation (the kernel is not flipped).
//!
//! This is the front end: it checks shapes and dtypes and builds the [`Geometry`]; the host
//! (`cpu/conv.rs`: an implicit im2col for f32, the explicit one for f64) or the GPU
//! (`cuda/conv.rs`: im2col in chunks and cuBLAS) computes.
use crate::conv_geometry::{Conv2dParams, Geometry};
use crate::{Error, Result, Storage, Tensor};

/// An error naming `op` unless `t` (the operand called `name`) has `rank` dimensions.
pub(crate) fn expect_rank(
    op: &'static str,
    expected: &'static str,
    t: &Tensor,
    rank: usize,
) -> Result<()> {
    if t.rank() != rank {
        return Err(Error::shapes(op, &[t.shape()], expected));
    }
    Ok(())
}

impl Tensor {
    /// 2-D convolution (cross-correlation) of `self` `[N, C, H, W]` with `weight`
    /// `[C_out, C, kh, kw]`, plus an optional `bias` `[C_out]`: `[N, C_out, H_out, W_out]`.
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        p: Conv2dParams,
    ) -> Result<Tensor> {
        const OP: &str = "conv2d";
        expect_rank(OP, "an input [N, C, H, W]", self, 4)?;
        expect_rank(OP, "a weight [C_out, C, kH, kW]", weight, 4)?;
        let (n, c, h, w) = (
            self.shape()[0],
            self.shape()[1],
            self.shape()[2],
            self.shape()[3],
        );
        let (co, ci, kh, kw) = (
            weight.shape()[0],
            weight.shape()[1],
            weight.shape()[2],
            weight.shape()[3],
        );
        if ci != c {
            return Err(Error::shapes(
                OP,
                &[self.shape(), weight.shape()],
                "input [N, C, H, W] and weight [C_out, C, kH, kW] of one channel count C",
            ));
        }
        if let Some(b) = bias {
            if b.shape() != [co] {
                return Err(Error::Channels {
                    op: OP,
                    name: "bias",
                    shape: b.shape().to_vec(),
                    channels: co,
                });
            }
        }
        let g = Geometry::new(OP, c, h, w, kh, kw, p)?;
        self.check_float(OP)?;
        self.check_same_dtype(OP, weight)?;
        if let Some(b) = bias {
            self.check_same_dtype(OP, b)?;
        }
        let storage = Storage::conv2d(self.view(), weight.view(), bias.map(Tensor::view), &g)?;
        Ok(Tensor::from_storage(storage, &[n, co, g.ho, g.wo]))
    }

    /// im2col of a batch `[N, C, H, W]`: `[N, C*kh*kw, H_out*W_out]`.
    pub fn im2col(&self, kh: usize, kw: usize, p: Conv2dParams) -> Result<Tensor> {
        const OP: &str = "im2col";
        expect_rank(OP, "an input [N, C, H, W]", self, 4)?;
        let s = self.shape();
        let g = Geometry::new(OP, s[1], s[2], s[3], kh, kw, p)?;
        self.check_float(OP)?;
        let storage = self.storage().im2col(self.layout(), &g)?;
        Ok(Tensor::from_storage(storage, &[s[0], g.k(), g.pixels()]))
    }

    /// col2im: folds columns `[N, C*kh*kw, H_out*W_out]` back onto images of `input_shape`
    /// `[N, C, H, W]`, adding overlapping windows (the adjoint of [`Tensor::im2col`]).
    pub fn col2im(
        &self,
        input_shape: &[usize],
        kh: usize,
        kw: usize,
        p: Conv2dParams,
    ) -> Result<Tensor> {
        const OP: &str = "col2im";
        if input_shape.len() != 4 {
            return Err(Error::shapes(OP, &[input_shape], "an input [N, C, H, W]"));
        }
        let [n, c, h, w] = [
            input_shape[0],
            input_shape[1],
            input_shape[2],
            input_shape[3],
        ];
        let g = Geometry::new(OP, c, h, w, kh, kw, p)?;
        if self.shape() != [n, g.k(), g.pixels()] {
            return Err(Error::shapes(
                OP,
                &[self.shape(), input_shape, &[n, g.k(), g.pixels()]],
                "columns [N, C kH kW, H_out W_out] of the input and kernel (the last)",
            ));
        }
        self.check_float(OP)?;
        let storage = self.storage().col2im(self.layout(), &g)?;
        Ok(Tensor::from_storage(storage, input_shape))
    }

    /// Gradient of a convolution with respect to its input: `col2im(W^T * d_out)` per image.
    /// `self` is `d_out` `[N, C_out, H_out, W_out]`.
    pub fn conv2d_backward_input(
        &self,
        weight: &Tensor,
        input_shape: &[usize],
        p: Conv2dParams,
    ) -> Result<Tensor> {
        const OP: &str = "conv2d_backward_input";
        expect_rank(OP, "a grad_output [N, C_out, H_out, W_out]", self, 4)?;
        expect_rank(OP, "a weight [C_out, C, kH, kW]", weight, 4)?;
        if input_shape.len() != 4 {
            return Err(Error::shapes(OP, &[input_shape], "an input [N, C, H, W]"));
        }
        let (co, ci, kh, kw) = (
            weight.shape()[0],
            weight.shape()[1],
            weight.shape()[2],
            weight.shape()[3],
        );
        let [n, c, h, w] = [
            input_shape[0],
            input_shape[1],
            input_shape[2],
            input_shape[3],
        ];
        let g = Geometry::new(OP, c, h, w, kh, kw, p)?;
        if ci != c || self.shape() != [n, co, g.ho, g.wo] {
            return Err(Error::shapes(
                OP,
                &[self.shape(), weight.shape(), input_shape],
                "grad_output [N, C_out, H_out, W_out] and weight [C_out, C, kH, kW] of input \
                 [N, C, H, W]",
            ));
        }
        self.check_float(OP)?;
        self.check_same_dtype(OP, weight)?;
        let storage = Storage::conv2d_backward_input(self.view(), weight.view(), &g)?;
        Ok(Tensor::from_storage(storage, input_shape))
    }

    /// Gradient of a convolution with respect to its weight: `sum_n d_out[n] * cols[n]^T`.
    /// `self` is `d_out` `[N, C_out, H_out, W_out]`; `input` is the forward input.
    pub fn conv2d_backward_weight(
        &self,
        input: &Tensor,
        kernel: [usize; 2],
        p: Conv2dParams,
    ) -> Result<Tensor> {
        const OP: &str = "conv2d_backward_weight";
        expect_rank(OP, "a grad_output [N, C_out, H_out, W_out]", self, 4)?;
        expect_rank(OP, "an input [N, C, H, W]", input, 4)?;
        let s = input.shape();
        let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
        let g = Geometry::new(OP, c, h, w, kernel[0], kernel[1], p)?;
        let co = self.shape()[1];
        if self.shape() != [n, co, g.ho, g.wo] {
            return Err(Error::shapes(
                OP,
                &[self.shape(), s, &[n, co, g.ho, g.wo]],
                "grad_output of the input's output shape with this kernel (the last)",
            ));
        }
        self.check_float(OP)?;
        self.check_same_dtype(OP, input)?;
        let storage = Storage::conv2d_backward_weight(self.view(), input.view(), &g)?;
        Ok(Tensor::from_storage(
            storage,
            &[co, c, kernel[0], kernel[1]],
        ))
    }
}
