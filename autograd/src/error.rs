//! Errors of the autograd crate: a tensor error from inside an op or a backward rule, or a
//! misuse of the tape itself, with the data to say which (the op, the shapes).
//!
//! [`Error::Tensor`] adds nothing to the error it wraps: it displays that error and passes
//! its source on, so that an error chain printed one line per `source()` repeats nothing
//! (the convention of every lesson6 crate).
use std::fmt;
use tensor::DType;

/// What went wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// An op (forward, or its backward rule) refused its tensors.
    Tensor(tensor::Error),
    /// `op` was given vars from two different tapes.
    TwoTapes { op: &'static str },
    /// `backward` from an output of `shape`, not a single value, without a seed gradient.
    NotScalar { shape: Vec<usize> },
    /// A seed gradient that is not of the output's shape and dtype.
    Seed {
        output: (Vec<usize>, DType),
        seed: (Vec<usize>, DType),
    },
    /// `backward` from a value that depends on no tracked parameter.
    Untracked,
    /// `op` (backward, or an op recorded) on a tape that has been through backward.
    Consumed { op: &'static str },
    /// The backward rule of `op` gave a gradient of `grad`'s shape for an input of `input`'s
    /// (a bug in the rule).
    RuleShape {
        op: &'static str,
        grad: Vec<usize>,
        input: Vec<usize>,
    },
    /// gradcheck: element `element` of input `input` (of `shape`), whose analytic gradient
    /// and finite difference differ.
    Gradcheck {
        input: usize,
        shape: Vec<usize>,
        element: usize,
        analytic: f64,
        numeric: f64,
    },
}

/// Result of every fallible autograd function.
pub type Result<T> = std::result::Result<T, Error>;

impl From<tensor::Error> for Error {
    fn from(e: tensor::Error) -> Self {
        Error::Tensor(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Tensor(e) => e.fmt(f),
            Error::TwoTapes { op } => write!(
                f,
                "{op}: its inputs come from two different tapes; every var of one computation \
                 must come from the same tape"
            ),
            Error::NotScalar { shape } => write!(
                f,
                "backward: the output has shape {shape:?}, not a single value; pass the \
                 gradient of the output with backward_with"
            ),
            Error::Seed { output, seed } => write!(
                f,
                "backward: the seed gradient {:?} ({}) does not match the output {:?} ({})",
                seed.0, seed.1, output.0, output.1
            ),
            Error::Untracked => write!(
                f,
                "backward: this value depends on no tracked parameter (was it computed under \
                 no_grad, or from constants only?)"
            ),
            Error::Consumed { op } => write!(
                f,
                "{op}: this tape has already been through backward (its saved tensors are \
                 freed); start a new tape for a new step"
            ),
            Error::RuleShape { op, grad, input } => write!(
                f,
                "{op}: the backward rule gave a gradient of shape {grad:?} for an input of \
                 shape {input:?}"
            ),
            Error::Gradcheck {
                input,
                shape,
                element,
                analytic,
                numeric,
            } => write!(
                f,
                "gradcheck: input {input} (shape {shape:?}), element {element}: analytic \
                 gradient {analytic:.10e}, finite difference {numeric:.10e}"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Tensor(e) => e.source(),
            _ => None,
        }
    }
}
