//! Where a tensor's elements live, and the one place where an op picks the code that runs
//! it: each method below matches on the operands' storage and calls the function of the
//! same name in `crate::cpu` (host memory) or `crate::cuda` (one GPU's memory). Operands on
//! different devices are refused here, naming both. The front end (`crate::ops`, methods
//! on `Tensor`) has checked shapes and dtypes and built the output's shape before it calls.
use crate::cpu::{self, CpuStorage};
use crate::cuda::{self, CudaStorage};
use crate::reduction::Divide;
use crate::{DType, Device, Error, Layout, Result};
use kernels::{BinaryOp, Extremum, UnaryOp};

/// A host buffer of one element type, or a GPU buffer. Shared (behind an `Arc`) by every
/// view of it.
#[derive(Debug)]
pub enum Storage {
    Cpu(CpuStorage),
    Cuda(CudaStorage),
}

impl Storage {
    pub fn dtype(&self) -> DType {
        match self {
            Storage::Cpu(s) => s.dtype(),
            Storage::Cuda(s) => s.dtype(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Storage::Cpu(s) => s.len(),
            Storage::Cuda(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn device(&self) -> Device {
        match self {
            Storage::Cpu(_) => Device::Cpu,
            Storage::Cuda(s) => Device::Cuda(s.gpu().ordinal()),
        }
    }

    /// Whether every one of `others` lives on this storage's device.
    pub(crate) fn same_device(&self, others: &[&Storage]) -> bool {
        others.iter().all(|o| o.device() == self.device())
    }

    /// The error for operands on different devices, naming this one and the first other.
    pub(crate) fn mismatch(&self, op: &'static str, others: &[&Storage]) -> Error {
        let other = others
            .iter()
            .map(|o| o.device())
            .find(|&d| d != self.device())
            .unwrap_or(self.device());
        Error::device(
            op,
            format!(
                "operands on {} and {other}: move them to one device with to_device",
                self.device()
            ),
        )
    }

    // ------------------------------------------------------------ copies and transfers

    /// A row-major copy of the elements `l` selects.
    pub(crate) fn contiguous(&self, op: &'static str, l: &Layout) -> Result<Storage> {
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(cpu::contiguous(s, l))),
            Storage::Cuda(s) => cuda::contiguous(op, s, l).map(Storage::Cuda),
        }
    }

    /// The elements `l` selects, converted to `dtype`.
    pub(crate) fn to_dtype(&self, l: &Layout, dtype: DType) -> Result<Storage> {
        match self {
            Storage::Cpu(s) => Ok(Storage::Cpu(cpu::to_dtype(s, l, dtype))),
            Storage::Cuda(s) => cuda::to_dtype(s, l, dtype).map(Storage::Cuda),
        }
    }

    /// The elements `l` selects, copied to `device` in row-major order.
    pub(crate) fn to_device(&self, l: &Layout, device: Device) -> Result<Storage> {
        match (self, device) {
            (Storage::Cpu(s), Device::Cpu) => Ok(Storage::Cpu(cpu::contiguous(s, l))),
            (Storage::Cpu(s), Device::Cuda(ordinal)) => {
                cuda::upload(s, l, ordinal).map(Storage::Cuda)
            }
            (Storage::Cuda(s), Device::Cpu) => cuda::download(s, l).map(Storage::Cpu),
            (Storage::Cuda(s), Device::Cuda(ordinal)) => {
                let host = cuda::download(s, l)?;
                cuda::upload(&host, &Layout::contiguous(l.shape()), ordinal).map(Storage::Cuda)
            }
        }
    }

    /// `n` elements equal to `value` on `device`, in `dtype` (a GPU holds f32 here).
    pub(crate) fn full(device: Device, dtype: DType, n: usize, value: f32) -> Result<Storage> {
        let host = || {
            cpu::to_dtype(
                &CpuStorage::F32(vec![value; n]),
                &Layout::contiguous(&[n]),
                dtype,
            )
        };
        match device {
            Device::Cpu => Ok(Storage::Cpu(host())),
            Device::Cuda(ordinal) if dtype == DType::F32 => {
                cuda::full(ordinal, n, value).map(Storage::Cuda)
            }
            Device::Cuda(ordinal) => {
                cuda::upload(&host(), &Layout::contiguous(&[n]), ordinal).map(Storage::Cuda)
            }
        }
    }

    // ------------------------------------------------------------ element-wise

    pub(crate) fn unary(&self, op: &'static str, l: &Layout, f: UnaryOp) -> Result<Storage> {
        match self {
            Storage::Cpu(s) => cpu::unary(s, l, f).map(Storage::Cpu),
            Storage::Cuda(s) => cuda::unary(op, s, l, f).map(Storage::Cuda),
        }
    }

    /// `f` of the pairs of elements the layouts (expanded to one shape) select.
    pub(crate) fn binary(
        &self,
        op: &'static str,
        l: &Layout,
        (rhs, rl): (&Storage, &Layout),
        f: BinaryOp,
    ) -> Result<Storage> {
        match (self, rhs) {
            (Storage::Cpu(a), Storage::Cpu(b)) => cpu::binary(a, l, b, rl, f).map(Storage::Cpu),
            (Storage::Cuda(a), Storage::Cuda(b)) if self.same_device(&[rhs]) => {
                cuda::binary(op, (a, l), (b, rl), f).map(Storage::Cuda)
            }
            _ => Err(self.mismatch(op, &[rhs])),
        }
    }

    /// `on_true` where `self` (a mask) is non-zero, else `on_false`; layouts of one shape.
    pub(crate) fn where_cond(
        &self,
        l: &Layout,
        (t, lt): (&Storage, &Layout),
        (f, lf): (&Storage, &Layout),
    ) -> Result<Storage> {
        const OP: &str = "where_cond";
        match (self, t, f) {
            (Storage::Cpu(c), Storage::Cpu(tc), Storage::Cpu(fc)) => {
                cpu::where_cond((c, l), (tc, lt), (fc, lf)).map(Storage::Cpu)
            }
            (Storage::Cuda(c), Storage::Cuda(tc), Storage::Cuda(fc))
                if self.same_device(&[t, f]) =>
            {
                cuda::where_cond((c, l), (tc, lt), (fc, lf)).map(Storage::Cuda)
            }
            _ => Err(self.mismatch(OP, &[t, f])),
        }
    }

    // ------------------------------------------------------------ convolution, pooling, padding

    // ------------------------------------------------------------ indexing, embeddings, cat

    // ------------------------------------------------------------ reductions, softmax, matmul

    /// The sum over the (distinct) `dims`, divided as `divide` says.
    pub(crate) fn sum(
        &self,
        op: &'static str,
        l: &Layout,
        dims: &[usize],
        divide: Divide,
    ) -> Result<Storage> {
        match self {
            Storage::Cpu(s) => cpu::sum(s, l, dims, divide).map(Storage::Cpu),
            Storage::Cuda(s) => cuda::sum(op, s, l, dims, divide).map(Storage::Cuda),
        }
    }

    /// The variance over the (distinct, non-empty) `dims`, biased or `unbiased`.
    pub(crate) fn var(&self, l: &Layout, dims: &[usize], unbiased: bool) -> Result<Storage> {
        match self {
            Storage::Cpu(s) => cpu::var(s, l, dims, unbiased).map(Storage::Cpu),
            Storage::Cuda(s) => cuda::var(s, l, dims, unbiased).map(Storage::Cuda),
        }
    }

    /// The maximum or minimum over the (distinct, non-empty) `dims`.
    pub(crate) fn extremum(
        &self,
        op: &'static str,
        l: &Layout,
        dims: &[usize],
        which: Extremum,
    ) -> Result<Storage> {
        match self {
            Storage::Cpu(s) => cpu::extremum(s, l, dims, which).map(Storage::Cpu),
            Storage::Cuda(s) => cuda::extremum(op, s, l, dims, which).map(Storage::Cuda),
        }
    }

    /// The i64 index of the first maximum or minimum along `dim` (non-empty).
    pub(crate) fn arg_extremum(
        &self,
        op: &'static str,
        l: &Layout,
        dim: usize,
        which: Extremum,
    ) -> Result<Storage> {
        match self {
            Storage::Cpu(s) => cpu::arg_extremum(s, l, dim, which).map(Storage::Cpu),
            Storage::Cuda(s) => cuda::arg_extremum(op, s, l, dim, which).map(Storage::Cuda),
        }
    }

    /// `[batch.., m, k] x [batch.., k, n]`, both layouts expanded to one batch shape.
    pub(crate) fn matmul(&self, l: &Layout, (rhs, rl): (&Storage, &Layout)) -> Result<Storage> {
        match (self, rhs) {
            (Storage::Cpu(a), Storage::Cpu(b)) => cpu::matmul(a, l, b, rl).map(Storage::Cpu),
            (Storage::Cuda(a), Storage::Cuda(b)) if self.same_device(&[rhs]) => {
                cuda::matmul(a, l, b, rl).map(Storage::Cuda)
            }
            _ => Err(self.mismatch("matmul", &[rhs])),
        }
    }

    /// Softmax (or, `log`, log-softmax) along `dim`, in the input's row-major order.
    pub(crate) fn softmax(
        &self,
        op: &'static str,
        l: &Layout,
        dim: usize,
        log: bool,
    ) -> Result<Storage> {
        match self {
            Storage::Cpu(s) => cpu::softmax(s, l, dim, log).map(Storage::Cpu),
            Storage::Cuda(s) => cuda::softmax(op, s, l, dim, log).map(Storage::Cuda),
        }
    }

    // ------------------------------------------------------------ batch norm, dropout, optimisers
}
