//! Where a tensor's elements live, and the one place where an op picks the code that runs
//! it: each method below matches on the operands' storage and calls the function of the
//! same name in `crate::cpu` (host memory) or `crate::cuda` (one GPU's memory). Operands on
//! different devices are refused here, naming both. The front end (`crate::ops`, methods
//! on `Tensor`) has checked shapes and dtypes and built the output's shape before it calls.
use crate::conv_geometry::Geometry;
use crate::cpu::{self, CpuStorage};
use crate::cuda::{self, CudaStorage};
use crate::params::{AdamBuffers, Divide, PadMaps, Running, SgdStep};
use crate::random::Philox;
use crate::{DType, Device, Error, Layout, Result};
use kernels::{Accumulate, BinaryOp, Extremum, UnaryOp, Windows};

/// One tensor's operand: its storage and its layout in it.
pub(crate) type View<'a> = (&'a Storage, &'a Layout);

/// The storage of an op's operands, all on the host or all on one GPU.
pub(crate) enum OnDevice<'a, const N: usize> {
    Cpu([&'a CpuStorage; N]),
    Cuda([&'a CudaStorage; N]),
}

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
        Error::DeviceMismatch {
            op,
            lhs: self.device(),
            rhs: other,
        }
    }

    /// The operands of one op on their one device: all on the host or all on one GPU, or
    /// the error naming two devices that differ.
    pub(crate) fn one_device<'a, const N: usize>(
        op: &'static str,
        all: [&'a Storage; N],
    ) -> Result<OnDevice<'a, N>> {
        let (first, rest) = (all[0], &all[1..]);
        if first.same_device(rest) {
            let host: Vec<&CpuStorage> = all.iter().filter_map(|s| s.as_cpu()).collect();
            if let Ok(host) = host.try_into() {
                return Ok(OnDevice::Cpu(host));
            }
            let gpu: Vec<&CudaStorage> = all.iter().filter_map(|s| s.as_cuda()).collect();
            if let Ok(gpu) = gpu.try_into() {
                return Ok(OnDevice::Cuda(gpu));
            }
        }
        Err(first.mismatch(op, rest))
    }

    fn as_cpu(&self) -> Option<&CpuStorage> {
        match self {
            Storage::Cpu(s) => Some(s),
            Storage::Cuda(_) => None,
        }
    }

    fn as_cuda(&self) -> Option<&CudaStorage> {
        match self {
            Storage::Cuda(s) => Some(s),
            Storage::Cpu(_) => None,
        }
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
        op: &'static str,
        (a, la): View,
        (b, lb): View,
        f: BinaryOp,
    ) -> Result<Storage> {
        match Storage::one_device(op, [a, b])? {
            OnDevice::Cpu([a, b]) => cpu::binary(a, la, b, lb, f).map(Storage::Cpu),
            OnDevice::Cuda([a, b]) => cuda::binary(op, (a, la), (b, lb), f).map(Storage::Cuda),
        }
    }

    /// `on_true` where `mask` is non-zero, else `on_false`; layouts of one shape.
    pub(crate) fn where_cond((c, lc): View, (t, lt): View, (f, lf): View) -> Result<Storage> {
        match Storage::one_device("where_cond", [c, t, f])? {
            OnDevice::Cpu([c, t, f]) => {
                cpu::where_cond((c, lc), (t, lt), (f, lf)).map(Storage::Cpu)
            }
            OnDevice::Cuda([c, t, f]) => {
                cuda::where_cond((c, lc), (t, lt), (f, lf)).map(Storage::Cuda)
            }
        }
    }

    // ------------------------------------------------------------ convolution, pooling, padding

    /// Convolution of images `[n, C, H, W]` with a weight `[co, C, kh, kw]` and an optional
    /// bias `[co]`.
    pub(crate) fn conv2d(
        (x, lx): View,
        (w, lw): View,
        bias: Option<View>,
        g: &Geometry,
    ) -> Result<Storage> {
        // The bias, when given, is checked with the others; without it w stands in for it.
        let (bs, lb) = bias.unwrap_or((w, lw));
        match Storage::one_device("conv2d", [x, w, bs])? {
            OnDevice::Cpu([x, w, bs]) => {
                let bias = bias.map(|_| (bs, lb));
                cpu::conv2d((x, lx), (w, lw), bias, g).map(Storage::Cpu)
            }
            OnDevice::Cuda([x, w, bs]) => {
                let bias = bias.map(|_| (bs, lb));
                cuda::conv2d((x, lx), (w, lw), bias, g).map(Storage::Cuda)
            }
        }
    }

    /// The gradient of a convolution with respect to its input, from the output's gradient
    /// and the weight.
    pub(crate) fn conv2d_backward_input(
        (dy, ldy): View,
        (w, lw): View,
        g: &Geometry,
    ) -> Result<Storage> {
        match Storage::one_device("conv2d_backward_input", [dy, w])? {
            OnDevice::Cpu([dy, w]) => {
                cpu::conv2d_backward_input((dy, ldy), (w, lw), g).map(Storage::Cpu)
            }
            OnDevice::Cuda([dy, w]) => {
                cuda::conv2d_backward_input((dy, ldy), (w, lw), g).map(Storage::Cuda)
            }
        }
    }

    /// The gradient of a convolution with respect to its weight, from the output's gradient
    /// and the forward's input.
    pub(crate) fn conv2d_backward_weight(
        (dy, ldy): View,
        (x, lx): View,
        g: &Geometry,
    ) -> Result<Storage> {
        match Storage::one_device("conv2d_backward_weight", [dy, x])? {
            OnDevice::Cpu([dy, x]) => {
                cpu::conv2d_backward_weight((dy, ldy), (x, lx), g).map(Storage::Cpu)
            }
            OnDevice::Cuda([dy, x]) => {
                cuda::conv2d_backward_weight((dy, ldy), (x, lx), g).map(Storage::Cuda)
            }
        }
    }

    /// The column matrices `[n, C*kh*kw, H_out*W_out]` of images `[n, C, H, W]`.
    pub(crate) fn im2col(&self, l: &Layout, g: &Geometry) -> Result<Storage> {
        match self {
            Storage::Cpu(s) => cpu::im2col((s, l), g).map(Storage::Cpu),
            Storage::Cuda(s) => cuda::im2col((s, l), g).map(Storage::Cuda),
        }
    }

    /// Column matrices folded back onto images `[n, C, H, W]`.
    pub(crate) fn col2im(&self, l: &Layout, g: &Geometry) -> Result<Storage> {
        match self {
            Storage::Cpu(s) => cpu::col2im((s, l), g).map(Storage::Cpu),
            Storage::Cuda(s) => cuda::col2im((s, l), g).map(Storage::Cuda),
        }
    }

    /// The weight-tied matrix of a convolution with this (f32) kernel: a host-only demo.
    pub(crate) fn conv2d_matrix(&self, l: &Layout, g: &Geometry) -> Result<Storage> {
        match self {
            Storage::Cpu(s) => cpu::conv2d_matrix((s, l), g).map(Storage::Cpu),
            Storage::Cuda(_) => Err(Error::Unsupported {
                op: "conv2d_matrix",
                device: self.device(),
                dtype: None,
            }),
        }
    }

    /// Max pooling of images over `win`: the maxima and, when `indices`, their positions.
    pub(crate) fn max_pool(
        &self,
        op: &'static str,
        l: &Layout,
        win: &Windows,
        indices: bool,
    ) -> Result<(Storage, Option<Storage>)> {
        match self {
            Storage::Cpu(s) => {
                let (v, i) = cpu::max_pool(op, (s, l), win, indices)?;
                Ok((Storage::Cpu(v), i.map(Storage::Cpu)))
            }
            Storage::Cuda(s) => {
                let (v, i) = cuda::max_pool(op, (s, l), win, indices)?;
                Ok((Storage::Cuda(v), i.map(Storage::Cuda)))
            }
        }
    }

    /// The gradient of a max pooling over `win` with respect to its input (of
    /// `input_shape`), from the output's gradient and the forward's indices.
    pub(crate) fn max_pool_backward(
        op: &'static str,
        (dy, ldy): View,
        (idx, li): View,
        win: &Windows,
        input_shape: &[usize],
    ) -> Result<Storage> {
        match Storage::one_device(op, [dy, idx])? {
            OnDevice::Cpu([dy, idx]) => {
                cpu::max_pool_backward(op, (dy, ldy), (idx, li), win, input_shape).map(Storage::Cpu)
            }
            OnDevice::Cuda([dy, idx]) => {
                cuda::max_pool_backward(op, (dy, ldy), (idx, li), win, input_shape)
                    .map(Storage::Cuda)
            }
        }
    }

    /// Average pooling of images over `win`, dividing by `area` (`None`: each window's size).
    pub(crate) fn avg_pool(
        &self,
        op: &'static str,
        l: &Layout,
        win: &Windows,
        area: Option<usize>,
    ) -> Result<Storage> {
        match self {
            Storage::Cpu(s) => cpu::avg_pool(op, (s, l), win, area).map(Storage::Cpu),
            Storage::Cuda(s) => cuda::avg_pool(op, (s, l), win, area).map(Storage::Cuda),
        }
    }

    /// The gradient of an average pooling with respect to its input (of `input_shape`).
    pub(crate) fn avg_pool_backward(
        &self,
        op: &'static str,
        l: &Layout,
        win: &Windows,
        area: Option<usize>,
        input_shape: &[usize],
    ) -> Result<Storage> {
        match self {
            Storage::Cpu(s) => {
                cpu::avg_pool_backward(op, (s, l), win, area, input_shape).map(Storage::Cpu)
            }
            Storage::Cuda(s) => {
                cuda::avg_pool_backward(op, (s, l), win, area, input_shape).map(Storage::Cuda)
            }
        }
    }

    /// The last two dimensions padded through the row and column maps.
    pub(crate) fn pad(&self, l: &Layout, maps: PadMaps) -> Result<Storage> {
        match self {
            Storage::Cpu(s) => cpu::pad((s, l), maps).map(Storage::Cpu),
            Storage::Cuda(s) => cuda::pad((s, l), maps).map(Storage::Cuda),
        }
    }

    /// The adjoint of [`Storage::pad`]: the gradient added back onto the positions of
    /// `input_shape` it copied.
    pub(crate) fn pad_backward(
        &self,
        l: &Layout,
        maps: PadMaps,
        input_shape: &[usize],
    ) -> Result<Storage> {
        match self {
            Storage::Cpu(s) => cpu::pad_backward((s, l), maps, input_shape).map(Storage::Cpu),
            Storage::Cuda(s) => cuda::pad_backward((s, l), maps, input_shape).map(Storage::Cuda),
        }
    }

    // ------------------------------------------------------------ indexing, embeddings, cat

    /// The slices `l` selects at the 1-D i64 `indices` along `dim`, in their order.
    pub(crate) fn index_select(
        &self,
        l: &Layout,
        dim: usize,
        (indices, li): View,
    ) -> Result<Storage> {
        match Storage::one_device("index_select", [self, indices])? {
            OnDevice::Cpu([x, i]) => cpu::index_select(x, l, dim, (i, li)).map(Storage::Cpu),
            OnDevice::Cuda([x, i]) => cuda::index_select(x, l, dim, (i, li)).map(Storage::Cuda),
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
    pub(crate) fn gather(&self, l: &Layout, dim: usize, (index, li): View) -> Result<Storage> {
        match Storage::one_device("gather", [self, index])? {
            OnDevice::Cpu([x, i]) => cpu::gather(x, l, dim, (i, li)).map(Storage::Cpu),
            OnDevice::Cuda([x, i]) => cuda::gather(x, l, dim, (i, li)).map(Storage::Cuda),
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
        (codes, lc): View,
        sizes: &[[usize; 2]],
    ) -> Result<Storage> {
        match Storage::one_device("embeddings_cat_backward", [self, codes])? {
            OnDevice::Cpu([dy, c]) => {
                cpu::embeddings_cat_backward(dy, l, (c, lc), sizes).map(Storage::Cpu)
            }
            OnDevice::Cuda([dy, c]) => {
                cuda::embeddings_cat_backward(dy, l, (c, lc), sizes).map(Storage::Cuda)
            }
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
    pub(crate) fn matmul((a, la): View, (b, lb): View) -> Result<Storage> {
        match Storage::one_device("matmul", [a, b])? {
            OnDevice::Cpu([a, b]) => cpu::matmul(a, la, b, lb).map(Storage::Cpu),
            OnDevice::Cuda([a, b]) => cuda::matmul(a, la, b, lb).map(Storage::Cuda),
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

    /// One SGD-with-momentum step on `p` and its momentum buffer, in place.
    pub(crate) fn sgd_step(
        p: &mut Storage,
        (g, lg): View,
        buf: &mut Storage,
        h: SgdStep,
    ) -> Result<()> {
        match (p, g, buf) {
            (Storage::Cpu(p), Storage::Cpu(g), Storage::Cpu(b)) => cpu::sgd_step(p, (g, lg), b, h),
            (Storage::Cuda(p), Storage::Cuda(g), Storage::Cuda(b)) => {
                cuda::sgd_step(p, (g, lg), b, h)
            }
            (p, g, b) => Err(p.mismatch("sgd_step", &[g, b])),
        }
    }

    /// One AdamW step on each parameter, in place (all on one device; the caller checked).
    pub(crate) fn adamw_steps(updates: Vec<AdamBuffers<'_, Storage>>) -> Result<()> {
        const OP: &str = "adamw_step";
        match updates.first().map(|u| u.p.device()) {
            None => Ok(()),
            Some(Device::Cpu) => cpu::adamw_steps(
                updates
                    .into_iter()
                    .map(|u| u.cpu(OP))
                    .collect::<Result<_>>()?,
            ),
            Some(Device::Cuda(_)) => cuda::adamw_steps(
                updates
                    .into_iter()
                    .map(|u| u.cuda(OP))
                    .collect::<Result<_>>()?,
            ),
        }
    }

    /// Inverted dropout: each element kept when its Philox draw is below `threshold` (24-bit),
    /// and multiplied by `scale`.
    pub(crate) fn dropout(
        (x, l): View,
        threshold: u32,
        scale: f64,
        rng: Philox,
    ) -> Result<Storage> {
        match x {
            Storage::Cpu(s) => cpu::dropout((s, l), threshold, scale, rng).map(Storage::Cpu),
            Storage::Cuda(s) => cuda::dropout((s, l), threshold, scale, rng).map(Storage::Cuda),
        }
    }

    /// Batch norm over `[n, c, s]`: `[y, mean, biased var]`, and with `running` the layer's
    /// running statistics updated in place (they live on `x`'s device; the caller checked).
    pub(crate) fn batch_norm(
        (x, lx): View,
        ((w, lw), (b, lb)): (View, View),
        dims: [usize; 3],
        eps: f32,
        running: Option<Running<'_, Storage>>,
    ) -> Result<[Storage; 3]> {
        const OP: &str = "batch_norm";
        match (Storage::one_device(OP, [x, w, b])?, running) {
            (OnDevice::Cpu([x, w, b]), r) => {
                let r = r.map(|r| r.cpu(OP)).transpose()?;
                let out = cpu::batch_norm((x, lx), ((w, lw), (b, lb)), dims, eps, r)?;
                Ok(out.map(Storage::Cpu))
            }
            (OnDevice::Cuda([x, w, b]), r) => {
                let r = r.map(|r| r.cuda(OP)).transpose()?;
                let out = cuda::batch_norm((x, lx), ((w, lw), (b, lb)), dims, eps, r)?;
                Ok(out.map(Storage::Cuda))
            }
        }
    }

    /// `[dx, d_weight, d_bias]` of batch norm from dy, x, the weight and the saved statistics.
    pub(crate) fn batch_norm_backward(
        (dy, ldy): View,
        (x, lx): View,
        (w, lw): View,
        ((m, lm), (v, lv)): (View, View),
        dims: [usize; 3],
        eps: f32,
    ) -> Result<[Storage; 3]> {
        match Storage::one_device("batch_norm_backward", [dy, x, w, m, v])? {
            OnDevice::Cpu([dy, x, w, m, v]) => {
                let out = cpu::batch_norm_backward(
                    (dy, ldy),
                    (x, lx),
                    (w, lw),
                    ((m, lm), (v, lv)),
                    dims,
                    eps,
                )?;
                Ok(out.map(Storage::Cpu))
            }
            OnDevice::Cuda([dy, x, w, m, v]) => {
                let out = cuda::batch_norm_backward(
                    (dy, ldy),
                    (x, lx),
                    (w, lw),
                    ((m, lm), (v, lv)),
                    dims,
                    eps,
                )?;
                Ok(out.map(Storage::Cuda))
            }
        }
    }

    /// `x * scale[c] + shift[c]` over `[n, c, s]`.
    pub(crate) fn channel_affine(
        (x, lx): View,
        ((a, la), (b, lb)): (View, View),
        dims: [usize; 3],
    ) -> Result<Storage> {
        match Storage::one_device("channel_affine", [x, a, b])? {
            OnDevice::Cpu([x, a, b]) => {
                cpu::channel_affine((x, lx), ((a, la), (b, lb)), dims).map(Storage::Cpu)
            }
            OnDevice::Cuda([x, a, b]) => {
                cuda::channel_affine((x, lx), ((a, la), (b, lb)), dims).map(Storage::Cuda)
            }
        }
    }

    /// `[scale, shift]` of the inference affine from `[weight, bias, mean, var]`.
    pub(crate) fn batch_norm_fold(all: [View; 4], eps: f32) -> Result<[Storage; 2]> {
        let [(w, lw), (b, lb), (m, lm), (v, lv)] = all;
        match Storage::one_device("batch_norm_fold", [w, b, m, v])? {
            OnDevice::Cpu([w, b, m, v]) => {
                let out = cpu::batch_norm_fold([(w, lw), (b, lb), (m, lm), (v, lv)], eps)?;
                Ok(out.map(Storage::Cpu))
            }
            OnDevice::Cuda([w, b, m, v]) => {
                let out = cuda::batch_norm_fold([(w, lw), (b, lb), (m, lm), (v, lv)], eps)?;
                Ok(out.map(Storage::Cuda))
            }
        }
    }

    /// `(dx, d_scale (with x), d_shift)` of the channel affine.
    pub(crate) fn channel_affine_backward(
        (dy, ldy): View,
        x: Option<View>,
        (a, la): View,
        dims: [usize; 3],
    ) -> Result<(Storage, Option<Storage>, Storage)> {
        const OP: &str = "channel_affine_backward";
        // x, when given, is checked with the others; without it dy stands in for it.
        let (xs, lx) = x.unwrap_or((dy, ldy));
        match Storage::one_device(OP, [dy, a, xs])? {
            OnDevice::Cpu([dy, a, xs]) => {
                let x = x.map(|_| (xs, lx));
                let (dx, da, db) = cpu::channel_affine_backward((dy, ldy), x, (a, la), dims)?;
                Ok((Storage::Cpu(dx), da.map(Storage::Cpu), Storage::Cpu(db)))
            }
            OnDevice::Cuda([dy, a, xs]) => {
                let x = x.map(|_| (xs, lx));
                let (dx, da, db) = cuda::channel_affine_backward((dy, ldy), x, (a, la), dims)?;
                Ok((Storage::Cuda(dx), da.map(Storage::Cuda), Storage::Cuda(db)))
            }
        }
    }
}

impl<'a> Running<'a, Storage> {
    /// The running statistics as host storage, or the error naming their device.
    fn cpu(self, op: &'static str) -> Result<Running<'a, CpuStorage>> {
        match (self.mean, self.var) {
            (Storage::Cpu(mean), Storage::Cpu(var)) => Ok(Running {
                mean,
                var,
                momentum: self.momentum,
            }),
            (mean, var) => Err(mean.mismatch(op, &[var])),
        }
    }

    /// The running statistics as GPU storage, or the error naming their device.
    fn cuda(self, op: &'static str) -> Result<Running<'a, CudaStorage>> {
        match (self.mean, self.var) {
            (Storage::Cuda(mean), Storage::Cuda(var)) => Ok(Running {
                mean,
                var,
                momentum: self.momentum,
            }),
            (mean, var) => Err(mean.mismatch(op, &[var])),
        }
    }
}

impl<'a> AdamBuffers<'a, Storage> {
    /// The buffers as host storage, or the error naming the device of one that is not.
    fn cpu(self, op: &'static str) -> Result<AdamBuffers<'a, CpuStorage>> {
        match (self.p, self.g.0, self.m, self.v) {
            (Storage::Cpu(p), Storage::Cpu(g), Storage::Cpu(m), Storage::Cpu(v)) => {
                Ok(AdamBuffers {
                    p,
                    g: (g, self.g.1),
                    m,
                    v,
                    step: self.step,
                })
            }
            (p, g, m, v) => Err(p.mismatch(op, &[g, m, v])),
        }
    }

    /// The buffers as GPU storage, or the error naming the device of one that is not.
    fn cuda(self, op: &'static str) -> Result<AdamBuffers<'a, CudaStorage>> {
        match (self.p, self.g.0, self.m, self.v) {
            (Storage::Cuda(p), Storage::Cuda(g), Storage::Cuda(m), Storage::Cuda(v)) => {
                Ok(AdamBuffers {
                    p,
                    g: (g, self.g.1),
                    m,
                    v,
                    step: self.step,
                })
            }
            (p, g, m, v) => Err(p.mismatch(op, &[g, m, v])),
        }
    }
}
