//! `Tensor`: a shared storage plus a layout. Cloning a tensor or taking a view of it copies an
//! `Arc` and a few shape numbers, never the data.
use crate::layout::{broadcast_shape, Layout};
use crate::storage::{Element, Storage};
use crate::strided::fill_rows;
use crate::{DType, Error, Result};
use half::{bf16, f16};
use std::borrow::Cow;
use std::sync::Arc;

/// Where a tensor's data lives: the host, or the CUDA GPU of an ordinal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    Cpu,
    Cuda(usize),
}

impl Device {
    /// The CUDA GPU `ordinal` (PyTorch's `torch.device("cuda", 0)`).
    pub fn cuda(ordinal: usize) -> Device {
        Device::Cuda(ordinal)
    }

    /// Reads `cpu`, `cuda` (GPU 0) or `cuda:N`, as the examples' `--device` takes it.
    pub fn parse(s: &str) -> Result<Device> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| {
                    Error::invalid("device", format!("{s:?} is not cpu, cuda or cuda:N"))
                }),
        }
    }

    /// Whether a CUDA GPU with this ordinal can be used here (the libraries load and the
    /// driver sees it); the host always can. Opens the GPU on first use.
    pub fn is_available(self) -> bool {
        match self {
            Device::Cpu => true,
            Device::Cuda(i) => kernels::Gpu::get(i).is_ok(),
        }
    }
}

impl std::str::FromStr for Device {
    type Err = Error;
    fn from_str(s: &str) -> Result<Device> {
        Device::parse(s)
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

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
            return Err(Error::shape(
                "from_vec",
                format!(
                    "{} elements cannot fill shape {shape:?} ({n} elements)",
                    data.len()
                ),
            ));
        }
        Ok(Self::from_parts(
            Arc::new(T::into_storage(data)),
            Layout::contiguous(shape),
        ))
    }

    /// Copies `data` into a new contiguous tensor of `shape`.
    pub fn from_slice<T: Element>(data: &[T], shape: &[usize]) -> Result<Self> {
        Self::from_vec(data.to_vec(), shape)
    }

    /// Wraps a buffer an op just computed; the op guarantees the length matches.
    pub(crate) fn from_op<T: Element>(data: Vec<T>, shape: &[usize]) -> Self {
        debug_assert_eq!(data.len(), shape.iter().product::<usize>());
        Self::from_parts(Arc::new(T::into_storage(data)), Layout::contiguous(shape))
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
        match self.cuda_storage() {
            Some(c) if self.dtype() == DType::F32 => crate::cuda::full(c.gpu(), shape, value),
            Some(_) => Tensor::full(value, shape)
                .to_dtype(self.dtype())?
                .to_device(self.device()),
            None => Tensor::full(value, shape).to_dtype(self.dtype()),
        }
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
        match &*self.storage {
            Storage::Cuda(c) => Device::Cuda(c.gpu().ordinal()),
            _ => Device::Cpu,
        }
    }

    pub(crate) fn storage(&self) -> &Storage {
        &self.storage
    }

    /// True when no other tensor shares this one's storage.
    pub(crate) fn storage_is_unique(&self) -> bool {
        Arc::strong_count(&self.storage) == 1
    }

    /// The GPU storage, mutably, when this tensor is its only owner.
    pub(crate) fn storage_mut(&mut self) -> Option<&mut crate::cuda::CudaStorage> {
        match Arc::get_mut(&mut self.storage) {
            Some(Storage::Cuda(c)) => Some(c),
            _ => None,
        }
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
        if let Storage::Cuda(_) = &*self.storage {
            return Err(Error::device(
                op,
                format!(
                    "has no GPU implementation yet; the tensor {:?} is on {} (to_device(Device::Cpu) moves it)",
                    self.shape(),
                    self.device()
                ),
            ));
        }
        T::slice(&self.storage).ok_or(Error::DType {
            op,
            expected: T::DTYPE,
            got: self.dtype(),
        })
    }

    /// The elements in row-major order: borrowed when the tensor is contiguous, copied otherwise.
    pub fn contiguous_data<T: Element>(&self, op: &'static str) -> Result<Cow<'_, [T]>> {
        Ok(layout_data(self.storage_slice::<T>(op)?, &self.layout))
    }

    /// The elements in row-major order, as a new vector (copied from the GPU for a tensor
    /// that lives there).
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        if self.cuda_storage().is_some() {
            return self.to_device(Device::Cpu)?.to_vec();
        }
        Ok(self.contiguous_data::<T>("to_vec")?.into_owned())
    }

    /// The elements in row-major order, taking the storage without a copy when this tensor
    /// is its only owner and covers it exactly (an optimiser updating a parameter in place),
    /// copying otherwise.
    pub fn into_vec<T: Element>(self) -> Result<Vec<T>> {
        if self.cuda_storage().is_some() {
            return self.to_vec();
        }
        T::slice(&self.storage).ok_or(Error::DType {
            op: "into_vec",
            expected: T::DTYPE,
            got: self.dtype(),
        })?;
        let whole = self.is_contiguous()
            && self.layout.offset() == 0
            && self.elem_count() == self.storage.len();
        if !whole {
            return self.to_vec();
        }
        let Tensor { storage, layout } = self;
        match Arc::try_unwrap(storage) {
            Ok(mut storage) => Ok(T::take(&mut storage).unwrap_or_default()),
            Err(shared) => Tensor::from_parts(shared, layout).to_vec(),
        }
    }

    /// The single value of a one-element f32 tensor (a loss, a metric).
    pub fn to_scalar(&self) -> Result<f32> {
        if self.elem_count() != 1 {
            return Err(Error::shape(
                "to_scalar",
                format!(
                    "shape {:?} holds {} elements, not 1",
                    self.shape(),
                    self.elem_count()
                ),
            ));
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
        match self.cuda_storage() {
            Some(_) => self.cuda_contiguous("contiguous"),
            None => self.host_copy("contiguous"),
        }
    }

    /// A row-major copy of a host tensor's elements.
    fn host_copy(&self, op: &'static str) -> Result<Tensor> {
        fn copied<T: Element>(t: &Tensor, v: &[T]) -> Tensor {
            Tensor::from_op(layout_data(v, &t.layout).into_owned(), t.shape())
        }
        Ok(match &*self.storage {
            Storage::F32(v) => copied(self, v),
            Storage::F64(v) => copied(self, v),
            Storage::F16(v) => copied(self, v),
            Storage::BF16(v) => copied(self, v),
            Storage::I64(v) => copied(self, v),
            Storage::Cuda(_) => return Err(Error::device(op, "a host copy of a GPU tensor")),
        })
    }

    /// A new tensor holding a copy of the elements, on the same device (a device-to-device
    /// copy on a GPU): unlike `clone`, which shares the storage.
    pub fn copy(&self) -> Result<Tensor> {
        match self.cuda_storage() {
            Some(_) => self.cuda_copy("copy"),
            None => self.host_copy("copy"),
        }
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
            return Err(Error::index(
                "flatten_from",
                format!(
                    "dimension {start} is out of range for shape {:?}",
                    self.shape()
                ),
            ));
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
            return Err(Error::shape(
                "t",
                format!("needs at least 2 dimensions, got shape {:?}", self.shape()),
            ));
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
    /// truncate toward zero, as PyTorch's `.long()`). A conversion from or to f64 goes
    /// through f64, which holds every f32, f16 and bf16 value (and i64 up to 2^53) exactly:
    /// f32 -> f64 -> f32 gives back the same bits.
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        if self.cuda_storage().is_some() {
            return self.cuda_to_dtype(dtype);
        }
        if dtype == DType::F64 || self.dtype() == DType::F64 {
            return self.to_dtype_via_f64(dtype);
        }
        let shape = self.shape();
        let f32s: Cow<'_, [f32]> = match self.dtype() {
            DType::F32 => self.contiguous_data::<f32>("to_dtype")?,
            DType::F16 => Cow::Owned(map_vec(
                &self.contiguous_data::<f16>("to_dtype")?,
                f16::to_f32,
            )),
            DType::BF16 => Cow::Owned(map_vec(
                &self.contiguous_data::<bf16>("to_dtype")?,
                bf16::to_f32,
            )),
            DType::I64 => Cow::Owned(map_vec(&self.contiguous_data::<i64>("to_dtype")?, |i| {
                i as f32
            })),
            // Not reached (f64 took the branch above); correct all the same.
            DType::F64 => Cow::Owned(map_vec(&self.contiguous_data::<f64>("to_dtype")?, |x| {
                x as f32
            })),
        };
        Ok(match dtype {
            DType::F32 => Self::from_op(f32s.into_owned(), shape),
            DType::F16 => Self::from_op(map_vec(&f32s, f16::from_f32), shape),
            DType::BF16 => Self::from_op(map_vec(&f32s, bf16::from_f32), shape),
            DType::I64 => Self::from_op(map_vec(&f32s, |x| x as i64), shape),
            DType::F64 => Self::from_op(map_vec(&f32s, f64::from), shape),
        })
    }

    /// [`Tensor::to_dtype`] where one side is f64: every value is taken to f64 (exactly, but
    /// for i64 beyond 2^53), then to the target.
    fn to_dtype_via_f64(&self, dtype: DType) -> Result<Tensor> {
        const OP: &str = "to_dtype";
        let shape = self.shape();
        let f64s: Cow<'_, [f64]> = match self.dtype() {
            DType::F64 => self.contiguous_data::<f64>(OP)?,
            DType::F32 => Cow::Owned(map_vec(&self.contiguous_data::<f32>(OP)?, f64::from)),
            DType::F16 => Cow::Owned(map_vec(&self.contiguous_data::<f16>(OP)?, f16::to_f64)),
            DType::BF16 => Cow::Owned(map_vec(&self.contiguous_data::<bf16>(OP)?, bf16::to_f64)),
            DType::I64 => Cow::Owned(map_vec(&self.contiguous_data::<i64>(OP)?, |i| i as f64)),
        };
        Ok(match dtype {
            DType::F64 => Self::from_op(f64s.into_owned(), shape),
            DType::F32 => Self::from_op(map_vec(&f64s, |x| x as f32), shape),
            // Through f32, as PyTorch (its Half and BFloat16 are built from a float): a value
            // just above a midpoint can round to the midpoint first, then to even.
            DType::F16 => Self::from_op(map_vec(&f64s, |x| f16::from_f32(x as f32)), shape),
            DType::BF16 => Self::from_op(map_vec(&f64s, |x| bf16::from_f32(x as f32)), shape),
            DType::I64 => Self::from_op(map_vec(&f64s, |x| x as i64), shape),
        })
    }
}

fn map_vec<A: Copy, B>(v: &[A], f: impl Fn(A) -> B) -> Vec<B> {
    v.iter().map(|&x| f(x)).collect()
}

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
pub(crate) fn gather_strided<T: Element>(data: &[T], layout: &Layout) -> Vec<T> {
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
