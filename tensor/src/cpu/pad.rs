//! Padding on the host, through the row and column maps the front end (`ops/pad.rs`) built:
//! each output position copies the input position its row and column map to, or is zero.
//! Planes (all leading dimensions together) run in parallel, one task per group of whole
//! planes; the backward pass sums each input plane in one task: no atomics. Padding moves
//! elements of any dtype; its backward pass adds, in f32 or f64.
use super::{layout_data, CpuStorage, Element, View};
use crate::params::PadMaps;
use crate::strided::min_items_per_task;
use crate::{Float, Result};
use rayon::prelude::*;

/// One padding as the loops read it: the input image size and the row and column maps.
struct Padding<'a> {
    h: usize,
    w: usize,
    rows: &'a [Option<usize>],
    cols: &'a [Option<usize>],
}

impl<'a> Padding<'a> {
    /// The maps over images of `shape` `[..., H, W]`.
    fn new(shape: &[usize], (rows, cols): (&'a [Option<usize>], &'a [Option<usize>])) -> Self {
        let r = shape.len();
        Padding {
            h: shape[r - 2],
            w: shape[r - 1],
            rows,
            cols,
        }
    }

    fn in_plane(&self) -> usize {
        self.h * self.w
    }

    fn out_plane(&self) -> usize {
        self.rows.len() * self.cols.len()
    }

    fn min_planes(&self) -> usize {
        min_items_per_task(self.out_plane() + self.in_plane())
    }
}

/// `x` `[..., H, W]` padded through the row and column maps: `[..., rows, cols]`.
pub(crate) fn pad((x, l): View, maps: PadMaps) -> Result<CpuStorage> {
    const OP: &str = "pad2d";
    let shape = l.shape();
    let planes = shape[..shape.len() - 2].iter().product();
    let g = Padding::new(shape, maps);
    with_dtype!(x.dtype(), T => {
        Ok(pad_typed::<T>(&layout_data(x.slice::<T>(OP)?, l), planes, &g))
    })
}

/// The adjoint of [`pad`]: `dy` added back onto the positions of `input_shape` it copied.
pub(crate) fn pad_backward(
    (dy, l): View,
    maps: PadMaps,
    input_shape: &[usize],
) -> Result<CpuStorage> {
    const OP: &str = "pad2d_backward";
    let g = Padding::new(input_shape, maps);
    with_float!(OP, dy.dtype(), T => {
        let dy = layout_data(dy.slice::<T>(OP)?, l);
        Ok(pad_backward_typed::<T>(&dy, input_shape, &g))
    })
}

/// [`pad`] in `T`: each output plane is written by one task.
fn pad_typed<T: Element>(x: &[T], planes: usize, g: &Padding) -> CpuStorage {
    let (pi, po, wo) = (g.in_plane(), g.out_plane(), g.cols.len());
    let mut out = vec![T::default(); planes * po];
    if po > 0 {
        out.par_chunks_mut(po)
            .enumerate()
            .with_min_len(g.min_planes())
            .for_each(|(plane, out)| {
                let x = &x[plane * pi..(plane + 1) * pi];
                for (out_row, src_row) in out.chunks_exact_mut(wo).zip(g.rows) {
                    // A zero row stays at its default (zero); otherwise map every column.
                    let Some(r) = *src_row else { continue };
                    let src = &x[r * g.w..(r + 1) * g.w];
                    for (o, c) in out_row.iter_mut().zip(g.cols) {
                        if let Some(c) = *c {
                            *o = src[c];
                        }
                    }
                }
            });
    }
    T::into_storage(out)
}

/// [`pad_backward`] in `T`: each input plane is summed by one task.
fn pad_backward_typed<T: Float>(dy: &[T], input_shape: &[usize], g: &Padding) -> CpuStorage {
    let (pi, po, wo) = (g.in_plane(), g.out_plane(), g.cols.len());
    let mut dx = vec![T::ZERO; input_shape.iter().product()];
    if pi > 0 {
        dx.par_chunks_mut(pi)
            .enumerate()
            .with_min_len(g.min_planes())
            .for_each(|(plane, dx)| {
                let dy = &dy[plane * po..(plane + 1) * po];
                for (dy_row, src_row) in dy.chunks_exact(wo).zip(g.rows) {
                    let Some(r) = *src_row else { continue };
                    let dst = &mut dx[r * g.w..(r + 1) * g.w];
                    for (&d, c) in dy_row.iter().zip(g.cols) {
                        if let Some(c) = *c {
                            dst[c] += d;
                        }
                    }
                }
            });
    }
    T::into_storage(dx)
}
