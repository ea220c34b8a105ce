//! Errors of the autograd crate: a tensor error from inside an op or a backward rule, or a
//! misuse of the tape itself. Both name the op.
use std::fmt;

/// What went wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// An op (forward, or its backward rule) refused its tensors.
    Tensor(tensor::Error),
    /// The tape was misused: vars from two tapes in one op, backward from a non-scalar without
    /// a seed gradient, backward twice, a seed of the wrong shape.
    Tape { op: &'static str, msg: String },
}

/// Result of every fallible autograd function.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn tape(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Tape {
            op,
            msg: msg.into(),
        }
    }
}

impl From<tensor::Error> for Error {
    fn from(e: tensor::Error) -> Self {
        Error::Tensor(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Tensor(e) => e.fmt(f),
            Error::Tape { op, msg } => write!(f, "{op}: {msg}"),
        }
    }
}

impl std::error::Error for Error {}
