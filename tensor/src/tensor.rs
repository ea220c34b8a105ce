//! `Tensor`: a shared storage plus a layout. Cloning a tensor or taking a view of it copies an
//! `Arc` and a few shape numbers, never the data.
use crate::cpu::{layout_data, Element};
use crate::layout::{broadcast_shape, Layout};
use crate::storage::Storage;
use crate::{DType, Device, Error, Result};
use std::borrow::Cow;
use std::sync::Arc;

/// An n-dimensional array: a view (shape, strides, offset) into shared storage.
#[derive(Clone)]
pub struct Tensor {
    storage: Arc<Storage>,
    layout: Layout,
}

impl Tensor {
    // ---------------------------------------------------------------- construction

    pub(crate) fn from_parts(storage: Arc<Storage>, layout: Layout) -> Self {
        debug_assert!(layout.storage_span() <= storage.len());
        Tensor { storage, layout }
    }

    /// Takes ownership of `data` as a contiguous tensor of `shape`.
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::ElementCount {
                op: "from_vec",
                shape: shape.to_vec(),
                elements: data.len(),
            });
        }
        Ok(Self::from_storage(
            Storage::Cpu(T::into_storage(data)),
            shape,
        ))
    }

    /// Copies `data` into a new contiguous tensor of `shape`.
    pub fn from_slice<T: Element>(data: &[T], shape: &[usize]) -> Result<Self> {
        Self::from_vec(data.to_vec(), shape)
    }

    /// Wraps a buffer an op just computed; the op guarantees the length matches.
    pub(crate) fn from_op<T: Element>(data: Vec<T>, shape: &[usize]) -> Self {
        debug_assert_eq!(data.len(), shape.iter().product::<usize>());
        Self::from_storage(Storage::Cpu(T::into_storage(data)), shape)
    }

    /// Wraps storage an op just wrote, row-major in `shape`.
    pub(crate) fn from_storage(storage: Storage, shape: &[usize]) -> Self {
        Self::from_parts(Arc::new(storage), Layout::contiguous(shape))
    }

    /// A tensor of `shape` with every element equal to `value`.
    pub fn full(value: f32, shape: &[usize]) -> Self {
        Self::from_op(vec![value; shape.iter().product()], shape)
    }

    /// An f32 tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Self::full(0.0, shape)
    }

    /// An f32 tensor of ones.
    pub fn ones(shape: &[usize]) -> Self {
        Self::full(1.0, shape)
    }

    /// A tensor of `shape` filled with `value`, with the dtype and on the device of `self`
    /// (PyTorch's `new_full`): the constants a backward rule needs, next to its gradient.
    pub fn new_full(&self, shape: &[usize], value: f32) -> Result<Tensor> {
        let n = shape.iter().product();
        let storage = Storage::full(self.device(), self.dtype(), n, value)?;
        Ok(Self::from_storage(storage, shape))
    }

    /// A zero-dimensional f32 tensor.
    pub fn scalar(value: f32) -> Self {
        Self::full(value, &[])
    }

    /// `[0, 1, ..., n-1]` as f32.
    pub fn arange(n: usize) -> Self {
        Self::from_op((0..n).map(|i| i as f32).collect(), &[n])
    }

    /// An i64 index tensor (embedding lookups, gather, scatter-add).
    pub fn from_indices(indices: &[i64], shape: &[usize]) -> Result<Self> {
        Self::from_slice(indices, shape)
    }

    // ---------------------------------------------------------------- accessors

    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    pub fn shape(&self) -> &[usize] {
        self.layout.shape()
    }
    pub fn strides(&self) -> &[usize] {
        self.layout.strides()
    }
    pub fn rank(&self) -> usize {
        self.layout.rank()
    }
    pub fn elem_count(&self) -> usize {
        self.layout.elem_count()
    }
    pub fn dtype(&self) -> DType {
        self.storage.dtype()
    }
    pub fn device(&self) -> Device {
        self.storage.device()
    }

    pub(crate) fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The storage and this tensor's layout in it: an operand as the backends read it.
    pub(crate) fn view(&self) -> (&Storage, &Layout) {
        (&self.storage, &self.layout)
    }

    /// The storage for an in-place update: the tensor's own when it is the only owner of
    /// its storage and covers it exactly, a fresh copy (which it then owns) otherwise.
    pub(crate) fn storage_for_update(&mut self) -> Result<&mut Storage> {
        let whole = self.is_contiguous()
            && self.layout.offset() == 0
            && self.storage.len() == self.elem_count().max(1);
        if !whole || Arc::strong_count(&self.storage) > 1 {
            *self = self.copy()?;
        }
        Arc::get_mut(&mut self.storage).ok_or(Error::Internal {
            op: "storage_for_update",
            what: "a fresh copy is shared",
        })
    }
    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }

    /// Size of dimension `dim`, or an error naming the shape.
    pub fn dim(&self, dim: usize) -> Result<usize> {
        crate::layout::check_dim("dim", dim, self.shape())?;
        Ok(self.shape()[dim])
    }

    /// True when both tensors are views of the same storage: how the lesson's
    /// `k.expand(1,3,3,3)` can be shown to copy nothing.
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    /// The whole storage and this tensor's layout in it, for ops that walk strides themselves.
    /// A tensor on a GPU is refused here, by name: an op without a GPU implementation never
    /// reads device memory as host memory.
    pub(crate) fn storage_slice<T: Element>(&self, op: &'static str) -> Result<&[T]> {
        match &*self.storage {
            Storage::Cpu(s) => s.slice::<T>(op),
            Storage::Cuda(_) => Err(Error::Unsupported {
                op,
                device: self.device(),
                dtype: None,
            }),
        }
    }

    /// The elements in row-major order: borrowed when the tensor is contiguous, copied otherwise.
    pub fn contiguous_data<T: Element>(&self, op: &'static str) -> Result<Cow<'_, [T]>> {
        Ok(layout_data(self.storage_slice::<T>(op)?, &self.layout))
    }

    /// The elements in row-major order, as a new vector (copied from the GPU for a tensor
    /// that lives there).
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        if self.device() != Device::Cpu {
            return self.to_device(Device::Cpu)?.to_vec();
        }
        Ok(self.contiguous_data::<T>("to_vec")?.into_owned())
    }

    /// The elements in row-major order, taking the storage without a copy when this tensor
    /// is its only owner and covers it exactly (an optimiser updating a parameter in place),
    /// copying otherwise.
    pub fn into_vec<T: Element>(self) -> Result<Vec<T>> {
        if self.device() != Device::Cpu {
            return self.to_vec();
        }
        self.storage_slice::<T>("into_vec")?;
        let whole = self.is_contiguous()
            && self.layout.offset() == 0
            && self.elem_count() == self.storage.len();
        if !whole {
            return self.to_vec();
        }
        let Tensor { storage, layout } = self;
        match Arc::try_unwrap(storage) {
            Ok(Storage::Cpu(mut storage)) => Ok(T::take(&mut storage).unwrap_or_default()),
            Ok(other) => Tensor::from_parts(Arc::new(other), layout).to_vec(),
            Err(shared) => Tensor::from_parts(shared, layout).to_vec(),
        }
    }

    /// The single value of a one-element f32 tensor (a loss, a metric).
    pub fn to_scalar(&self) -> Result<f32> {
        if self.elem_count() != 1 {
            return Err(Error::ElementCount {
                op: "to_scalar",
                shape: vec![],
                elements: self.elem_count(),
            });
        }
        Ok(self.to_vec::<f32>()?[0])
    }

    // ---------------------------------------------------------------- views (no copies)

    fn with_layout(&self, layout: Layout) -> Self {
        Tensor {
            storage: self.storage.clone(),
            layout,
        }
    }

    /// A row-major copy if the tensor is not already contiguous; otherwise `self` (shared).
    /// On a GPU the copy is a kernel launch, which can fail.
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        let storage = self.storage.contiguous("contiguous", &self.layout)?;
        Ok(Self::from_storage(storage, self.shape()))
    }

    /// A new tensor holding a copy of the elements, on the same device (a device-to-device
    /// copy on a GPU): unlike `clone`, which shares the storage.
    pub fn copy(&self) -> Result<Tensor> {
        let storage = self.storage.contiguous("copy", &self.layout)?;
        Ok(Self::from_storage(storage, self.shape()))
    }

    /// A tensor of another shape with the same elements: a view when the data is contiguous,
    /// a copy otherwise (as PyTorch's `reshape`).
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if self.is_contiguous() {
            Ok(self.with_layout(self.layout.reshape(shape)?))
        } else {
            let c = self.contiguous()?;
            let layout = c.layout.reshape(shape)?;
            Ok(c.with_layout(layout))
        }
    }

    /// Flattens dimensions `start..` into one (`Flatten` in a CNN head is `flatten_from(1)`).
    pub fn flatten_from(&self, start: usize) -> Result<Tensor> {
        if start > self.rank() {
            return Err(Error::Dim {
                op: "flatten_from",
                dim: start,
                shape: self.shape().to_vec(),
            });
        }
        let mut shape = self.shape()[..start].to_vec();
        shape.push(self.shape()[start..].iter().product());
        self.reshape(&shape)
    }

    /// Reorders dimensions without copying.
    pub fn permute(&self, dims: &[usize]) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.permute(dims)?))
    }

    /// Swaps two dimensions without copying.
    pub fn transpose(&self, a: usize, b: usize) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.transpose(a, b)?))
    }

    /// The transpose of a matrix (swaps the last two dimensions) without copying.
    pub fn t(&self) -> Result<Tensor> {
        if self.rank() < 2 {
            return Err(Error::shapes("t", &[self.shape()], "at least 2 dimensions"));
        }
        self.transpose(self.rank() - 2, self.rank() - 1)
    }

    /// Positions `start..start+len` of dimension `dim`, without copying.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.narrow(dim, start, len)?))
    }

    /// Broadcasts to `shape` without copying (stride 0 on repeated dimensions).
    pub fn expand(&self, shape: &[usize]) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.expand(shape)?))
    }

    /// Inserts a dimension of size 1 (`t[None]` is `t.unsqueeze(0)`).
    pub fn unsqueeze(&self, dim: usize) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.unsqueeze(dim)?))
    }

    /// Removes a dimension of size 1.
    pub fn squeeze(&self, dim: usize) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.squeeze(dim)?))
    }

    /// Broadcasts both tensors to their common shape, as views.
    pub fn broadcast_pair(&self, other: &Tensor, op: &'static str) -> Result<(Tensor, Tensor)> {
        let shape = broadcast_shape(op, self.shape(), other.shape())?;
        Ok((self.expand(&shape)?, other.expand(&shape)?))
    }

    // ---------------------------------------------------------------- dtypes

    /// Converts to another dtype (f16 and bf16 round to nearest even; f32 and f64 to i64
    /// truncate toward zero, as PyTorch's `.long()`); exact between f32 and f64 both ways.
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        let storage = self.storage.to_dtype(&self.layout, dtype)?;
        Ok(Self::from_storage(storage, self.shape()))
    }

    // ---------------------------------------------------------------- devices

    /// A copy of this tensor on `device` (itself, shared, when it is there already). The GPU
    /// holds f32 and i64 tensors; convert others with `to_dtype` first.
    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        if device == self.device() {
            return Ok(self.clone());
        }
        let storage = self.storage.to_device(&self.layout, device)?;
        Ok(Self::from_storage(storage, self.shape()))
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor[{:?}, {}]", self.shape(), self.dtype())?;
        let n = self.elem_count();
        let show = |f: &mut std::fmt::Formatter<'_>, v: &dyn std::fmt::Debug| write!(f, " {v:?}");
        if n <= 16 {
            match self.dtype() {
                DType::I64 => show(f, &self.to_vec::<i64>().unwrap_or_default()),
                DType::F64 => show(f, &self.to_vec::<f64>().unwrap_or_default()),
                _ => show(
                    f,
                    &self
                        .to_dtype(DType::F32)
                        .and_then(|t| t.to_vec::<f32>())
                        .unwrap_or_default(),
                ),
            }?;
        }
        Ok(())
    }
}
