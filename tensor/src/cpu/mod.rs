//! The CPU backend: host storage, and each op's CPU code in a file named as the op's GPU
//! launch code in `crate::cuda` (read `cpu/conv.rs` beside `cuda/conv.rs`). Every function
//! here takes storage, the layout of the operand in it and the op's parameters, and returns
//! new storage; none sees a `Tensor`. The front end (`crate::ops`) has checked shapes and
//! dtypes before it calls, and `crate::storage` picks this backend or the GPU's.
mod batch_norm;
mod cat;
mod conv;
mod conv_explicit;
mod conv_matrix;
mod conv_winograd;
mod copy;
mod dropout;
#[cfg(target_arch = "x86_64")]
mod dropout_avx512;
mod elementwise;
mod embeddings_cat;
mod float;
mod index;
mod matmul;
mod optim;
mod pad;
mod pool;
mod reduce;
pub(crate) mod simple_gemm;

pub(crate) use batch_norm::{
    batch_norm, batch_norm_backward, batch_norm_fold, channel_affine, channel_affine_backward,
};
pub(crate) use cat::cat;
pub(crate) use conv::{col2im, conv2d, conv2d_backward_input, conv2d_backward_weight, im2col};
pub(crate) use conv_matrix::conv2d_matrix;
pub(crate) use copy::{contiguous, to_dtype};
pub(crate) use dropout::dropout;
pub(crate) use elementwise::{binary, unary, where_cond};
pub(crate) use embeddings_cat::{embeddings_cat, embeddings_cat_backward};
pub use float::Float;
pub(crate) use index::{gather, index_add, index_select, scatter_add};
pub(crate) use matmul::matmul;
pub(crate) use optim::{adamw_steps, sgd_step};
pub(crate) use pad::{pad, pad_backward};
pub(crate) use pool::{avg_pool, avg_pool_backward, max_pool, max_pool_backward};
pub(crate) use reduce::{arg_extremum, extremum, softmax, sum, var};

use crate::strided::fill_rows;
use crate::{DType, Error, Layout, Result};
use half::{bf16, f16};
use std::borrow::Cow;

/// One tensor's operand as a backend reads it: the storage and the tensor's layout in it.
pub(crate) type View<'a> = (&'a CpuStorage, &'a Layout);

/// A host buffer of one element type.
#[derive(Debug)]
pub enum CpuStorage {
    F32(Vec<f32>),
    F64(Vec<f64>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    I64(Vec<i64>),
}

/// Gives f32 buffers back to the cache in [`crate::buffer_cache`] when the last tensor sharing
/// them is dropped, for the next op's output. f64 buffers are not cached: f64 is for gradient
/// checks on small tensors, where page faults and memsets do not matter.
impl Drop for CpuStorage {
    fn drop(&mut self) {
        if let CpuStorage::F32(v) = self {
            crate::buffer_cache::recycle(std::mem::take(v));
        }
    }
}

impl CpuStorage {
    pub fn dtype(&self) -> DType {
        match self {
            CpuStorage::F32(_) => DType::F32,
            CpuStorage::F64(_) => DType::F64,
            CpuStorage::F16(_) => DType::F16,
            CpuStorage::BF16(_) => DType::BF16,
            CpuStorage::I64(_) => DType::I64,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            CpuStorage::F32(v) => v.len(),
            CpuStorage::F64(v) => v.len(),
            CpuStorage::F16(v) => v.len(),
            CpuStorage::BF16(v) => v.len(),
            CpuStorage::I64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole buffer as `T`, or an error naming `op` when it holds another dtype.
    pub(crate) fn slice<T: Element>(&self, op: &'static str) -> Result<&[T]> {
        T::slice(self).ok_or(Error::DType {
            op,
            expected: T::DTYPE,
            got: self.dtype(),
        })
    }
}

/// A Rust type that can be a tensor element: it knows its [`DType`] and its storage variant.
pub trait Element: Copy + Send + Sync + Default + std::fmt::Debug + 'static {
    const DTYPE: DType;
    fn slice(storage: &CpuStorage) -> Option<&[Self]>;
    fn into_storage(data: Vec<Self>) -> CpuStorage;
    fn slice_mut(storage: &mut CpuStorage) -> Option<&mut [Self]>;
    /// Moves the buffer out of a storage of this type, leaving it empty.
    fn take(storage: &mut CpuStorage) -> Option<Vec<Self>>;
}

macro_rules! element {
    ($t:ty, $variant:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn slice(storage: &CpuStorage) -> Option<&[Self]> {
                match storage {
                    CpuStorage::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn into_storage(data: Vec<Self>) -> CpuStorage {
                CpuStorage::$variant(data)
            }
            fn slice_mut(storage: &mut CpuStorage) -> Option<&mut [Self]> {
                match storage {
                    CpuStorage::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn take(storage: &mut CpuStorage) -> Option<Vec<Self>> {
                match storage {
                    CpuStorage::$variant(v) => Some(std::mem::take(v)),
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

/// The elements `layout` selects from `data` in row-major order: a borrowed slice when the
/// layout is contiguous, a copy otherwise.
pub(crate) fn layout_data<'a, T: Element>(data: &'a [T], layout: &Layout) -> Cow<'a, [T]> {
    if layout.is_contiguous() {
        let start = layout.offset();
        Cow::Borrowed(&data[start..start + layout.elem_count()])
    } else {
        Cow::Owned(gather_strided(data, layout))
    }
}

/// Copies the elements a layout selects into a new row-major vector.
fn gather_strided<T: Element>(data: &[T], layout: &Layout) -> Vec<T> {
    let shape = layout.shape();
    let mut out = vec![T::default(); layout.elem_count()];
    let out_strides = crate::layout::contiguous_strides(shape);
    fill_rows(
        &mut out,
        shape,
        [(&out_strides, 0), (layout.strides(), layout.offset())],
        |row, [_, src], [_, step]| {
            for (i, o) in row.iter_mut().enumerate() {
                *o = data[src + i * step];
            }
        },
    );
    out
}
