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
//! Every pooling reduces to one loop: per plane, per output pixel, over a window of rows x
//! columns clamped to the image. The windows are computed once per axis. Planes are
//! independent, so they run in parallel, and each backward pass writes one input plane per
//! task, adding in row-major output order: deterministic, no atomics, and the GPU's gathers
//! add in the same order, so the two agree to the bit. Values and gradients are f32 or f64
//! (indices i64).
use crate::strided::min_items_per_task;
use crate::{Conv2dParams, Error, Float, Result, Tensor};
use rayon::prelude::*;

/// Half-open range `start..end` of input coordinates one output coordinate pools over,
/// already clamped to the image.
type Window = (usize, usize);

/// The `[N, C, H, W]` sizes of a pooling tensor, or an error naming its shape.
fn dims4(op: &'static str, what: &str, shape: &[usize]) -> Result<[usize; 4]> {
    match *shape {
        [n, c, h, w] => Ok([n, c, h, w]),
        _ => Err(Error::shape(
            op,
            format!("{what} must have 4 dimensions [N, C, H, W], got shape {shape:?}"),
        )),
    }
}

/// PyTorch refuses empty images: a window would have nothing to pool.
fn nonempty_image(op: &'static str, shape: &[usize]) -> Result<()> {
    if shape[2] == 0 || shape[3] == 0 {
        return Err(Error::shape(
            op,
            format!("input {shape:?} has an empty image (H and W must be positive)"),
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
        return Err(Error::invalid(
            op,
            format!("padding {pad} must be at most half the kernel size {k}"),
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

/// Rows and columns windows of one pooling, and the input plane they read.
struct Windows {
    rows: Vec<Window>,
    cols: Vec<Window>,
    /// Input image height and width.
    h: usize,
    w: usize,
    /// Largest window area, to size parallel tasks.
    area: usize,
}

impl Windows {
    /// The same windows as the GPU's pooling kernels take them.
    fn kernel_windows(&self) -> kernels::Windows {
        kernels::Windows {
            rows: self.rows.clone(),
            cols: self.cols.clone(),
        }
    }

    fn new(rows: Vec<Window>, cols: Vec<Window>, h: usize, w: usize) -> Self {
        let span = |v: &[Window]| v.iter().map(|&(a, b)| b - a).max().unwrap_or(0);
        let area = span(&rows) * span(&cols);
        Windows {
            rows,
            cols,
            h,
            w,
            area,
        }
    }

    fn fixed(
        op: &'static str,
        h: usize,
        w: usize,
        k: [usize; 2],
        p: &Conv2dParams,
    ) -> Result<Self> {
        let rows = fixed_windows(op, 0, h, k[0], p)?;
        let cols = fixed_windows(op, 1, w, k[1], p)?;
        Ok(Self::new(rows, cols, h, w))
    }

    fn adaptive(op: &'static str, h: usize, w: usize, out: [usize; 2]) -> Result<Self> {
        if out[0] == 0 || out[1] == 0 {
            return Err(Error::invalid(
                op,
                format!("output size {out:?} must be positive"),
            ));
        }
        Ok(Self::new(
            adaptive_windows(h, out[0]),
            adaptive_windows(w, out[1]),
            h,
            w,
        ))
    }

    fn out_plane(&self) -> usize {
        self.rows.len() * self.cols.len()
    }

    fn in_plane(&self) -> usize {
        self.h * self.w
    }

    /// Planes per rayon task.
    fn min_planes(&self) -> usize {
        min_items_per_task(self.out_plane() * self.area.max(1) + self.in_plane())
    }

    /// Each output pixel's windows, in row-major output order.
    fn pixels(&self) -> impl Iterator<Item = (Window, Window)> + '_ {
        self.rows
            .iter()
            .flat_map(move |&r| self.cols.iter().map(move |&c| (r, c)))
    }
}

/// Max pooling of every plane of `x` (contiguous `[planes, H, W]`): the maxima, and their
/// indices (flat, in the maxima's order) when `with_indices`, else an empty vector (a pass
/// that records no gradient needs none).
///
/// The maxima are separable: each input row is reduced over every window's columns, then
/// each output pixel takes the largest of its window's row maxima. Both passes run tap by
/// tap across all windows, so neighbouring outputs are independent and nothing branches on
/// the data (a scan of each window in turn, branching on each comparison, mispredicted on
/// random data and took 45 ms for [16, 64, 112, 112]). The index is then looked up in
/// row-major order, which gives PyTorch's rule (start at -inf with the window's first pixel,
/// take a strictly greater value or any NaN): the first pixel equal to the maximum, or the
/// last NaN when the maximum is NaN.
fn max_pool<T: Float>(
    op: &'static str,
    x: &Tensor,
    g: &Windows,
    with_indices: bool,
) -> Result<(Tensor, Vec<i64>)> {
    let s = x.shape();
    let data = x.contiguous_data::<T>(op)?;
    let (pi, po, wo) = (g.in_plane(), g.out_plane(), g.cols.len());
    let mut vals = T::output_buffer(s[0] * s[1] * po);
    let mut idx = if with_indices {
        vec![0i64; vals.len()]
    } else {
        Vec::new()
    };
    let col_span = g.cols.iter().map(|&(c0, c1)| c1 - c0).max().unwrap_or(0);
    // Per task: every input row's maxima over each window's columns.
    let pool_plane = |row_max: &mut Vec<T>,
                      (plane, v_out, i_out): (usize, &mut [T], &mut [i64])| {
        let x = &data[plane * pi..(plane + 1) * pi];
        row_max.resize(g.h * wo, T::ZERO);
        for (row, best) in x.chunks_exact(g.w).zip(row_max.chunks_exact_mut(wo)) {
            best.fill(T::NEG_INFINITY);
            for t in 0..col_span {
                // A window narrower than the widest reads its last pixel again: harmless
                // for a maximum.
                for (b, &(c0, c1)) in best.iter_mut().zip(&g.cols) {
                    *b = nan_max(*b, row[(c0 + t).min(c1 - 1)]);
                }
            }
        }
        for (out, &(r0, r1)) in v_out.chunks_exact_mut(wo).zip(&g.rows) {
            out.fill(T::NEG_INFINITY);
            for maxima in row_max[r0 * wo..r1 * wo].chunks_exact(wo) {
                for (o, &v) in out.iter_mut().zip(maxima) {
                    *o = nan_max(*o, v);
                }
            }
        }
        if with_indices {
            // The first row whose maximum is the window's, then the first pixel in it that
            // is; for a NaN maximum the last row with a NaN and its last NaN.
            for (oy, &(r0, r1)) in g.rows.iter().enumerate() {
                for (ox, &(c0, c1)) in g.cols.iter().enumerate() {
                    let m = v_out[oy * wo + ox];
                    let at = if m.is_nan() {
                        (r0..r1).rev().find_map(|y| {
                            (c0..c1).rev().map(|c| y * g.w + c).find(|&p| x[p].is_nan())
                        })
                    } else {
                        (r0..r1)
                            .find(|&y| row_max[y * wo + ox] == m)
                            .and_then(|y| (c0..c1).map(|c| y * g.w + c).find(|&p| x[p] == m))
                    };
                    i_out[oy * wo + ox] = at.unwrap_or(r0 * g.w + c0) as i64;
                }
            }
        }
    };
    if po > 0 {
        let v_chunks = vals.par_chunks_mut(po);
        if with_indices {
            v_chunks
                .zip(idx.par_chunks_mut(po))
                .enumerate()
                .with_min_len(g.min_planes())
                .for_each_init(Vec::new, |scratch, (plane, (v, i))| {
                    pool_plane(scratch, (plane, v, i))
                });
        } else {
            v_chunks
                .enumerate()
                .with_min_len(g.min_planes())
                .for_each_init(Vec::new, |scratch, (plane, v)| {
                    pool_plane(scratch, (plane, v, &mut []))
                });
        }
    }
    let shape = [s[0], s[1], g.rows.len(), g.cols.len()];
    Ok((Tensor::from_op(vals, &shape), idx))
}

/// The larger of `best` and `v`, keeping `best` on ties and taking `v` if it is NaN: one
/// step of PyTorch's max-pooling scan, written as a select (no branch).
#[inline]
fn nan_max<T: Float>(best: T, v: T) -> T {
    if (v > best) | v.is_nan() {
        v
    } else {
        best
    }
}

/// Average pooling of every plane of `x`; `divisor(rows, cols)` is what each window's sum is
/// divided by.
fn avg_pool<T: Float>(
    op: &'static str,
    x: &Tensor,
    g: &Windows,
    divisor: impl Fn(Window, Window) -> T + Sync,
) -> Result<Tensor> {
    let s = x.shape();
    let data = x.contiguous_data::<T>(op)?;
    let (pi, po) = (g.in_plane(), g.out_plane());
    let mut out = T::output_buffer(s[0] * s[1] * po);
    if po > 0 {
        out.par_chunks_mut(po)
            .enumerate()
            .with_min_len(g.min_planes())
            .for_each(|(plane, o_out)| {
                let x = &data[plane * pi..(plane + 1) * pi];
                for ((rows, cols), o) in g.pixels().zip(o_out) {
                    let mut sum = T::ZERO;
                    for y in rows.0..rows.1 {
                        sum += x[y * g.w + cols.0..y * g.w + cols.1].iter().sum::<T>();
                    }
                    *o = sum / divisor(rows, cols);
                }
            });
    }
    Ok(Tensor::from_op(
        out,
        &[s[0], s[1], g.rows.len(), g.cols.len()],
    ))
}

/// The adjoint of [`avg_pool`]: each window's gradient, divided by its divisor, is added to
/// every pixel of the window. One task per input plane.
fn avg_pool_backward<T: Float>(
    op: &'static str,
    grad: &Tensor,
    input_shape: &[usize],
    g: &Windows,
    divisor: impl Fn(Window, Window) -> T + Sync,
) -> Result<Tensor> {
    let expected = [input_shape[0], input_shape[1], g.rows.len(), g.cols.len()];
    if grad.shape() != expected {
        return Err(Error::shape(
            op,
            format!(
                "grad_output {:?} does not match input {input_shape:?}: expected {expected:?}",
                grad.shape()
            ),
        ));
    }
    let dy = grad.contiguous_data::<T>(op)?;
    let (pi, po) = (g.in_plane(), g.out_plane());
    // A reused buffer, each plane cleared by its own task (as in max_pool_backward).
    let mut dx = T::output_buffer(input_shape.iter().product());
    if pi > 0 {
        dx.par_chunks_mut(pi)
            .enumerate()
            .with_min_len(g.min_planes())
            .for_each(|(plane, dx)| {
                dx.fill(T::ZERO);
                let dy = &dy[plane * po..(plane + 1) * po];
                for ((rows, cols), &d) in g.pixels().zip(dy) {
                    let share = d / divisor(rows, cols);
                    for y in rows.0..rows.1 {
                        for v in &mut dx[y * g.w + cols.0..y * g.w + cols.1] {
                            *v += share;
                        }
                    }
                }
            });
    }
    Ok(Tensor::from_op(dx, input_shape))
}

/// The adjoint of [`max_pool`] on the host: each gradient of `dy` (the planes' outputs in
/// row-major order, as `idx`) is added to the input pixel its index names, which must lie
/// in its window (an index from elsewhere is refused: the GPU's gather would not find it).
/// One task per input plane, adding in row-major output order.
fn max_pool_backward<T: Float>(
    op: &'static str,
    dy: &[T],
    idx: &[i64],
    g: &Windows,
) -> Result<Vec<T>> {
    let (pi, po) = (g.in_plane(), g.out_plane());
    // A reused buffer, each plane cleared by its own task: a fresh one of zeros costs a page
    // fault per 4 KiB at first touch (about half this op's time at ResNet's stem).
    let mut dx = T::output_buffer(dy.len() / po.max(1) * pi);
    if pi == 0 {
        return Ok(dx);
    }
    dx.par_chunks_mut(pi)
        .enumerate()
        .with_min_len(g.min_planes())
        .try_for_each(|(plane, dx)| {
            dx.fill(T::ZERO);
            let range = plane * po..(plane + 1) * po;
            let windows = g.pixels().zip(&dy[range.clone()]).zip(&idx[range]);
            for (out, (((rows, cols), &d), &i)) in windows.enumerate() {
                let at = usize::try_from(i).unwrap_or(usize::MAX);
                let (y, x) = (at / g.w, at % g.w);
                if !(rows.0..rows.1).contains(&y) || !(cols.0..cols.1).contains(&x) {
                    return Err(Error::index(
                        op,
                        format!(
                            "index {i} (output {out} of plane {plane}) is not in its window: \
                             rows {}..{}, columns {}..{} of a {}x{} plane",
                            rows.0, rows.1, cols.0, cols.1, g.h, g.w
                        ),
                    ));
                }
                dx[i as usize] += d;
            }
            Ok(())
        })?;
    Ok(dx)
}

/// The gradient of a max pooling over the windows `g`, shared by the fixed and adaptive forms.
fn max_pool2d_backward(
    op: &'static str,
    grad: &Tensor,
    indices: &Tensor,
    input_shape: &[usize],
    g: &Windows,
) -> Result<Tensor> {
    let [n, c, _, _] = dims4(op, "input shape", input_shape)?;
    let expected = [n, c, g.rows.len(), g.cols.len()];
    if grad.shape() != expected || indices.shape() != expected {
        return Err(Error::shape(
            op,
            format!(
                "grad_output {:?} and indices {:?} do not match input {input_shape:?}: \
                 expected {expected:?}",
                grad.shape(),
                indices.shape()
            ),
        ));
    }
    if let Some(gpu) = crate::cuda::gpu_of(op, &[grad, indices])? {
        return crate::cuda::max_pool_backward(
            &gpu,
            grad,
            indices,
            input_shape,
            &g.kernel_windows(),
        );
    }
    with_float!(op, grad.dtype(), T => {
        let (dy, idx) = (grad.contiguous_data::<T>(op)?, indices.contiguous_data::<i64>(op)?);
        let dx = max_pool_backward::<T>(op, &dy, &idx, g)?;
        Ok(Tensor::from_op(dx, input_shape))
    })
}

impl Tensor {
    /// Max pooling of `self` `[N, C, H, W]` with a `kernel` window, stride and padding `p`:
    /// the maxima `[N, C, H_out, W_out]` and their i64 positions `y * W + x` in each input
    /// plane (PyTorch's `max_pool2d(..., return_indices=True)`).
    pub fn max_pool2d(&self, kernel: [usize; 2], p: Conv2dParams) -> Result<(Tensor, Tensor)> {
        const OP: &str = "max_pool2d";
        let [_, _, h, w] = dims4(OP, "input", self.shape())?;
        nonempty_image(OP, self.shape())?;
        let g = Windows::fixed(OP, h, w, kernel, &p)?;
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self])? {
            let (v, i) = crate::cuda::max_pool(&gpu, self, &g.kernel_windows(), true)?;
            let i = i.ok_or_else(|| Error::device(OP, "the kernel returned no indices"))?;
            return Ok((v, i));
        }
        let (v, i) = with_float!(OP, self.dtype(), T => max_pool::<T>(OP, self, &g, true))?;
        let i = Tensor::from_op(i, v.shape());
        Ok((v, i))
    }

    /// The maxima of [`Tensor::max_pool2d`] alone, for a pass that needs no gradient.
    pub fn max_pool2d_values(&self, kernel: [usize; 2], p: Conv2dParams) -> Result<Tensor> {
        const OP: &str = "max_pool2d";
        let [_, _, h, w] = dims4(OP, "input", self.shape())?;
        nonempty_image(OP, self.shape())?;
        let g = Windows::fixed(OP, h, w, kernel, &p)?;
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self])? {
            return Ok(crate::cuda::max_pool(&gpu, self, &g.kernel_windows(), false)?.0);
        }
        with_float!(OP, self.dtype(), T => max_pool::<T>(OP, self, &g, false)).map(|(v, _)| v)
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
        let [_, _, h, w] = dims4(OP, "input shape", input_shape)?;
        nonempty_image(OP, input_shape)?;
        let g = Windows::fixed(OP, h, w, kernel, &p)?;
        max_pool2d_backward(OP, self, indices, input_shape, &g)
    }

    /// Average pooling of `self` `[N, C, H, W]` with a `kernel` window, stride and zero
    /// padding `p`, counting the padding in each average (PyTorch's default
    /// `count_include_pad=True`): every window sum is divided by `kh * kw`.
    pub fn avg_pool2d(&self, kernel: [usize; 2], p: Conv2dParams) -> Result<Tensor> {
        const OP: &str = "avg_pool2d";
        let [_, _, h, w] = dims4(OP, "input", self.shape())?;
        nonempty_image(OP, self.shape())?;
        let g = Windows::fixed(OP, h, w, kernel, &p)?;
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self])? {
            let area = (kernel[0] * kernel[1]) as f32;
            return crate::cuda::avg_pool(&gpu, self, &g.kernel_windows(), area);
        }
        with_float!(OP, self.dtype(), T => {
            let area = T::from_usize(kernel[0] * kernel[1]);
            avg_pool::<T>(OP, self, &g, |_, _| area)
        })
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
        let [_, _, h, w] = dims4(OP, "input shape", input_shape)?;
        nonempty_image(OP, input_shape)?;
        let g = Windows::fixed(OP, h, w, kernel, &p)?;
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self])? {
            let area = (kernel[0] * kernel[1]) as f32;
            return crate::cuda::avg_pool_backward(
                &gpu,
                self,
                input_shape,
                &g.kernel_windows(),
                area,
            );
        }
        with_float!(OP, self.dtype(), T => {
            let area = T::from_usize(kernel[0] * kernel[1]);
            avg_pool_backward::<T>(OP, self, input_shape, &g, |_, _| area)
        })
    }

    /// Adaptive average pooling of `self` `[N, C, H, W]` to `[N, C, out[0], out[1]]`: each
    /// output pixel is the mean of its window (see the module docs for the windows).
    pub fn adaptive_avg_pool2d(&self, out: [usize; 2]) -> Result<Tensor> {
        const OP: &str = "adaptive_avg_pool2d";
        let [_, _, h, w] = dims4(OP, "input", self.shape())?;
        nonempty_image(OP, self.shape())?;
        let g = Windows::adaptive(OP, h, w, out)?;
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self])? {
            return crate::cuda::avg_pool(&gpu, self, &g.kernel_windows(), 0.0);
        }
        with_float!(OP, self.dtype(), T => avg_pool::<T>(OP, self, &g, window_area))
    }

    /// Gradient of [`Tensor::adaptive_avg_pool2d`] with respect to its input: `self` is
    /// `grad_output` `[N, C, oh, ow]` (the output size is read from its shape).
    pub fn adaptive_avg_pool2d_backward(&self, input_shape: &[usize]) -> Result<Tensor> {
        const OP: &str = "adaptive_avg_pool2d_backward";
        let [_, _, oh, ow] = dims4(OP, "grad_output", self.shape())?;
        let [_, _, h, w] = dims4(OP, "input shape", input_shape)?;
        nonempty_image(OP, input_shape)?;
        let g = Windows::adaptive(OP, h, w, [oh, ow])?;
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self])? {
            return crate::cuda::avg_pool_backward(
                &gpu,
                self,
                input_shape,
                &g.kernel_windows(),
                0.0,
            );
        }
        with_float!(OP, self.dtype(), T => {
            avg_pool_backward::<T>(OP, self, input_shape, &g, window_area)
        })
    }

    /// Adaptive max pooling of `self` `[N, C, H, W]` to `[N, C, out[0], out[1]]`: maxima and
    /// their i64 positions in each input plane, as [`Tensor::max_pool2d`].
    pub fn adaptive_max_pool2d(&self, out: [usize; 2]) -> Result<(Tensor, Tensor)> {
        const OP: &str = "adaptive_max_pool2d";
        let [_, _, h, w] = dims4(OP, "input", self.shape())?;
        nonempty_image(OP, self.shape())?;
        let g = Windows::adaptive(OP, h, w, out)?;
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self])? {
            let (v, i) = crate::cuda::max_pool(&gpu, self, &g.kernel_windows(), true)?;
            let i = i.ok_or_else(|| Error::device(OP, "the kernel returned no indices"))?;
            return Ok((v, i));
        }
        let (v, i) = with_float!(OP, self.dtype(), T => max_pool::<T>(OP, self, &g, true))?;
        let i = Tensor::from_op(i, v.shape());
        Ok((v, i))
    }

    /// Gradient of [`Tensor::adaptive_max_pool2d`] with respect to its input, as
    /// [`Tensor::max_pool2d_backward`] (the output size is read from `self`'s shape).
    pub fn adaptive_max_pool2d_backward(
        &self,
        indices: &Tensor,
        input_shape: &[usize],
    ) -> Result<Tensor> {
        const OP: &str = "adaptive_max_pool2d_backward";
        let [_, _, oh, ow] = dims4(OP, "grad_output", self.shape())?;
        let [_, _, h, w] = dims4(OP, "input shape", input_shape)?;
        nonempty_image(OP, input_shape)?;
        let g = Windows::adaptive(OP, h, w, [oh, ow])?;
        max_pool2d_backward(OP, self, indices, input_shape, &g)
    }
}

/// Number of pixels in a window: the divisor of adaptive average pooling.
fn window_area<T: Float>(rows: Window, cols: Window) -> T {
    T::from_usize((rows.1 - rows.0) * (cols.1 - cols.0))
}
