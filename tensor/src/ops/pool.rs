//! 2-D pooling over `[N, C, H, W]`: max and average pooling with a fixed kernel, their
//! adaptive forms (a fixed output size, as ResNet's head uses), and the backward passes.
//!
//! Semantics follow PyTorch (`torch.nn.functional.max_pool2d`, `avg_pool2d`,
//! `adaptive_avg_pool2d`, `adaptive_max_pool2d`):
//! - output size `floor((H + 2p - k) / s) + 1` (no `ceil_mode`, no dilation);
//! - padding is at most half the kernel, so every window holds at least one real pixel;
//! - max pooling pads with -inf (padding is never selected), picks the first maximum of a
//!   window in row-major order, and a NaN in the window wins (NaN propagates);
//! - indices are flat positions `y * W + x` within each input plane, as `return_indices=True`;
//!   the backward passes take the forward's windows (`kernel` and `p`, or the adaptive
//!   output size), and an index outside its own window is an error (PyTorch does not check;
//!   the GPU's gradient is gathered per input pixel from the windows holding it, so it
//!   could not see such an index at all);
//! - average pooling counts the padding (`count_include_pad=True`, the default), so the divisor
//!   is always `kh * kw`;
//! - adaptive window `i` along an axis of size `H` with `out` windows covers
//!   `floor(i * H / out) .. ceil((i + 1) * H / out)`: windows may overlap, never miss a pixel.
//!
//! This is the front end: it checks shapes and dtypes and computes the windows once per
//! axis; the host (`cpu/pool.rs`) or the GPU (`cuda/pool.rs`) pools over them.
use crate::conv_geometry::Conv2dParams;
use crate::{Error, Result, Storage, Tensor};
use kernels::Windows;

/// Half-open range `start..end` of input coordinates one output coordinate pools over,
/// already clamped to the image.
type Window = (usize, usize);

/// The `[N, C, H, W]` sizes of a pooling tensor, or an error naming its shape.
fn dims4(op: &'static str, what: &'static str, shape: &[usize]) -> Result<[usize; 4]> {
    match *shape {
        [n, c, h, w] => Ok([n, c, h, w]),
        _ => Err(Error::shapes(op, &[shape], what)),
    }
}

/// PyTorch refuses empty images: a window would have nothing to pool.
fn nonempty_image(op: &'static str, shape: &[usize]) -> Result<()> {
    if shape[2] == 0 || shape[3] == 0 {
        return Err(Error::shapes(
            op,
            &[shape],
            "an input [N, C, H, W] with H and W positive",
        ));
    }
    Ok(())
}

/// The windows of a fixed-kernel pooling along `axis` (0: height, 1: width) of size `n`.
fn fixed_windows(
    op: &'static str,
    axis: usize,
    n: usize,
    k: usize,
    p: &Conv2dParams,
) -> Result<Vec<Window>> {
    let out = p.out_size(op, axis, n, k)?;
    let (s, pad) = (p.stride[axis], p.padding[axis]);
    if pad > k / 2 {
        return Err(Error::argument(
            op,
            "padding",
            pad as f64,
            "at most half the kernel size",
        ));
    }
    // With pad <= k/2 and n >= 1 every window overlaps the image: start < n and end > 0.
    Ok((0..out)
        .map(|o| {
            let lo = o * s;
            (lo.saturating_sub(pad), (lo + k - pad).min(n))
        })
        .collect())
}

/// The windows of an adaptive pooling of `n` pixels into `out` windows (PyTorch's
/// `start_index` / `end_index`). Non-empty whenever `n >= 1`.
fn adaptive_windows(n: usize, out: usize) -> Vec<Window> {
    (0..out)
        .map(|i| (i * n / out, ((i + 1) * n).div_ceil(out)))
        .collect()
}

/// The windows of a fixed-kernel pooling of `h x w` images.
fn fixed(op: &'static str, h: usize, w: usize, k: [usize; 2], p: &Conv2dParams) -> Result<Windows> {
    Ok(Windows {
        rows: fixed_windows(op, 0, h, k[0], p)?,
        cols: fixed_windows(op, 1, w, k[1], p)?,
    })
}

/// The windows of an adaptive pooling of `h x w` images to `out`.
fn adaptive(op: &'static str, h: usize, w: usize, out: [usize; 2]) -> Result<Windows> {
    if out[0] == 0 || out[1] == 0 {
        return Err(Error::shapes(op, &[&out], "a positive output size"));
    }
    Ok(Windows {
        rows: adaptive_windows(h, out[0]),
        cols: adaptive_windows(w, out[1]),
    })
}

/// The shape of a pooling's output: `[N, C]` of `shape`, and one pixel per window.
fn out_shape(shape: &[usize], win: &Windows) -> [usize; 4] {
    [shape[0], shape[1], win.rows.len(), win.cols.len()]
}

impl Tensor {
    /// Max pooling over `win`: the maxima and, when `indices`, their positions.
    fn max_pool(
        &self,
        op: &'static str,
        win: &Windows,
        indices: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        self.check_float(op)?;
        let (v, i) = self.storage().max_pool(op, self.layout(), win, indices)?;
        let shape = out_shape(self.shape(), win);
        let i = i.map(|i| Tensor::from_storage(i, &shape));
        Ok((Tensor::from_storage(v, &shape), i))
    }

    /// Max pooling over `win` with the maxima's positions.
    fn max_pool_indices(&self, op: &'static str, win: &Windows) -> Result<(Tensor, Tensor)> {
        let (v, i) = self.max_pool(op, win, true)?;
        let i = i.ok_or(Error::Internal {
            op,
            what: "the kernel returned no indices",
        })?;
        Ok((v, i))
    }

    /// The gradient of a max pooling over `win`, shared by the fixed and adaptive forms:
    /// `self` is `grad_output`.
    fn max_pool_backward(
        &self,
        op: &'static str,
        indices: &Tensor,
        input_shape: &[usize],
        win: &Windows,
    ) -> Result<Tensor> {
        let expected = out_shape(input_shape, win);
        if self.shape() != expected || indices.shape() != expected {
            return Err(Error::shapes(
                op,
                &[self.shape(), indices.shape(), input_shape, &expected],
                "grad_output and indices of the pooled input's output shape (the last)",
            ));
        }
        self.check_float(op)?;
        let storage =
            Storage::max_pool_backward(op, self.view(), indices.view(), win, input_shape)?;
        Ok(Tensor::from_storage(storage, input_shape))
    }

    /// Average pooling over `win`, dividing each window's sum by `area`, or by the window's
    /// own size when `None`.
    fn avg_pool(&self, op: &'static str, win: &Windows, area: Option<usize>) -> Result<Tensor> {
        self.check_float(op)?;
        let storage = self.storage().avg_pool(op, self.layout(), win, area)?;
        Ok(Tensor::from_storage(storage, &out_shape(self.shape(), win)))
    }

    /// The gradient of [`Tensor::avg_pool`]: `self` is `grad_output`.
    fn avg_pool_backward(
        &self,
        op: &'static str,
        input_shape: &[usize],
        win: &Windows,
        area: Option<usize>,
    ) -> Result<Tensor> {
        let expected = out_shape(input_shape, win);
        if self.shape() != expected {
            return Err(Error::shapes(
                op,
                &[self.shape(), input_shape, &expected],
                "grad_output of the pooled input's output shape (the last)",
            ));
        }
        self.check_float(op)?;
        let storage =
            self.storage()
                .avg_pool_backward(op, self.layout(), win, area, input_shape)?;
        Ok(Tensor::from_storage(storage, input_shape))
    }
}

impl Tensor {
    /// Max pooling of `self` `[N, C, H, W]` with a `kernel` window, stride and padding `p`:
    /// the maxima `[N, C, H_out, W_out]` and their i64 positions `y * W + x` in each input
    /// plane (PyTorch's `max_pool2d(..., return_indices=True)`).
    pub fn max_pool2d(&self, kernel: [usize; 2], p: Conv2dParams) -> Result<(Tensor, Tensor)> {
        const OP: &str = "max_pool2d";
        let [_, _, h, w] = dims4(OP, "an input [N, C, H, W]", self.shape())?;
        nonempty_image(OP, self.shape())?;
        let g = fixed(OP, h, w, kernel, &p)?;
        self.max_pool_indices(OP, &g)
    }

    /// The maxima of [`Tensor::max_pool2d`] alone, for a pass that needs no gradient.
    pub fn max_pool2d_values(&self, kernel: [usize; 2], p: Conv2dParams) -> Result<Tensor> {
        const OP: &str = "max_pool2d";
        let [_, _, h, w] = dims4(OP, "an input [N, C, H, W]", self.shape())?;
        nonempty_image(OP, self.shape())?;
        let g = fixed(OP, h, w, kernel, &p)?;
        Ok(self.max_pool(OP, &g, false)?.0)
    }

    /// Gradient of [`Tensor::max_pool2d`] with respect to its input: `self` is
    /// `grad_output` `[N, C, H_out, W_out]`, `indices` the forward's indices of the same
    /// shape, `kernel` and `p` the forward's; each gradient is added to the input pixel its
    /// window selected (overlapping windows may select the same pixel, whose gradients then
    /// add up). An index outside its window is an error.
    pub fn max_pool2d_backward(
        &self,
        indices: &Tensor,
        input_shape: &[usize],
        kernel: [usize; 2],
        p: Conv2dParams,
    ) -> Result<Tensor> {
        const OP: &str = "max_pool2d_backward";
        let [_, _, h, w] = dims4(OP, "an input shape [N, C, H, W]", input_shape)?;
        nonempty_image(OP, input_shape)?;
        let g = fixed(OP, h, w, kernel, &p)?;
        self.max_pool_backward(OP, indices, input_shape, &g)
    }

    /// Average pooling of `self` `[N, C, H, W]` with a `kernel` window, stride and zero
    /// padding `p`, counting the padding in each average (PyTorch's default
    /// `count_include_pad=True`): every window sum is divided by `kh * kw`.
    pub fn avg_pool2d(&self, kernel: [usize; 2], p: Conv2dParams) -> Result<Tensor> {
        const OP: &str = "avg_pool2d";
        let [_, _, h, w] = dims4(OP, "an input [N, C, H, W]", self.shape())?;
        nonempty_image(OP, self.shape())?;
        let g = fixed(OP, h, w, kernel, &p)?;
        self.avg_pool(OP, &g, Some(kernel[0] * kernel[1]))
    }

    /// Gradient of [`Tensor::avg_pool2d`] with respect to its input: `self` is `grad_output`
    /// `[N, C, H_out, W_out]`; each gradient, divided by `kh * kw`, is spread over its window.
    pub fn avg_pool2d_backward(
        &self,
        input_shape: &[usize],
        kernel: [usize; 2],
        p: Conv2dParams,
    ) -> Result<Tensor> {
        const OP: &str = "avg_pool2d_backward";
        let [_, _, h, w] = dims4(OP, "an input shape [N, C, H, W]", input_shape)?;
        nonempty_image(OP, input_shape)?;
        let g = fixed(OP, h, w, kernel, &p)?;
        self.avg_pool_backward(OP, input_shape, &g, Some(kernel[0] * kernel[1]))
    }

    /// Adaptive average pooling of `self` `[N, C, H, W]` to `[N, C, out[0], out[1]]`: each
    /// output pixel is the mean of its window (see the module docs for the windows).
    pub fn adaptive_avg_pool2d(&self, out: [usize; 2]) -> Result<Tensor> {
        const OP: &str = "adaptive_avg_pool2d";
        let [_, _, h, w] = dims4(OP, "an input [N, C, H, W]", self.shape())?;
        nonempty_image(OP, self.shape())?;
        let g = adaptive(OP, h, w, out)?;
        self.avg_pool(OP, &g, None)
    }

    /// Gradient of [`Tensor::adaptive_avg_pool2d`] with respect to its input: `self` is
    /// `grad_output` `[N, C, oh, ow]` (the output size is read from its shape).
    pub fn adaptive_avg_pool2d_backward(&self, input_shape: &[usize]) -> Result<Tensor> {
        const OP: &str = "adaptive_avg_pool2d_backward";
        let [_, _, oh, ow] = dims4(OP, "a grad_output [N, C, H_out, W_out]", self.shape())?;
        let [_, _, h, w] = dims4(OP, "an input shape [N, C, H, W]", input_shape)?;
        nonempty_image(OP, input_shape)?;
        let g = adaptive(OP, h, w, [oh, ow])?;
        self.avg_pool_backward(OP, input_shape, &g, None)
    }

    /// Adaptive max pooling of `self` `[N, C, H, W]` to `[N, C, out[0], out[1]]`: maxima and
    /// their i64 positions in each input plane, as [`Tensor::max_pool2d`].
    pub fn adaptive_max_pool2d(&self, out: [usize; 2]) -> Result<(Tensor, Tensor)> {
        const OP: &str = "adaptive_max_pool2d";
        let [_, _, h, w] = dims4(OP, "an input [N, C, H, W]", self.shape())?;
        nonempty_image(OP, self.shape())?;
        let g = adaptive(OP, h, w, out)?;
        self.max_pool_indices(OP, &g)
    }

    /// Gradient of [`Tensor::adaptive_max_pool2d`] with respect to its input, as
    /// [`Tensor::max_pool2d_backward`] (the output size is read from `self`'s shape).
    pub fn adaptive_max_pool2d_backward(
        &self,
        indices: &Tensor,
        input_shape: &[usize],
    ) -> Result<Tensor> {
        const OP: &str = "adaptive_max_pool2d_backward";
        let [_, _, oh, ow] = dims4(OP, "a grad_output [N, C, H_out, W_out]", self.shape())?;
        let [_, _, h, w] = dims4(OP, "an input shape [N, C, H, W]", input_shape)?;
        nonempty_image(OP, input_shape)?;
        let g = adaptive(OP, h, w, [oh, ow])?;
        self.max_pool_backward(OP, indices, input_shape, &g)
    }
}
