//! Pooling on the host, over the windows the front end (`ops/pool.rs`) built, fixed or
//! adaptive alike. Every pooling reduces to one loop: per plane, per output pixel, over a
//! window of rows x columns clamped to the image. Planes are independent, so they run in
//! parallel, and each backward pass writes one input plane per task, adding in row-major
//! output order: deterministic, no atomics, and the GPU's gathers add in the same order, so
//! the two agree to the bit. Values and gradients are f32 or f64 (indices i64).
use super::{layout_data, CpuStorage, Element, View};
use crate::strided::min_items_per_task;
use crate::{Error, Float, Result};
use kernels::Windows;
use rayon::prelude::*;

/// Half-open range `start..end` of input coordinates one output coordinate pools over,
/// already clamped to the image.
type Window = (usize, usize);

/// The rows and columns windows of one pooling, and the input plane they read.
struct Pooling<'a> {
    rows: &'a [Window],
    cols: &'a [Window],
    /// Input image height and width.
    h: usize,
    w: usize,
    /// Largest window area, to size parallel tasks.
    area: usize,
}

impl<'a> Pooling<'a> {
    /// The windows `win` over the planes of `[N, C, H, W]`.
    fn new(win: &'a Windows, shape: &[usize]) -> Self {
        let span = |v: &[Window]| v.iter().map(|&(a, b)| b - a).max().unwrap_or(0);
        Pooling {
            rows: &win.rows,
            cols: &win.cols,
            h: shape[2],
            w: shape[3],
            area: span(&win.rows) * span(&win.cols),
        }
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

/// Max pooling of `x` `[N, C, H, W]` over `win`: the maxima `[N, C, H_out, W_out]` and, when
/// `indices`, their i64 positions `y * W + x` in each input plane.
pub(crate) fn max_pool(
    op: &'static str,
    (x, l): View,
    win: &Windows,
    indices: bool,
) -> Result<(CpuStorage, Option<CpuStorage>)> {
    let g = Pooling::new(win, l.shape());
    with_float!(op, x.dtype(), T => {
        let data = layout_data(x.slice::<T>(op)?, l);
        Ok(max_pool_typed::<T>(&data, l.shape(), &g, indices))
    })
}

/// The gradient of a max pooling over `win` with respect to its input `[N, C, H, W]`: each
/// gradient of `dy` is added to the pixel its index in `indices` names. An index outside
/// its window is an error.
pub(crate) fn max_pool_backward(
    op: &'static str,
    (dy, l): View,
    (indices, li): View,
    win: &Windows,
    input_shape: &[usize],
) -> Result<CpuStorage> {
    let g = Pooling::new(win, input_shape);
    with_float!(op, dy.dtype(), T => {
        let dy = layout_data(dy.slice::<T>(op)?, l);
        let idx = layout_data(indices.slice::<i64>(op)?, li);
        Ok(T::into_storage(max_pool_backward_typed::<T>(op, &dy, &idx, &g)?))
    })
}

/// Average pooling of `x` `[N, C, H, W]` over `win`, each window's sum divided by `area`, or
/// by the window's own size when `None` (adaptive pooling).
pub(crate) fn avg_pool(
    op: &'static str,
    (x, l): View,
    win: &Windows,
    area: Option<usize>,
) -> Result<CpuStorage> {
    let g = Pooling::new(win, l.shape());
    with_float!(op, x.dtype(), T => {
        let data = layout_data(x.slice::<T>(op)?, l);
        Ok(match area {
            Some(area) => {
                let area = T::from_usize(area);
                avg_pool_typed::<T>(&data, l.shape(), &g, |_, _| area)
            }
            None => avg_pool_typed::<T>(&data, l.shape(), &g, window_area),
        })
    })
}

/// The gradient of [`avg_pool`] with respect to its input `[N, C, H, W]`: each gradient of
/// `dy`, divided as the forward divided, is spread over its window.
pub(crate) fn avg_pool_backward(
    op: &'static str,
    (dy, l): View,
    win: &Windows,
    area: Option<usize>,
    input_shape: &[usize],
) -> Result<CpuStorage> {
    let g = Pooling::new(win, input_shape);
    with_float!(op, dy.dtype(), T => {
        let dy = layout_data(dy.slice::<T>(op)?, l);
        Ok(match area {
            Some(area) => {
                let area = T::from_usize(area);
                avg_pool_backward_typed::<T>(&dy, input_shape, &g, |_, _| area)
            }
            None => avg_pool_backward_typed::<T>(&dy, input_shape, &g, window_area),
        })
    })
}

/// Max pooling of every plane of `data` (contiguous `s` = `[N, C, H, W]`): the maxima, and their
/// indices (flat, in the maxima's order) when `with_indices` (a pass that records no
/// gradient needs none).
///
/// The maxima are separable: each input row is reduced over every window's columns, then
/// each output pixel takes the largest of its window's row maxima. Both passes run tap by
/// tap across all windows, so neighbouring outputs are independent and nothing branches on
/// the data (a scan of each window in turn, branching on each comparison, mispredicted on
/// random data and took 45 ms for [16, 64, 112, 112]). The index is then looked up in
/// row-major order, which gives PyTorch's rule (start at -inf with the window's first pixel,
/// take a strictly greater value or any NaN): the first pixel equal to the maximum, or the
/// last NaN when the maximum is NaN.
fn max_pool_typed<T: Float>(
    data: &[T],
    s: &[usize],
    g: &Pooling,
    with_indices: bool,
) -> (CpuStorage, Option<CpuStorage>) {
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
                for (b, &(c0, c1)) in best.iter_mut().zip(g.cols) {
                    *b = nan_max(*b, row[(c0 + t).min(c1 - 1)]);
                }
            }
        }
        for (out, &(r0, r1)) in v_out.chunks_exact_mut(wo).zip(g.rows) {
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
    let idx = with_indices.then(|| i64::into_storage(idx));
    (T::into_storage(vals), idx)
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
fn avg_pool_typed<T: Float>(
    data: &[T],
    s: &[usize],
    g: &Pooling,
    divisor: impl Fn(Window, Window) -> T + Sync,
) -> CpuStorage {
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
    T::into_storage(out)
}

/// The adjoint of [`avg_pool_typed`]: each window's gradient, divided by its divisor, is
/// added to every pixel of the window. One task per input plane.
fn avg_pool_backward_typed<T: Float>(
    dy: &[T],
    input_shape: &[usize],
    g: &Pooling,
    divisor: impl Fn(Window, Window) -> T + Sync,
) -> CpuStorage {
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
    T::into_storage(dx)
}

/// The adjoint of [`max_pool_typed`]: each gradient of `dy` (the planes' outputs in
/// row-major order, as `idx`) is added to the input pixel its index names, which must lie
/// in its window (an index from elsewhere is refused: the GPU's gather would not find it).
/// One task per input plane, adding in row-major output order.
fn max_pool_backward_typed<T: Float>(
    op: &'static str,
    dy: &[T],
    idx: &[i64],
    g: &Pooling,
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
                    return Err(Error::OutsideWindow {
                        op,
                        index: i,
                        position: plane * po + out,
                    });
                }
                dx[i as usize] += d;
            }
            Ok(())
        })?;
    Ok(dx)
}

/// Number of pixels in a window: the divisor of adaptive average pooling.
fn window_area<T: Float>(rows: Window, cols: Window) -> T {
    T::from_usize((rows.1 - rows.0) * (cols.1 - cols.0))
}
