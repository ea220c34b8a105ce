//! Padding of the last two dimensions (an image's height and width), as PyTorch's
//! `F.pad(x, (left, right, top, bottom), mode)`, and its adjoint.
//!
//! Every padded position either copies one source position or is zero, and the choice
//! depends on the row and the column separately, so each axis gets a map from output
//! coordinate to source coordinate (`None` for zero), computed once:
//! - `Zeros`: outside the image is 0;
//! - `Reflect` (PyTorch 'reflect'): mirror about the edge pixel, which is not repeated:
//!   `[1, 2, 3]` padded by 2 is `[3, 2, 1, 2, 3, 2, 1]`; each pad must be smaller than its
//!   dimension, as PyTorch requires;
//! - `Replicate`: the edge pixel is repeated: `[1, 1, 1, 2, 3, 3, 3]`.
//!
//! The backward pass adds each padded position's gradient onto the source position it
//! copied (reflected and replicated edges receive several). Planes (all leading dimensions
//! together) run in parallel, one task per group of whole planes: no atomics. Padding moves
//! elements of any dtype; its backward pass adds, in f32 or f64.
use crate::cpu::Element;
use crate::strided::min_items_per_task;
use crate::{Error, Float, Result, Tensor};
use rayon::prelude::*;

/// How [`Tensor::pad2d`] fills positions outside the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadMode {
    /// Zeros (PyTorch 'constant' with value 0).
    Zeros,
    /// Mirror about the edge, the edge itself not repeated (PyTorch 'reflect').
    Reflect,
    /// Repeat the edge (PyTorch 'replicate').
    Replicate,
}

/// The source coordinate of output coordinate `o` along an axis of size `n` padded by `lo`
/// before (and by at most `n - 1` after, for `Reflect`, as checked by [`axis_map`]).
fn source(mode: PadMode, o: usize, lo: usize, n: usize) -> Option<usize> {
    if o < lo {
        match mode {
            PadMode::Zeros => None,
            PadMode::Reflect => Some(lo - o),
            PadMode::Replicate => Some(0),
        }
    } else if o - lo < n {
        Some(o - lo)
    } else {
        match mode {
            PadMode::Zeros => None,
            PadMode::Reflect => Some(2 * (n - 1) - (o - lo)),
            PadMode::Replicate => Some(n - 1),
        }
    }
}

/// Output coordinate -> source coordinate along one axis (`dim` of `shape`) padded by `lo`
/// and `hi`, or an error where the mode cannot fill that padding.
fn axis_map(
    op: &'static str,
    mode: PadMode,
    shape: &[usize],
    dim: usize,
    lo: usize,
    hi: usize,
) -> Result<Vec<Option<usize>>> {
    let n = shape[dim];
    let refused = match mode {
        PadMode::Zeros => None,
        PadMode::Reflect if lo >= n || hi >= n => Some("must be smaller than"),
        PadMode::Replicate if (lo > 0 || hi > 0) && n == 0 => Some("needs a non-empty"),
        _ => None,
    };
    if let Some(why) = refused {
        return Err(Error::invalid(
            op,
            format!(
                "{mode:?} padding ({lo}, {hi}) {why} dimension {dim} of size {n} \
                 (input shape {shape:?})"
            ),
        ));
    }
    Ok((0..lo + n + hi).map(|o| source(mode, o, lo, n)).collect())
}

/// The checked geometry of one padding: input image size, output shape, and
/// the row and column maps.
struct Geometry {
    h: usize,
    w: usize,
    rows: Vec<Option<usize>>,
    cols: Vec<Option<usize>>,
    out_shape: Vec<usize>,
}

impl Geometry {
    fn new(op: &'static str, shape: &[usize], pads: [usize; 4], mode: PadMode) -> Result<Self> {
        let rank = shape.len();
        if rank < 2 {
            return Err(Error::shape(
                op,
                format!("needs at least 2 dimensions (..., H, W), got shape {shape:?}"),
            ));
        }
        let [left, right, top, bottom] = pads;
        let rows = axis_map(op, mode, shape, rank - 2, top, bottom)?;
        let cols = axis_map(op, mode, shape, rank - 1, left, right)?;
        let mut out_shape = shape.to_vec();
        out_shape[rank - 2] = rows.len();
        out_shape[rank - 1] = cols.len();
        Ok(Geometry {
            h: shape[rank - 2],
            w: shape[rank - 1],
            rows,
            cols,
            out_shape,
        })
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

fn pad_typed<T: Element>(op: &'static str, t: &Tensor, g: &Geometry) -> Result<Tensor> {
    let x = t.contiguous_data::<T>(op)?;
    let (pi, po, wo) = (g.in_plane(), g.out_plane(), g.cols.len());
    let mut out = vec![T::default(); g.out_shape.iter().product()];
    if po > 0 {
        out.par_chunks_mut(po)
            .enumerate()
            .with_min_len(g.min_planes())
            .for_each(|(plane, out)| {
                let x = &x[plane * pi..(plane + 1) * pi];
                for (out_row, src_row) in out.chunks_exact_mut(wo).zip(&g.rows) {
                    // A zero row stays at its default (zero); otherwise map every column.
                    let Some(r) = *src_row else { continue };
                    let src = &x[r * g.w..(r + 1) * g.w];
                    for (o, c) in out_row.iter_mut().zip(&g.cols) {
                        if let Some(c) = *c {
                            *o = src[c];
                        }
                    }
                }
            });
    }
    Ok(Tensor::from_op(out, &g.out_shape))
}

/// [`Tensor::pad2d_backward`] in `T`: each input plane is summed by one task.
fn pad_backward_typed<T: Float>(
    op: &'static str,
    grad: &Tensor,
    input_shape: &[usize],
    g: &Geometry,
) -> Result<Tensor> {
    let dy = grad.contiguous_data::<T>(op)?;
    let (pi, po, wo) = (g.in_plane(), g.out_plane(), g.cols.len());
    let mut dx = vec![T::ZERO; input_shape.iter().product()];
    if pi > 0 {
        dx.par_chunks_mut(pi)
            .enumerate()
            .with_min_len(g.min_planes())
            .for_each(|(plane, dx)| {
                let dy = &dy[plane * po..(plane + 1) * po];
                for (dy_row, src_row) in dy.chunks_exact(wo).zip(&g.rows) {
                    let Some(r) = *src_row else { continue };
                    let dst = &mut dx[r * g.w..(r + 1) * g.w];
                    for (&d, c) in dy_row.iter().zip(&g.cols) {
                        if let Some(c) = *c {
                            dst[c] += d;
                        }
                    }
                }
            });
    }
    Ok(Tensor::from_op(dx, input_shape))
}

impl Tensor {
    /// Pads the last two dimensions of `self` (rank >= 2) by `pads` = `[left, right, top,
    /// bottom]` (the order of PyTorch's `F.pad`), filling as `mode` says. Any dtype.
    pub fn pad2d(&self, pads: [usize; 4], mode: PadMode) -> Result<Tensor> {
        const OP: &str = "pad2d";
        let g = Geometry::new(OP, self.shape(), pads, mode)?;
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self])? {
            let planes = self.shape()[..self.rank() - 2].iter().product();
            let dims = [planes, g.h, g.w];
            return crate::cuda::pad(&gpu, self, dims, (&g.rows, &g.cols), &g.out_shape);
        }
        with_dtype!(self.dtype(), T => pad_typed::<T>(OP, self, &g))
    }

    /// Gradient of [`Tensor::pad2d`] with respect to its input: `self` is the gradient of the
    /// padded tensor; every position's gradient is added onto the input position it copied
    /// (padding with zeros contributes nothing).
    pub fn pad2d_backward(
        &self,
        input_shape: &[usize],
        pads: [usize; 4],
        mode: PadMode,
    ) -> Result<Tensor> {
        const OP: &str = "pad2d_backward";
        let g = Geometry::new(OP, input_shape, pads, mode)?;
        if self.shape() != g.out_shape {
            return Err(Error::shape(
                OP,
                format!(
                    "grad_output {:?} does not match input {input_shape:?} padded by {pads:?}: \
                     expected {:?}",
                    self.shape(),
                    g.out_shape
                ),
            ));
        }
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self])? {
            let planes = input_shape[..input_shape.len() - 2].iter().product();
            let dims = [planes, g.h, g.w];
            let maps = (&g.rows[..], &g.cols[..]);
            return crate::cuda::pad_backward(&gpu, self, dims, maps, input_shape);
        }
        with_float!(OP, self.dtype(), T => pad_backward_typed::<T>(OP, self, input_shape, &g))
    }
}
