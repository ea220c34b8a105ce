//! The CUDA backend: GPU storage, and each op's launch code in a file named as the op's CPU
//! code in `crate::cpu` (read `cuda/conv.rs` beside `cpu/conv.rs`). Every function here takes
//! storage, the layout of the operand in it and the op's parameters, and calls the launchers
//! of the `kernels` crate; none sees a `Tensor`. The GPU holds f32 (computation) and i64
//! (indices) buffers.
mod batch_norm;
mod cache;
mod cat;
mod conv;
mod copy;
mod dropout;
mod elementwise;
mod embeddings_cat;
mod index;
mod matmul;
mod optim;
mod pad;
mod pool;
mod reduce;

pub(crate) use batch_norm::{
    batch_norm, batch_norm_backward, batch_norm_fold, channel_affine, channel_affine_backward,
};
pub(crate) use cache::release as release_cached_buffers;
pub(crate) use cat::cat;
pub(crate) use conv::{col2im, conv2d, conv2d_backward_input, conv2d_backward_weight, im2col};
pub(crate) use copy::{contiguous, download, to_dtype, upload};
pub(crate) use dropout::dropout;
pub(crate) use elementwise::{binary, full, unary, where_cond};
pub(crate) use embeddings_cat::{embeddings_cat, embeddings_cat_backward};
pub(crate) use index::{gather, index_add, index_select, scatter_add};
pub(crate) use matmul::matmul;
pub(crate) use optim::{adamw_steps, sgd_step};
pub(crate) use pad::{pad, pad_backward};
pub(crate) use pool::{avg_pool, avg_pool_backward, max_pool, max_pool_backward};
pub(crate) use reduce::{arg_extremum, extremum, softmax, sum, var};

pub use kernels::{set_deterministic, Accumulate, Gpu};

use crate::{DType, Error, Layout, Result};
use kernels::{CudaSlice, CudaView, StridedLayout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One tensor's operand as a backend reads it: the storage and the tensor's layout in it.
pub(crate) type View<'a> = (&'a CudaStorage, &'a Layout);

/// A buffer on one GPU: the device, the elements and their dtype.
pub struct CudaStorage {
    gpu: Arc<Gpu>,
    /// `None` only while being dropped, when the buffer goes back to the cache (cache.rs).
    data: Option<CudaData>,
}

impl Drop for CudaStorage {
    fn drop(&mut self) {
        if let Some(data) = self.data.take() {
            cache::give(&self.gpu, data);
        }
    }
}

/// The element types a GPU tensor can hold.
pub(crate) enum CudaData {
    F32(CudaSlice<f32>),
    I64(CudaSlice<i64>),
}

impl std::fmt::Debug for CudaStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CudaStorage({:?}, {}, {} elements)",
            self.gpu,
            self.dtype(),
            self.len()
        )
    }
}

impl CudaStorage {
    pub fn dtype(&self) -> DType {
        match self.data {
            Some(CudaData::I64(_)) => DType::I64,
            Some(CudaData::F32(_)) | None => DType::F32,
        }
    }

    pub fn len(&self) -> usize {
        match &self.data {
            Some(CudaData::F32(s)) => s.len(),
            Some(CudaData::I64(s)) => s.len(),
            None => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.gpu
    }
}

/// A kernel or driver error as the tensor crate's, naming `op` (the index ops read the
/// value of an index out of range back first: `index.rs`).
pub(crate) fn kernel_error<E: Into<kernels::Error>>(op: &'static str) -> impl Fn(E) -> Error {
    move |e| Error::Cuda {
        op,
        source: e.into(),
    }
}

/// A layout as the kernels read it.
pub(crate) fn kernel_layout(op: &'static str, l: &Layout) -> Result<StridedLayout> {
    StridedLayout::new(l.shape(), l.strides(), l.offset()).map_err(kernel_error(op))
}

static POISON: AtomicBool = AtomicBool::new(false);

/// Makes every output buffer an op allocates start as NaN instead of 0 (for tests: an
/// element a kernel forgot to write then shows up as NaN instead of a plausible 0).
pub fn poison_outputs(on: bool) {
    POISON.store(on, Ordering::Relaxed);
}

/// A buffer of `n` elements of `T` (at least one: the driver allocates no empty buffers)
/// whose contents are unspecified: a cached one (cache.rs) or a fresh one. When the GPU is
/// out of memory, its cached buffers are freed and the allocation tried once more.
fn uninit<T: cache::Element>(op: &'static str, gpu: &Gpu, n: usize) -> Result<CudaSlice<T>> {
    let n = n.max(1);
    if let Some(s) = cache::take::<T>(gpu, n) {
        return Ok(s);
    }
    // SAFETY: the memory is uninitialised; every caller either has a kernel write each of
    // the n elements before anything reads them or fills them first (`alloc`, `zeros`).
    let fresh = || unsafe { gpu.stream().alloc::<T>(n) };
    fresh()
        .or_else(|_| {
            cache::release(Some(gpu.ordinal()));
            fresh()
        })
        .map_err(|e| {
            use kernels::cudarc::driver::sys::cudaError_enum::CUDA_ERROR_OUT_OF_MEMORY;
            if e.0 != CUDA_ERROR_OUT_OF_MEMORY {
                return kernel_error(op)(e);
            }
            Error::OutOfMemory {
                op,
                bytes: n * std::mem::size_of::<T>(),
                device_bytes: gpu.total_memory().ok(),
            }
        })
}

/// An f32 buffer of `n` elements for an output the op writes entirely. It is not cleared,
/// which saves a memset pass (a third of dropout's memory traffic); under [`poison_outputs`]
/// it starts as NaN, so a kernel that misses an element fails the GPU tests instead of
/// reading stale memory.
pub(crate) fn alloc(op: &'static str, gpu: &Gpu, n: usize) -> Result<CudaSlice<f32>> {
    let mut s = uninit::<f32>(op, gpu, n)?;
    if POISON.load(Ordering::Relaxed) {
        gpu.fill(&mut s, f32::NAN).map_err(kernel_error(op))?;
    }
    Ok(s)
}

/// An f32 buffer of `n` zeros, for an output the op accumulates into.
pub(crate) fn zeros(op: &'static str, gpu: &Gpu, n: usize) -> Result<CudaSlice<f32>> {
    let mut s = uninit::<f32>(op, gpu, n)?;
    gpu.stream()
        .memset_zeros(&mut s)
        .map_err(kernel_error(op))?;
    Ok(s)
}

/// An i64 buffer of `n` elements for an output the op writes entirely (indices).
pub(crate) fn alloc_i64(op: &'static str, gpu: &Gpu, n: usize) -> Result<CudaSlice<i64>> {
    uninit::<i64>(op, gpu, n)
}

/// A GPU buffer holding a copy of `values`.
pub(crate) fn upload_slice<T: cache::Element>(
    op: &'static str,
    gpu: &Gpu,
    values: &[T],
) -> Result<CudaSlice<T>> {
    let mut s = uninit::<T>(op, gpu, values.len())?;
    gpu.stream()
        .memcpy_htod(values, &mut s)
        .map_err(kernel_error(op))?;
    Ok(s)
}

/// A GPU tensor's elements in row-major order: borrowed when contiguous, copied otherwise.
pub(crate) enum DeviceData<'a, T> {
    Borrowed(CudaView<'a, T>),
    Owned(CudaSlice<T>),
}

impl<T> DeviceData<'_, T> {
    pub(crate) fn view(&self) -> CudaView<'_, T> {
        match self {
            DeviceData::Borrowed(v) => v.slice(..),
            DeviceData::Owned(s) => s.as_view(),
        }
    }
}

impl CudaStorage {
    /// Wraps a buffer an op just wrote on `gpu`.
    pub(crate) fn new(gpu: &Arc<Gpu>, data: CudaData) -> CudaStorage {
        CudaStorage {
            gpu: gpu.clone(),
            data: Some(data),
        }
    }

    pub(crate) fn f32(gpu: &Arc<Gpu>, data: CudaSlice<f32>) -> CudaStorage {
        Self::new(gpu, CudaData::F32(data))
    }

    pub(crate) fn i64(gpu: &Arc<Gpu>, data: CudaSlice<i64>) -> CudaStorage {
        Self::new(gpu, CudaData::I64(data))
    }

    /// The whole f32 buffer (a layout says which elements belong to a tensor).
    pub(crate) fn f32_buffer(&self, op: &'static str) -> Result<&CudaSlice<f32>> {
        match &self.data {
            Some(CudaData::F32(s)) => Ok(s),
            _ => Err(Error::DType {
                op,
                expected: DType::F32,
                got: self.dtype(),
            }),
        }
    }

    /// The whole i64 buffer of index storage.
    pub(crate) fn i64_buffer(&self, op: &'static str) -> Result<&CudaSlice<i64>> {
        match &self.data {
            Some(CudaData::I64(s)) => Ok(s),
            _ => Err(Error::DType {
                op,
                expected: DType::I64,
                got: self.dtype(),
            }),
        }
    }

    /// The f32 elements `l` selects, in row-major order.
    pub(crate) fn f32_rows(&self, op: &'static str, l: &Layout) -> Result<DeviceData<'_, f32>> {
        self.row_major(op, l, self.f32_buffer(op)?)
    }

    /// The i64 elements `l` selects, in row-major order.
    pub(crate) fn i64_rows(&self, op: &'static str, l: &Layout) -> Result<DeviceData<'_, i64>> {
        self.row_major(op, l, self.i64_buffer(op)?)
    }

    /// The f32 elements `l` selects as rows (the dimensions after the first) and the
    /// distance between them, for kernels that take that distance: in place when each row is
    /// dense and they only lie further apart (a block of columns of a wider gradient, as the
    /// tabular model's `cat` hands its parts back), else a dense copy.
    pub(crate) fn spaced_rows(
        &self,
        op: &'static str,
        l: &Layout,
    ) -> Result<(DeviceData<'_, f32>, usize)> {
        let shape = l.shape();
        let row: usize = shape.iter().skip(1).product();
        let in_place = !shape.is_empty()
            && l.strides()[1..] == Layout::contiguous(&shape[1..]).strides()[..]
            && l.strides()[0] >= row;
        if !in_place {
            return Ok((self.f32_rows(op, l)?, row));
        }
        let buf = self.f32_buffer(op)?;
        let apart = l.strides()[0];
        let span = if shape[0] * row == 0 {
            0
        } else {
            (shape[0] - 1) * apart + row
        };
        let view = buf
            .try_slice(l.offset()..l.offset() + span)
            .ok_or(Error::Internal {
                op,
                what: "the view lies outside its storage",
            })?;
        Ok((DeviceData::Borrowed(view), apart))
    }

    fn row_major<'a, T: cache::Element>(
        &self,
        op: &'static str,
        l: &Layout,
        buf: &'a CudaSlice<T>,
    ) -> Result<DeviceData<'a, T>> {
        if l.is_contiguous() {
            let start = l.offset();
            return Ok(DeviceData::Borrowed(
                buf.slice(start..start + l.elem_count()),
            ));
        }
        let mut out = uninit::<T>(op, &self.gpu, l.elem_count())?;
        let dense = kernel_layout(op, &Layout::contiguous(l.shape()))?;
        self.gpu
            .copy_strided((&kernel_layout(op, l)?, &buf.as_view()), (&dense, &mut out))
            .map_err(kernel_error(op))?;
        Ok(DeviceData::Owned(out))
    }

    /// The f32 buffer for an in-place update, when this storage is exactly a tensor's
    /// elements (the caller checked it is their only owner).
    pub(crate) fn f32_buffer_mut(&mut self, op: &'static str) -> Result<&mut CudaSlice<f32>> {
        let got = self.dtype();
        match self.data.as_mut() {
            Some(CudaData::F32(s)) => Ok(s),
            _ => Err(Error::DType {
                op,
                expected: DType::F32,
                got,
            }),
        }
    }
}
