//! Errors of the tensor crate. Every error names the op that refused its input and, where
//! shapes are involved, the shapes, so that a message such as
//! `matmul: lhs [4, 3] and rhs [5, 2] do not agree on the inner dimension` is enough to find
//! the bug without a debugger.
use crate::DType;
use std::fmt;

/// What went wrong, and in which op.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// Shapes that cannot be combined (broadcasting, matmul, cat, reshape, ...).
    Shape { op: &'static str, msg: String },
    /// An op that needs one dtype was given another.
    DType {
        op: &'static str,
        expected: DType,
        got: DType,
    },
    /// An index (a dimension, a position along one, or a value in an index tensor) is out of range.
    Index { op: &'static str, msg: String },
    /// Any other invalid argument (a negative probability, a zero stride, ...).
    Invalid { op: &'static str, msg: String },
    /// Tensors on different devices, an op the GPU does not run, or a CUDA failure.
    Device { op: &'static str, msg: String },
}

/// Result of every fallible tensor function.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn shape(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Shape {
            op,
            msg: msg.into(),
        }
    }
    pub(crate) fn index(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Index {
            op,
            msg: msg.into(),
        }
    }
    pub(crate) fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Invalid {
            op,
            msg: msg.into(),
        }
    }
    pub(crate) fn device(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Device {
            op,
            msg: msg.into(),
        }
    }
    /// The name of the op that produced this error.
    pub fn op(&self) -> &'static str {
        match self {
            Error::Shape { op, .. }
            | Error::DType { op, .. }
            | Error::Index { op, .. }
            | Error::Invalid { op, .. }
            | Error::Device { op, .. } => op,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape { op, msg }
            | Error::Index { op, msg }
            | Error::Invalid { op, msg }
            | Error::Device { op, msg } => {
                write!(f, "{op}: {msg}")
            }
            Error::DType { op, expected, got } => write!(
                f,
                "{op}: expected a {expected} tensor, got {got} (convert it with to_dtype first)"
            ),
        }
    }
}

impl std::error::Error for Error {}
