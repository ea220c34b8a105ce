//! Errors of the tensor crate. Every error names the op that refused its input and carries
//! the data of the refusal (the shapes, the index and the size it broke, the devices), so
//! that a caller can match on it and a message such as
//! `matmul: lhs [4, 3] and rhs [5, 2] do not agree on the inner dimension` is enough to find the bug without a debugger.
//!
//! The one wrapped error, [`Error::Cuda`], displays the op only and returns the kernel
//! crate's error as its `source()`, so that a chain printed one line per source repeats
//! nothing (the convention of every lesson6 crate).
use crate::{DType, Device, PadMode};
use std::fmt;

/// What went wrong, and in which op.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// Shapes that cannot be broadcast together.
    Broadcast {
        op: &'static str,
        lhs: Vec<usize>,
        rhs: Vec<usize>,
    },
    /// `elements` values that do not fill `shape` (from_vec, reshape, to_scalar).
    ElementCount {
        op: &'static str,
        shape: Vec<usize>,
        elements: usize,
    },
    /// A dimension (or a position to insert one) out of range for `shape`.
    Dim {
        op: &'static str,
        dim: usize,
        shape: Vec<usize>,
    },
    /// The range `start..end` of dimension `dim` does not lie within `shape`.
    Range {
        op: &'static str,
        start: usize,
        end: usize,
        dim: usize,
        shape: Vec<usize>,
    },
    /// The value `index` at `position` of an index tensor is not in `0..size`, the size of
    /// dimension `dim` of the tensor indexed.
    IndexOutOfRange {
        op: &'static str,
        index: i64,
        position: usize,
        dim: usize,
        size: usize,
    },
    /// The code at `[row, table]` of an embedding lookup is not in `0..rows`.
    CodeOutOfRange {
        op: &'static str,
        code: i64,
        row: usize,
        table: usize,
        rows: usize,
    },
    /// The max pooling index at `position` of the indices names a pixel outside its window.
    OutsideWindow {
        op: &'static str,
        index: i64,
        position: usize,
    },
    /// An op that needs one dtype was given another.
    DType {
        op: &'static str,
        expected: DType,
        got: DType,
    },
    /// Operands on two devices.
    DeviceMismatch {
        op: &'static str,
        lhs: Device,
        rhs: Device,
    },
    /// What `device` does not run: the op (`dtype` None), or tensors of `dtype` (a GPU holds
    /// f32 and i64 only).
    Unsupported {
        op: &'static str,
        device: Device,
        dtype: Option<DType>,
    },
    /// A CUDA call or kernel launch failed; the kernel crate's error is the source.
    Cuda {
        op: &'static str,
        source: kernels::Error,
    },
    /// A GPU allocation of `bytes` failed; `device_bytes` is the GPU's memory, where known.
    OutOfMemory {
        op: &'static str,
        bytes: usize,
        device_bytes: Option<usize>,
    },
    /// Shapes that break one of the op's rules: the shapes involved, in the order the rule
    /// names them, and the rule.
    Shape {
        op: &'static str,
        shapes: Vec<Vec<usize>>,
        expected: &'static str,
    },
    /// A per-channel tensor (`name`: a weight, a bias, a running statistic) that is not
    /// `[channels]`.
    Channels {
        op: &'static str,
        name: &'static str,
        shape: Vec<usize>,
        channels: usize,
    },
    /// Matrix operands whose inner dimensions differ (`[.., M, K]` times `[.., K, N]`).
    InnerDim {
        op: &'static str,
        lhs: Vec<usize>,
        rhs: Vec<usize>,
    },
    /// Shapes that cannot be joined along `dim`: of several ranks, or of other sizes
    /// outside `dim`.
    Cat {
        op: &'static str,
        dim: usize,
        shapes: Vec<Vec<usize>>,
    },
    /// An input of `size` that a kernel of `kernel` does not fit in, even padded by `padding`.
    KernelSize {
        op: &'static str,
        size: usize,
        padding: usize,
        kernel: usize,
    },
    /// A padding of `(lo, hi)` that `mode` cannot fill dimension `dim` of `shape` with.
    Padding {
        op: &'static str,
        mode: PadMode,
        lo: usize,
        hi: usize,
        dim: usize,
        shape: Vec<usize>,
    },
    /// A scalar argument out of its range (dropout's p, a stride, a kernel size, ...).
    Argument {
        op: &'static str,
        name: &'static str,
        value: f64,
        expected: &'static str,
    },
    /// A pair of bounds `[lo, hi]` that is empty or NaN (clamp, uniform).
    Bounds { op: &'static str, lo: f64, hi: f64 },
    /// A strided view where a contiguous one is needed.
    NotContiguous {
        op: &'static str,
        shape: Vec<usize>,
        strides: Vec<usize>,
    },
    /// A device name that is not `cpu`, `cuda` or `cuda:N`.
    DeviceName { name: String },
    /// A broken invariant of this crate (a bug here, not in the caller's input).
    Internal {
        op: &'static str,
        what: &'static str,
    },
}

/// Result of every fallible tensor function.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A [`Error::Shape`] of `shapes`, in the order `expected` names them.
    pub(crate) fn shapes(op: &'static str, shapes: &[&[usize]], expected: &'static str) -> Self {
        Error::Shape {
            op,
            shapes: shapes.iter().map(|s| s.to_vec()).collect(),
            expected,
        }
    }

    /// A [`Error::Argument`] for `value`.
    pub(crate) fn argument(
        op: &'static str,
        name: &'static str,
        value: impl Into<f64>,
        expected: &'static str,
    ) -> Self {
        Error::Argument {
            op,
            name,
            value: value.into(),
            expected,
        }
    }

    /// The name of the op that produced this error.
    pub fn op(&self) -> &'static str {
        match self {
            Error::Broadcast { op, .. }
            | Error::ElementCount { op, .. }
            | Error::Dim { op, .. }
            | Error::Range { op, .. }
            | Error::IndexOutOfRange { op, .. }
            | Error::CodeOutOfRange { op, .. }
            | Error::OutsideWindow { op, .. }
            | Error::DType { op, .. }
            | Error::DeviceMismatch { op, .. }
            | Error::Unsupported { op, .. }
            | Error::Cuda { op, .. }
            | Error::OutOfMemory { op, .. }
            | Error::Shape { op, .. }
            | Error::Channels { op, .. }
            | Error::Cat { op, .. }
            | Error::InnerDim { op, .. }
            | Error::KernelSize { op, .. }
            | Error::Padding { op, .. }
            | Error::Argument { op, .. }
            | Error::Bounds { op, .. }
            | Error::NotContiguous { op, .. }
            | Error::Internal { op, .. } => op,
            Error::DeviceName { .. } => "device",
        }
    }
}

/// `[2, 3]`, `[2, 3] and [4]`, `[2], [3] and [4]`.
fn list(shapes: &[Vec<usize>]) -> String {
    let each: Vec<String> = shapes.iter().map(|s| format!("{s:?}")).collect();
    match each.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => each.join(""),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = self.op();
        match self {
            Error::Broadcast { lhs, rhs, .. } => {
                write!(
                    f,
                    "{op}: shapes {lhs:?} and {rhs:?} cannot be broadcast together"
                )
            }
            Error::ElementCount {
                shape, elements, ..
            } => write!(
                f,
                "{op}: {elements} elements cannot fill shape {shape:?} ({} elements)",
                shape.iter().product::<usize>()
            ),
            Error::Dim { dim, shape, .. } => write!(
                f,
                "{op}: dimension {dim} is out of range for a tensor of shape {shape:?} (rank {})",
                shape.len()
            ),
            Error::Range {
                start,
                end,
                dim,
                shape,
                ..
            } => write!(
                f,
                "{op}: range {start}..{end} of dimension {dim} is out of bounds for shape {shape:?}"
            ),
            Error::IndexOutOfRange {
                index,
                position,
                dim,
                size,
                ..
            } => write!(
                f,
                "{op}: index {index} (at position {position}) is out of range for dimension \
                 {dim} of size {size}"
            ),
            Error::CodeOutOfRange {
                code,
                row,
                table,
                rows,
                ..
            } => write!(
                f,
                "{op}: code {code} at [{row}, {table}] is out of range for table {table} of \
                 {rows} rows"
            ),
            Error::OutsideWindow {
                index, position, ..
            } => write!(
                f,
                "{op}: index {index} (output {position}) is not in its pooling window"
            ),
            Error::DType { expected, got, .. } => write!(
                f,
                "{op}: expected a {expected} tensor, got {got} (convert it with to_dtype first)"
            ),
            Error::DeviceMismatch { lhs, rhs, .. } => write!(
                f,
                "{op}: operands on {lhs} and {rhs}: move them to one device with to_device"
            ),
            Error::Unsupported {
                device,
                dtype: None,
                ..
            } => write!(
                f,
                "{op}: has no implementation on {device} yet (to_device(Device::Cpu) moves \
                 the tensor to the host)"
            ),
            Error::Unsupported {
                device,
                dtype: Some(dtype),
                ..
            } => write!(
                f,
                "{op}: {device} holds f32 and i64 tensors, not {dtype}: convert with \
                 to_dtype on the host"
            ),
            Error::Cuda { .. } => write!(f, "{op}: a CUDA error"),
            Error::OutOfMemory {
                bytes,
                device_bytes,
                ..
            } => {
                let gib = |b: usize| b as f64 / (1u64 << 30) as f64;
                write!(
                    f,
                    "{op}: out of GPU memory for {bytes} bytes ({:.2} GiB",
                    gib(*bytes)
                )?;
                if let Some(total) = device_bytes {
                    write!(f, "; the device has {:.2} GiB", gib(*total))?;
                }
                write!(
                    f,
                    "), with the freed buffers kept for reuse already released: a smaller \
                     batch or image size needs less"
                )
            }
            Error::Shape {
                shapes, expected, ..
            } => write!(
                f,
                "{op}: shape{} {} do{} not fit: expected {expected}",
                if shapes.len() == 1 { "" } else { "s" },
                list(shapes),
                if shapes.len() == 1 { "es" } else { "" },
            ),
            Error::Channels {
                name,
                shape,
                channels,
                ..
            } => write!(f, "{op}: {name} {shape:?} should have shape [{channels}]"),
            Error::InnerDim { lhs, rhs, .. } => write!(
                f,
                "{op}: lhs {lhs:?} and rhs {rhs:?} do not agree on the inner dimension"
            ),
            Error::Cat { dim, shapes, .. } => write!(
                f,
                "{op}: shapes {} must have the same rank and sizes outside dimension {dim}",
                list(shapes)
            ),
            Error::KernelSize {
                size,
                padding,
                kernel,
                ..
            } => write!(
                f,
                "{op}: input size {size} with padding {padding} is smaller than the kernel \
                 size {kernel}"
            ),
            Error::Padding {
                mode,
                lo,
                hi,
                dim,
                shape,
                ..
            } => {
                let why = match mode {
                    PadMode::Replicate => "needs a non-empty",
                    _ => "must be smaller than",
                };
                write!(
                    f,
                    "{op}: {mode:?} padding ({lo}, {hi}) {why} dimension {dim} of size {} \
                     (input shape {shape:?})",
                    shape[*dim]
                )
            }
            Error::Argument {
                name,
                value,
                expected,
                ..
            } => write!(f, "{op}: {name} is {value}, expected {expected}"),
            Error::Bounds { lo, hi, .. } => {
                write!(f, "{op}: bounds [{lo}, {hi}] are out of order or NaN")
            }
            Error::NotContiguous { shape, strides, .. } => write!(
                f,
                "{op}: a view of shape {shape:?} with strides {strides:?} is not contiguous; \
                 call contiguous() first"
            ),
            Error::DeviceName { name } => {
                write!(f, "device: {name:?} is not cpu, cuda or cuda:N")
            }
            Error::Internal { what, .. } => write!(f, "{op}: {what} (a bug in lesson6)"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Cuda { source, .. } => Some(source),
            _ => None,
        }
    }
}
