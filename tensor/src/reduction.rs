//! What a reduction divides its sum by: the one parameter of `sum` and `mean` that both
//! backends read (`cpu/reduce.rs`, `cuda/reduce.rs`).

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
