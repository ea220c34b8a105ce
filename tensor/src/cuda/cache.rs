//! A cache of freed GPU buffers, by exact length: PyTorch's caching allocator in miniature.
//!
//! Why: a training step allocates the same outputs every step (Rossmann's about 130, counted
//! on the stand-in GPU), and each fresh buffer costs two driver calls, `cuMemAllocAsync` and,
//! when the last tensor holding it is dropped, `cuMemFreeAsync`, each after cudarc binds the
//! context to the thread. A launch-bound step (Rossmann's) spends its time on such host-side
//! calls, so a buffer that comes from this cache instead is a step's worth of them saved.
//! Exact lengths suffice: a step asks for the same lengths as the one before.
//!
//! Why it is safe: each GPU runs every kernel, copy and product on its one stream, so a buffer
//! handed out again is written only by work queued after all the work that used it before it
//! came back (the reasoning the driver's stream-ordered allocator follows too).
//!
//! Nothing is given back to the driver on its own: when an allocation fails, the GPU's cached
//! buffers are freed and it is tried again; [`crate::release_cached_memory`] frees them all.
use super::CudaData;
use crate::DType;
use kernels::{CudaSlice, Gpu};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// Which buffers are interchangeable: same GPU, element type and length.
type Key = (usize, DType, usize);

static FREE: LazyLock<Mutex<HashMap<Key, Vec<CudaData>>>> = LazyLock::new(Default::default);

/// The element types a GPU storage holds, and how to find their buffers in a [`CudaData`].
pub(crate) trait Element: kernels::CopyElem + Sized {
    const DTYPE: DType;
    fn unwrap(d: CudaData) -> Option<CudaSlice<Self>>;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    fn unwrap(d: CudaData) -> Option<CudaSlice<f32>> {
        match d {
            CudaData::F32(s) => Some(s),
            CudaData::I64(_) => None,
        }
    }
}

impl Element for i64 {
    const DTYPE: DType = DType::I64;
    fn unwrap(d: CudaData) -> Option<CudaSlice<i64>> {
        match d {
            CudaData::I64(s) => Some(s),
            CudaData::F32(_) => None,
        }
    }
}

fn key_of(gpu: &Gpu, data: &CudaData) -> Key {
    match data {
        CudaData::F32(s) => (gpu.ordinal(), DType::F32, s.len()),
        CudaData::I64(s) => (gpu.ordinal(), DType::I64, s.len()),
    }
}

/// A cached buffer of `len` elements of `T` on `gpu`, holding whatever its last tensor left.
pub(crate) fn take<T: Element>(gpu: &Gpu, len: usize) -> Option<CudaSlice<T>> {
    let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
    let list = free.get_mut(&(gpu.ordinal(), T::DTYPE, len))?;
    list.pop().and_then(T::unwrap)
}

/// Keeps a dead storage's buffer for the next request of its length.
pub(crate) fn give(gpu: &Gpu, data: CudaData) {
    let key = key_of(gpu, &data);
    FREE.lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_default()
        .push(data);
}

/// Frees the cached buffers of GPU `ordinal`, or of every GPU; returns their bytes.
pub(crate) fn release(ordinal: Option<usize>) -> usize {
    let released: Vec<(Key, Vec<CudaData>)> = {
        let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
        let keys: Vec<Key> = free
            .keys()
            .filter(|k| ordinal.is_none_or(|o| k.0 == o))
            .copied()
            .collect();
        keys.into_iter()
            .filter_map(|k| free.remove_entry(&k))
            .collect()
    };
    // Dropped outside the lock: each drop is a driver call.
    released
        .iter()
        .map(|((_, dtype, len), list)| list.len() * len * dtype.size_in_bytes())
        .sum()
}
