//! Parameters that the front end hands both backends: plain data that `cpu/` and `cuda/`
//! read alike, kept here so that neither imports the other or the front end.

/// What a sum over the r reduced elements is divided by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Divide {
    /// Nothing: a sum.
    No,
    /// r: a mean.
    ByCount,
    /// r - 1: an unbiased variance's sum of squares.
    ByCountLessOne,
}

impl Divide {
    /// The divisor for a reduction over `r` elements.
    pub(crate) fn divisor(self, r: usize) -> f64 {
        match self {
            Divide::No => 1.0,
            Divide::ByCount => r as f64,
            Divide::ByCountLessOne => r as f64 - 1.0,
        }
    }
}

/// A batch norm layer's running statistics, updated in place by a training forward as
/// PyTorch does: `running = (1 - momentum) running + momentum batch`, with the batch's
/// unbiased variance (divided by n - 1) in `var`.
pub(crate) struct Running<'a, S> {
    pub mean: &'a mut S,
    pub var: &'a mut S,
    pub momentum: f32,
}

/// One SGD-with-momentum step: `buf ← first ? g : momentum · buf + g`,
/// `p ← p · decay - lr · buf` (PyTorch's SGD).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdStep {
    pub decay: f32,
    pub lr: f32,
    pub momentum: f32,
    pub first: bool,
}

/// One parameter's buffers for an AdamW step, all updated in place but the gradient (a
/// storage and its layout).
pub(crate) struct AdamBuffers<'a, S> {
    pub p: &'a mut S,
    pub g: (&'a S, &'a crate::Layout),
    pub m: &'a mut S,
    pub v: &'a mut S,
    pub step: kernels::AdamStep,
}

/// Padding's row and column maps: the input row (column) each output row (column) copies,
/// or `None` where the output is zero.
pub(crate) type PadMaps<'a> = (&'a [Option<usize>], &'a [Option<usize>]);
