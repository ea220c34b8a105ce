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
//! copied (reflected and replicated edges receive several). Padding moves elements of any
//! dtype (f32 on a GPU); its backward pass adds, in f32 or f64. The maps are built here and
//! read by the host (`cpu/pad.rs`) or the GPU (`cuda/pad.rs`).
use crate::params::PadMaps;
use crate::{Error, Result, Tensor};

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
        PadMode::Zeros => false,
        PadMode::Reflect => lo >= n || hi >= n,
        PadMode::Replicate => (lo > 0 || hi > 0) && n == 0,
    };
    if refused {
        return Err(Error::Padding {
            op,
            mode,
            lo,
            hi,
            dim,
            shape: shape.to_vec(),
        });
    }
    Ok((0..lo + n + hi).map(|o| source(mode, o, lo, n)).collect())
}

/// The checked geometry of one padding: the row and column maps, and the output shape.
struct Geometry {
    rows: Vec<Option<usize>>,
    cols: Vec<Option<usize>>,
    out_shape: Vec<usize>,
}

impl Geometry {
    fn new(op: &'static str, shape: &[usize], pads: [usize; 4], mode: PadMode) -> Result<Self> {
        let rank = shape.len();
        if rank < 2 {
            return Err(Error::shapes(
                op,
                &[shape],
                "at least 2 dimensions (..., H, W)",
            ));
        }
        let [left, right, top, bottom] = pads;
        let rows = axis_map(op, mode, shape, rank - 2, top, bottom)?;
        let cols = axis_map(op, mode, shape, rank - 1, left, right)?;
        let mut out_shape = shape.to_vec();
        out_shape[rank - 2] = rows.len();
        out_shape[rank - 1] = cols.len();
        Ok(Geometry {
            rows,
            cols,
            out_shape,
        })
    }

    /// The row and column maps, as the backends take them.
    fn maps(&self) -> PadMaps<'_> {
        (&self.rows, &self.cols)
    }
}

impl Tensor {
    /// Pads the last two dimensions of `self` (rank >= 2) by `pads` = `[left, right, top,
    /// bottom]` (the order of PyTorch's `F.pad`), filling as `mode` says. Any dtype.
    pub fn pad2d(&self, pads: [usize; 4], mode: PadMode) -> Result<Tensor> {
        const OP: &str = "pad2d";
        let g = Geometry::new(OP, self.shape(), pads, mode)?;
        let storage = self.storage().pad(self.layout(), g.maps())?;
        Ok(Tensor::from_storage(storage, &g.out_shape))
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
            return Err(Error::shapes(
                OP,
                &[self.shape(), input_shape, &g.out_shape],
                "grad_output of the padded input's shape (the last)",
            ));
        }
        self.check_float(OP)?;
        let storage = self
            .storage()
            .pad_backward(self.layout(), g.maps(), input_shape)?;
        Ok(Tensor::from_storage(storage, input_shape))
    }
}
