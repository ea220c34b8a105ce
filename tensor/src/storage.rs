//! Where a tensor's elements live. A storage is shared (behind an `Arc`) by every view of it:
//! a host vector of one element type, or a buffer on a GPU ([`crate::cuda::CudaStorage`]).
use crate::cuda::CudaStorage;
use crate::DType;
use half::{bf16, f16};

/// A host buffer of one element type, or a GPU buffer.
#[derive(Debug)]
pub enum Storage {
    F32(Vec<f32>),
    F64(Vec<f64>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    I64(Vec<i64>),
    Cuda(CudaStorage),
}

/// Gives f32 buffers back to the cache in [`crate::buffer_cache`] when the last tensor sharing them
/// is dropped, for the next op's output. f64 buffers are not cached: f64 is for gradient
/// checks on small tensors, where page faults and memsets do not matter.
impl Drop for Storage {
    fn drop(&mut self) {
        if let Storage::F32(v) = self {
            crate::buffer_cache::recycle(std::mem::take(v));
        }
    }
}

impl Storage {
    pub fn dtype(&self) -> DType {
        match self {
            Storage::F32(_) => DType::F32,
            Storage::F64(_) => DType::F64,
            Storage::F16(_) => DType::F16,
            Storage::BF16(_) => DType::BF16,
            Storage::I64(_) => DType::I64,
            Storage::Cuda(c) => c.dtype(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Storage::F32(v) => v.len(),
            Storage::F64(v) => v.len(),
            Storage::F16(v) => v.len(),
            Storage::BF16(v) => v.len(),
            Storage::I64(v) => v.len(),
            Storage::Cuda(c) => c.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A Rust type that can be a tensor element: it knows its [`DType`] and its storage variant.
pub trait Element: Copy + Send + Sync + Default + std::fmt::Debug + 'static {
    const DTYPE: DType;
    fn slice(storage: &Storage) -> Option<&[Self]>;
    fn into_storage(data: Vec<Self>) -> Storage;
    /// Moves the buffer out of a storage of this type, leaving it empty.
    fn take(storage: &mut Storage) -> Option<Vec<Self>>;
}

macro_rules! element {
    ($t:ty, $variant:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn slice(storage: &Storage) -> Option<&[Self]> {
                match storage {
                    Storage::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn into_storage(data: Vec<Self>) -> Storage {
                Storage::$variant(data)
            }
            fn take(storage: &mut Storage) -> Option<Vec<Self>> {
                match storage {
                    Storage::$variant(v) => Some(std::mem::take(v)),
                    _ => None,
                }
            }
        }
    };
}
element!(f32, F32);
element!(f64, F64);
element!(f16, F16);
element!(bf16, BF16);
element!(i64, I64);
