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
