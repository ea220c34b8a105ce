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
use crate::gemm::{self, MatMut, MatRef};
use crate::{Error, Result, Tensor};
use rayon::prelude::*;

/// Stride and zero padding of a convolution or pooling window, as (height, width).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dParams {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl Conv2dParams {
    /// The same stride and padding along height and width.
    pub fn new(stride: usize, padding: usize) -> Self {
        Conv2dParams {
            stride: [stride; 2],
            padding: [padding; 2],
        }
    }

    /// Output size along one axis for input size `n` and kernel size `k`, or an error when
    /// the (padded) input is smaller than the kernel or the stride is 0.
    pub(crate) fn out_size(&self, op: &'static str, axis: usize, n: usize, k: usize) -> Result<usize> {
        let (s, p) = (self.stride[axis], self.padding[axis]);
        if s == 0 || k == 0 {
            return Err(Error::invalid(op, format!("stride {s} and kernel size {k} must be positive")));
        }
        if n + 2 * p < k {
            return Err(Error::shape(
                op,
                format!("input size {n} with padding {p} is smaller than the kernel size {k}"),
            ));
        }
        Ok((n + 2 * p - k) / s + 1)
    }
}

/// Geometry of one convolution: input `[c, h, w]`, kernel `kh x kw`, output `ho x wo`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub ho: usize,
    pub wo: usize,
    pub p: Conv2dParams,
}

impl Geometry {
    pub(crate) fn new(op: &'static str, c: usize, h: usize, w: usize, kh: usize, kw: usize, p: Conv2dParams) -> Result<Self> {
        Ok(Geometry {
            c,
            h,
            w,
            kh,
            kw,
            ho: p.out_size(op, 0, h, kh)?,
            wo: p.out_size(op, 1, w, kw)?,
            p,
        })
    }
    /// Rows of the column matrix: `c * kh * kw`.
    pub fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }
    /// Columns of the column matrix: output pixels.
    pub fn pixels(&self) -> usize {
        self.ho * self.wo
    }
    /// True when the column matrix is the image itself (1x1 kernel, stride 1, no padding).
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.p == Conv2dParams::new(1, 0)
    }
    /// The input coordinate that output coordinate `o` reads at kernel offset `i` along
    /// `axis`, if it lies inside the image.
    fn source(&self, axis: usize, o: usize, i: usize) -> Option<usize> {
        let (s, p, n) = (self.p.stride[axis], self.p.padding[axis], [self.h, self.w][axis]);
        (o * s + i).checked_sub(p).filter(|&v| v < n)
    }
}

/// Fills `cols` (`[c*kh*kw, ho*wo]`) from one image `x` (`[c, h, w]`, contiguous).
pub(crate) fn im2col_image(x: &[f32], g: &Geometry, cols: &mut [f32]) {
    let fill_row = |(r, row): (usize, &mut [f32])| {
        let (c, i, j) = (r / (g.kh * g.kw), r / g.kw % g.kh, r % g.kw);
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for (oy, out) in row.chunks_exact_mut(g.wo).enumerate() {
            match g.source(0, oy, i) {
                None => out.fill(0.0),
                Some(iy) => {
                    let src = &plane[iy * g.w..(iy + 1) * g.w];
                    for (ox, o) in out.iter_mut().enumerate() {
                        *o = g.source(1, ox, j).map_or(0.0, |ix| src[ix]);
                    }
                }
            }
        }
    };
    if cols.len() >= crate::strided::PAR_THRESHOLD {
        cols.par_chunks_mut(g.pixels()).enumerate().for_each(fill_row);
    } else {
        cols.chunks_mut(g.pixels()).enumerate().for_each(fill_row);
    }
}

/// Adds the columns `cols` (`[c*kh*kw, ho*wo]`) back onto one image `x` (`[c, h, w]`): the
/// adjoint of im2col. Each channel plane is summed by one task, so no two tasks write the
/// same pixel (no atomics, deterministic).
pub(crate) fn col2im_image(cols: &[f32], g: &Geometry, x: &mut [f32]) {
    let taps = g.kh * g.kw;
    let per_plane = |(c, plane): (usize, &mut [f32])| {
        plane.fill(0.0);
        for t in 0..taps {
            let (i, j) = (t / g.kw, t % g.kw);
            let row = &cols[(c * taps + t) * g.pixels()..][..g.pixels()];
            for (oy, src) in row.chunks_exact(g.wo).enumerate() {
                let Some(iy) = g.source(0, oy, i) else { continue };
                let dst = &mut plane[iy * g.w..(iy + 1) * g.w];
                for (ox, &v) in src.iter().enumerate() {
                    if let Some(ix) = g.source(1, ox, j) {
                        dst[ix] += v;
                    }
                }
            }
        }
    };
    if x.len() >= crate::strided::PAR_THRESHOLD {
        x.par_chunks_mut(g.h * g.w).enumerate().for_each(per_plane);
    } else {
        x.chunks_mut(g.h * g.w).enumerate().for_each(per_plane);
    }
}

fn expect_rank(op: &'static str, name: &str, t: &Tensor, rank: usize) -> Result<()> {
    if t.rank() != rank {
        return Err(Error::shape(
            op,
            format!("{name} must have {rank} dimensions, got shape {:?}", t.shape()),
        ));
    }
    Ok(())
}

/// The column matrix of one image, borrowed when no im2col is needed (1x1, stride 1).
fn columns<'a>(image: &'a [f32], g: &Geometry, buf: &'a mut Vec<f32>) -> &'a [f32] {
    if g.is_pointwise() {
        image
    } else {
        buf.resize(g.k() * g.pixels(), 0.0);
        im2col_image(image, g, buf);
        buf
    }
}

impl Tensor {
    /// 2-D convolution (cross-correlation) of `self` `[N, C, H, W]` with `weight`
    /// `[C_out, C, kh, kw]`, plus an optional `bias` `[C_out]`: `[N, C_out, H_out, W_out]`.
    pub fn conv2d(&self, weight: &Tensor, bias: Option<&Tensor>, p: Conv2dParams) -> Result<Tensor> {
        const OP: &str = "conv2d";
        expect_rank(OP, "input", self, 4)?;
        expect_rank(OP, "weight", weight, 4)?;
        let (n, c, h, w) = (self.shape()[0], self.shape()[1], self.shape()[2], self.shape()[3]);
        let (co, ci, kh, kw) = (weight.shape()[0], weight.shape()[1], weight.shape()[2], weight.shape()[3]);
        if ci != c {
            return Err(Error::shape(
                OP,
                format!("input {:?} has {c} channels but weight {:?} expects {ci}", self.shape(), weight.shape()),
            ));
        }
        if let Some(b) = bias {
            if b.shape() != [co] {
                return Err(Error::shape(OP, format!("bias {:?} must have shape [{co}]", b.shape())));
            }
        }
        let g = Geometry::new(OP, c, h, w, kh, kw, p)?;
        let x = self.contiguous_data::<f32>(OP)?;
        let wt = weight.contiguous_data::<f32>(OP)?;
        let bias = bias.map(|b| b.contiguous_data::<f32>(OP)).transpose()?;
        let (k, px) = (g.k(), g.pixels());
        let mut out = vec![0f32; n * co * px];
        let mut buf = Vec::new();
        for (image, y) in x.chunks_exact(c * h * w).zip(out.chunks_exact_mut(co * px)) {
            if let Some(b) = &bias {
                for (row, &bv) in y.chunks_exact_mut(px).zip(b.iter()) {
                    row.fill(bv);
                }
            }
            let cols = columns(image, &g, &mut buf);
            gemm::gemm(
                1.0,
                MatRef::new(&wt, co, k, k, 1)?,
                MatRef::new(cols, k, px, px, 1)?,
                if bias.is_some() { 1.0 } else { 0.0 },
                MatMut::new(y, co, px, px)?,
            )?;
        }
        Tensor::from_vec(out, &[n, co, g.ho, g.wo])
    }

    /// im2col of a batch `[N, C, H, W]`: `[N, C*kh*kw, H_out*W_out]`.
    pub fn im2col(&self, kh: usize, kw: usize, p: Conv2dParams) -> Result<Tensor> {
        expect_rank("im2col", "input", self, 4)?;
        let s = self.shape();
        let g = Geometry::new("im2col", s[1], s[2], s[3], kh, kw, p)?;
        let x = self.contiguous_data::<f32>("im2col")?;
        let mut cols = vec![0f32; s[0] * g.k() * g.pixels()];
        for (image, c) in x.chunks_exact(g.c * g.h * g.w).zip(cols.chunks_exact_mut(g.k() * g.pixels())) {
            im2col_image(image, &g, c);
        }
        Tensor::from_vec(cols, &[s[0], g.k(), g.pixels()])
    }

    /// col2im: folds columns `[N, C*kh*kw, H_out*W_out]` back onto images of `input_shape`
    /// `[N, C, H, W]`, adding overlapping windows (the adjoint of [`Tensor::im2col`]).
    pub fn col2im(&self, input_shape: &[usize], kh: usize, kw: usize, p: Conv2dParams) -> Result<Tensor> {
        const OP: &str = "col2im";
        if input_shape.len() != 4 {
            return Err(Error::shape(OP, format!("input shape {input_shape:?} must have 4 dimensions")));
        }
        let [n, c, h, w] = [input_shape[0], input_shape[1], input_shape[2], input_shape[3]];
        let g = Geometry::new(OP, c, h, w, kh, kw, p)?;
        if self.shape() != [n, g.k(), g.pixels()] {
            return Err(Error::shape(
                OP,
                format!(
                    "columns {:?} do not match input {input_shape:?} with a {kh}x{kw} kernel: expected [{n}, {}, {}]",
                    self.shape(),
                    g.k(),
                    g.pixels()
                ),
            ));
        }
        let cols = self.contiguous_data::<f32>(OP)?;
        let mut x = vec![0f32; n * c * h * w];
        for (col, image) in cols.chunks_exact(g.k() * g.pixels()).zip(x.chunks_exact_mut(c * h * w)) {
            col2im_image(col, &g, image);
        }
        Tensor::from_vec(x, input_shape)
    }

    /// Gradient of a convolution with respect to its input: `col2im(W^T * d_out)` per image.
    /// `self` is `d_out` `[N, C_out, H_out, W_out]`.
    pub fn conv2d_backward_input(&self, weight: &Tensor, input_shape: &[usize], p: Conv2dParams) -> Result<Tensor> {
        const OP: &str = "conv2d_backward_input";
        expect_rank(OP, "grad_output", self, 4)?;
        expect_rank(OP, "weight", weight, 4)?;
        if input_shape.len() != 4 {
            return Err(Error::shape(OP, format!("input shape {input_shape:?} must have 4 dimensions")));
        }
        let (co, ci, kh, kw) = (weight.shape()[0], weight.shape()[1], weight.shape()[2], weight.shape()[3]);
        let [n, c, h, w] = [input_shape[0], input_shape[1], input_shape[2], input_shape[3]];
        let g = Geometry::new(OP, c, h, w, kh, kw, p)?;
        if ci != c || self.shape() != [n, co, g.ho, g.wo] {
            return Err(Error::shape(
                OP,
                format!(
                    "grad_output {:?} and weight {:?} do not match input {input_shape:?}",
                    self.shape(),
                    weight.shape()
                ),
            ));
        }
        let dy = self.contiguous_data::<f32>(OP)?;
        let wt = weight.contiguous_data::<f32>(OP)?;
        let (k, px) = (g.k(), g.pixels());
        let mut dx = vec![0f32; n * c * h * w];
        let mut dcols = vec![0f32; if g.is_pointwise() { 0 } else { k * px }];
        for (dyi, dxi) in dy.chunks_exact(co * px).zip(dx.chunks_exact_mut(c * h * w)) {
            // W^T is W with its strides swapped: no copy.
            let wt_t = MatRef::new(&wt, k, co, 1, k)?;
            let dyi = MatRef::new(dyi, co, px, px, 1)?;
            if g.is_pointwise() {
                gemm::gemm(1.0, wt_t, dyi, 0.0, MatMut::new(dxi, k, px, px)?)?;
            } else {
                gemm::gemm(1.0, wt_t, dyi, 0.0, MatMut::new(&mut dcols, k, px, px)?)?;
                col2im_image(&dcols, &g, dxi);
            }
        }
        Tensor::from_vec(dx, input_shape)
    }

    /// Gradient of a convolution with respect to its weight: `sum_n d_out[n] * cols[n]^T`.
    /// `self` is `d_out` `[N, C_out, H_out, W_out]`; `input` is the forward input.
    pub fn conv2d_backward_weight(&self, input: &Tensor, kernel: [usize; 2], p: Conv2dParams) -> Result<Tensor> {
        const OP: &str = "conv2d_backward_weight";
        expect_rank(OP, "grad_output", self, 4)?;
        expect_rank(OP, "input", input, 4)?;
        let s = input.shape();
        let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
        let g = Geometry::new(OP, c, h, w, kernel[0], kernel[1], p)?;
        let co = self.shape()[1];
        if self.shape() != [n, co, g.ho, g.wo] {
            return Err(Error::shape(
                OP,
                format!(
                    "grad_output {:?} does not match input {s:?} with a {}x{} kernel: expected [{n}, C_out, {}, {}]",
                    self.shape(),
                    kernel[0],
                    kernel[1],
                    g.ho,
                    g.wo
                ),
            ));
        }
        let dy = self.contiguous_data::<f32>(OP)?;
        let x = input.contiguous_data::<f32>(OP)?;
        let (k, px) = (g.k(), g.pixels());
        let mut dw = vec![0f32; co * k];
        let mut buf = Vec::new();
        for (i, (dyi, image)) in dy.chunks_exact(co * px).zip(x.chunks_exact(c * h * w)).enumerate() {
            let cols = columns(image, &g, &mut buf);
            gemm::gemm(
                1.0,
                MatRef::new(dyi, co, px, px, 1)?,
                // cols^T: [px, k] with strides (1, px).
                MatRef::new(cols, px, k, 1, px)?,
                if i == 0 { 0.0 } else { 1.0 },
                MatMut::new(&mut dw, co, k, k)?,
            )?;
        }
        Tensor::from_vec(dw, &[co, c, kernel[0], kernel[1]])
    }
}
