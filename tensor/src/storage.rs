//! Where a tensor's elements live, and the one place where an op picks the code that runs
//! it: each method below matches on the operands' storage and calls the function of the
//! same name in `crate::cpu` (host memory) or `crate::cuda` (one GPU's memory). Operands on
//! different devices are refused here, naming both. The front end (`crate::ops`, methods
//! on `Tensor`) has checked shapes and dtypes and built the output's shape before it calls.
use crate::cpu::{self, CpuStorage};
use crate::cuda::{self, CudaStorage};
use crate::{DType, Device, Error, Layout, Result};
use kernels::{Accumulate, BinaryOp, UnaryOp};

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

    /// The slices `l` selects at the 1-D i64 `indices` along `dim`, in their order.
    pub(crate) fn index_select(
        &self,
        l: &Layout,
        dim: usize,
        (indices, li): (&Storage, &Layout),
    ) -> Result<Storage> {
        const OP: &str = "index_select";
        match (self, indices) {
            (Storage::Cpu(x), Storage::Cpu(i)) => {
                cpu::index_select(x, l, dim, (i, li)).map(Storage::Cpu)
            }
            (Storage::Cuda(x), Storage::Cuda(i)) if self.same_device(&[indices]) => {
                cuda::index_select(x, l, dim, (i, li)).map(Storage::Cuda)
            }
            _ => Err(self.mismatch(OP, &[indices])),
        }
    }

    /// Adds slice `j` of `src` along `dim` into this storage, the row-major elements of a
    /// tensor of `shape` that only the caller holds, at position `indices[j]`, in place. On a
    /// GPU `how` says how rows that share an index are added; the host adds in its order.
    pub(crate) fn index_add(
        &mut self,
        shape: &[usize],
        dim: usize,
        (indices, li): (&Storage, &Layout),
        (src, ls): (&Storage, &Layout),
        how: Accumulate,
    ) -> Result<()> {
        const OP: &str = "index_add";
        let same = self.same_device(&[indices, src]);
        match (self, indices, src) {
            (Storage::Cpu(t), Storage::Cpu(i), Storage::Cpu(s)) => {
                cpu::index_add(t, shape, dim, (i, li), (s, ls))
            }
            (Storage::Cuda(t), Storage::Cuda(i), Storage::Cuda(s)) if same => {
                cuda::index_add(t, shape, dim, (i, li), (s, ls), how)
            }
            (t, ..) => Err(t.mismatch(OP, &[indices, src])),
        }
    }

    /// torch.gather along `dim`: the elements `l` selects at the i64 `index`, in its shape.
    pub(crate) fn gather(
        &self,
        l: &Layout,
        dim: usize,
        (index, li): (&Storage, &Layout),
    ) -> Result<Storage> {
        const OP: &str = "gather";
        match (self, index) {
            (Storage::Cpu(x), Storage::Cpu(i)) => cpu::gather(x, l, dim, (i, li)).map(Storage::Cpu),
            (Storage::Cuda(x), Storage::Cuda(i)) if self.same_device(&[index]) => {
                cuda::gather(x, l, dim, (i, li)).map(Storage::Cuda)
            }
            _ => Err(self.mismatch(OP, &[index])),
        }
    }

    /// torch.scatter_add along `dim` into this storage, the row-major elements of a tensor
    /// of `shape` that only the caller holds.
    pub(crate) fn scatter_add(
        &mut self,
        shape: &[usize],
        dim: usize,
        (index, li): (&Storage, &Layout),
        (src, ls): (&Storage, &Layout),
    ) -> Result<()> {
        const OP: &str = "scatter_add";
        let same = self.same_device(&[index, src]);
        match (self, index, src) {
            (Storage::Cpu(t), Storage::Cpu(i), Storage::Cpu(s)) => {
                cpu::scatter_add(t, shape, dim, (i, li), (s, ls))
            }
            (Storage::Cuda(t), Storage::Cuda(i), Storage::Cuda(s)) if same => {
                cuda::scatter_add(t, shape, dim, (i, li), (s, ls))
            }
            (t, ..) => Err(t.mismatch(OP, &[index, src])),
        }
    }

    /// The rows of each of `tables` that the i64 `codes` `[n, tables.len()]` pick, side by
    /// side: `[n, Σ width_j]` for tables of `sizes` `[rows_j, width_j]`.
    pub(crate) fn embeddings_cat(
        tables: &[(&Storage, &Layout)],
        codes: (&Storage, &Layout),
        sizes: &[[usize; 2]],
    ) -> Result<Storage> {
        const OP: &str = "embeddings_cat";
        let t = tables.len();
        let mut all = tables.to_vec();
        all.push(codes);
        let first = all[0].0;
        match (Self::on_host(&all), first.on_gpu(&all)) {
            (Some(all), _) => cpu::embeddings_cat(&all[..t], all[t], sizes).map(Storage::Cpu),
            (_, Some(all)) => cuda::embeddings_cat(&all[..t], all[t], sizes).map(Storage::Cuda),
            _ => Err(first.mismatch(OP, &Self::storages(&all))),
        }
    }

    /// The gradients of [`Storage::embeddings_cat`]'s tables from this one's (`l`), one
    /// after another in one buffer.
    pub(crate) fn embeddings_cat_backward(
        &self,
        l: &Layout,
        (codes, lc): (&Storage, &Layout),
        sizes: &[[usize; 2]],
    ) -> Result<Storage> {
        const OP: &str = "embeddings_cat_backward";
        match (self, codes) {
            (Storage::Cpu(dy), Storage::Cpu(c)) => {
                cpu::embeddings_cat_backward(dy, l, (c, lc), sizes).map(Storage::Cpu)
            }
            (Storage::Cuda(dy), Storage::Cuda(c)) if self.same_device(&[codes]) => {
                cuda::embeddings_cat_backward(dy, l, (c, lc), sizes).map(Storage::Cuda)
            }
            _ => Err(self.mismatch(OP, &[codes])),
        }
    }

    /// The elements of `parts` (at least one; each a storage and the layout of an input in
    /// it, all of one dtype) joined along `dim` into `shape`.
    pub(crate) fn cat(
        parts: &[(&Storage, &Layout)],
        dim: usize,
        shape: &[usize],
    ) -> Result<Storage> {
        const OP: &str = "cat";
        let first = parts[0].0;
        match (Self::on_host(parts), first.on_gpu(parts)) {
            (Some(parts), _) => cpu::cat(&parts, dim, shape).map(Storage::Cpu),
            (_, Some(parts)) => cuda::cat(&parts, dim, shape).map(Storage::Cuda),
            _ => Err(first.mismatch(OP, &Self::storages(parts))),
        }
    }

    /// The host storages of `parts`, when every one is on the host.
    fn on_host<'a>(
        parts: &[(&'a Storage, &'a Layout)],
    ) -> Option<Vec<(&'a CpuStorage, &'a Layout)>> {
        parts
            .iter()
            .map(|&(s, l)| match s {
                Storage::Cpu(c) => Some((c, l)),
                Storage::Cuda(_) => None,
            })
            .collect()
    }

    /// The GPU storages of `parts`, when every one is on this storage's GPU.
    fn on_gpu<'a>(
        &self,
        parts: &[(&'a Storage, &'a Layout)],
    ) -> Option<Vec<(&'a CudaStorage, &'a Layout)>> {
        parts
            .iter()
            .map(|&(s, l)| match s {
                Storage::Cuda(c) if s.device() == self.device() => Some((c, l)),
                _ => None,
            })
            .collect()
    }

    /// The storages of `parts`, for [`Storage::mismatch`].
    fn storages<'a>(parts: &[(&'a Storage, &'a Layout)]) -> Vec<&'a Storage> {
        parts.iter().map(|p| p.0).collect()
    }

    // ------------------------------------------------------------ reductions, softmax, matmul

    // ------------------------------------------------------------ batch norm, dropout, optimisers
}
