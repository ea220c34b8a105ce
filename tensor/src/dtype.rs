//! Element types. The engine computes in `f32`; `f64` computes too, for finite-difference
//! gradient checks (PyTorch's `gradcheck` runs on double tensors for the same reason: a
//! central difference in f32 has only three or four digits left). `f16` and `bf16` (from the
//! `half` crate) are storage formats that halve memory and convert to and from `f32` exactly
//! as PyTorch does (round to nearest even); `i64` holds indices (embedding lookups, argmax,
//! max-pool indices), as PyTorch's `LongTensor` does.
use std::fmt;

/// The element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F64,
    F16,
    BF16,
    I64,
}

impl DType {
    /// Bytes per element.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::F64 | DType::I64 => 8,
        }
    }

    /// The name PyTorch and safetensors use for this type (`F32`, `F64`, `F16`, `BF16`, `I64`).
    pub fn as_str(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::I64 => "i64",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Runs `$body` with `$T` bound to the Rust element type of `$dtype`, for ops that only move
/// elements (select, gather, cat, pad) and so work on every dtype alike.
macro_rules! with_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::DType::F16 => {
                type $T = half::f16;
                $body
            }
            $crate::DType::BF16 => {
                type $T = half::bf16;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
        }
    };
}

/// Runs `$body` with `$T` bound to `f32` or `f64` (a [`crate::Float`]) as `$dtype` says, for
/// ops that compute; any other dtype is an [`crate::Error::DType`] naming `$op` (`f32` is
/// what it expects: the dtype a model computes in). `$body` is a `Result`.
macro_rules! with_float {
    ($op:expr, $dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            got => Err($crate::Error::DType {
                op: $op,
                expected: $crate::DType::F32,
                got,
            }),
        }
    };
}
