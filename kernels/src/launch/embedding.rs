//! Launchers of `embedding.cu`: index_select (embedding lookups) with a range check that
//! reports instead of reading out of bounds, index_add (their gradient) by atomics or by
//! sorted segments, and gather and scatter_add along any dimension (cross-entropy's pick of
//! each target and its gradient).
use super::{cfg_blocks, cfg_elems, contiguous_strides, fits, u32_of, u32s, StridedLayout};
use crate::sources::EMBEDDING;
use crate::{Error, Gpu, Result};
use cudarc::driver::{CudaSlice, CudaView, PushKernelArg};

/// Threads per segment block of the sorted index_add.
const SEG_THREADS: u32 = 128;

/// How [`Gpu::index_add`] adds rows that share an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Accumulate {
    /// Atomic adds: fastest; rows sharing an index are summed in any order.
    #[default]
    Atomic,
    /// Positions sorted by index, each index's rows summed in position order by one thread:
    /// the same result on every run, and the CPU's order.
    Sorted,
}

impl Gpu {
    /// A fresh "no bad index" flag (0), zeroed on the device: no copy from the host.
    pub(crate) fn bad_flag(&self) -> Result<CudaSlice<u64>> {
        Ok(self.stream().alloc_zeros::<u64>(1)?)
    }

    /// Reads the flag back: an error naming the first out-of-range position p (the kernels
    /// store `!p`, so that the first position is the largest value), if any.
    pub(crate) fn check_flag(&self, flag: &CudaSlice<u64>) -> Result<()> {
        match self.stream().clone_dtoh(flag)?[0] {
            0 => Ok(()),
            flipped => Err(Error::IndexOutOfRange { position: !flipped }),
        }
    }

    /// `y[o, k, i] = x[o, idx[k], i]` for `x` `[outer, size, inner]`. An index outside
    /// `[0, size)` is an [`Error::IndexOutOfRange`] (nothing is read out of bounds).
    pub fn index_select(
        &self,
        [outer, size, inner]: [usize; 3],
        x: &CudaView<'_, f32>,
        idx: &CudaView<'_, i64>,
        y: &mut CudaSlice<f32>,
    ) -> Result<()> {
        let k = idx.len();
        fits("index_select", x.len(), (outer * size * inner) as u64)?;
        fits("index_select", y.len(), (outer * k * inner) as u64)?;
        let dims = u32s("index_select size", [outer, size, inner, k])?;
        let bad = self.bad_flag()?;
        let f = self.function(EMBEDDING, "index_select_f32")?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&dims[0]).arg(&dims[1]).arg(&dims[2]).arg(&dims[3]);
        b.arg(x).arg(idx).arg(y).arg(&bad);
        // SAFETY: buffers checked; indices are range-checked in the kernel before any read.
        unsafe { b.launch(cfg_elems((outer * k * inner) as u64)) }?;
        self.check_flag(&bad)
    }

    /// `dst[o, idx[k], i] += src[o, k, i]`. `Sorted` needs `outer` = 1 (an embedding's
    /// gradient) and sorts the indices on the host. An index out of range is skipped by the
    /// kernel either way; it is reported unless `known_in_range` (the indices already passed
    /// a check against `size`, as an embedding's did in its forward pass), which saves a
    /// copy back to the host and the wait for it.
    pub fn index_add(
        &self,
        [outer, size, inner]: [usize; 3],
        idx: &CudaView<'_, i64>,
        src: &CudaView<'_, f32>,
        dst: &mut CudaSlice<f32>,
        how: Accumulate,
        known_in_range: bool,
    ) -> Result<()> {
        let k = idx.len();
        fits("index_add", src.len(), (outer * k * inner) as u64)?;
        fits("index_add", dst.len(), (outer * size * inner) as u64)?;
        if how == Accumulate::Sorted {
            if outer != 1 {
                return Err(Error::Invalid(
                    "the sorted index_add adds along dimension 0 only".into(),
                ));
            }
            return self.index_add_sorted([size, inner], idx, src, dst);
        }
        let dims = u32s("index_select size", [outer, size, inner, k])?;
        let bad = self.bad_flag()?;
        let f = self.function(EMBEDDING, "index_add_atomic_f32")?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&dims[0]).arg(&dims[1]).arg(&dims[2]).arg(&dims[3]);
        b.arg(idx).arg(src).arg(dst).arg(&bad);
        // SAFETY: buffers checked; the kernel range-checks each index before its add.
        unsafe { b.launch(cfg_elems((outer * k * inner) as u64)) }?;
        if known_in_range {
            return Ok(());
        }
        self.check_flag(&bad)
    }

    fn index_add_sorted(
        &self,
        [size, inner]: [usize; 2],
        idx: &CudaView<'_, i64>,
        src: &CudaView<'_, f32>,
        dst: &mut CudaSlice<f32>,
    ) -> Result<()> {
        let host = self.stream().clone_dtoh(idx)?;
        if let Some(position) = host.iter().position(|&i| i < 0 || i as usize >= size) {
            return Err(Error::IndexOutOfRange {
                position: position as u64,
            });
        }
        let mut order: Vec<u32> = (0..u32_of("indices", host.len())?).collect();
        order.sort_by_key(|&p| host[p as usize]); // stable: positions stay in order
        let mut seg_start: Vec<u32> = (0..order.len())
            .filter(|&j| j == 0 || host[order[j] as usize] != host[order[j - 1] as usize])
            .map(|j| j as u32)
            .collect();
        let n_seg = seg_start.len();
        seg_start.push(order.len() as u32);
        if n_seg == 0 {
            return Ok(());
        }
        let (order_d, seg_d) = (
            self.stream().clone_htod(&order)?,
            self.stream().clone_htod(&seg_start)?,
        );
        let (inner32, seg32) = (u32_of("inner", inner)?, u32_of("segments", n_seg)?);
        let f = self.function(EMBEDDING, "index_add_sorted_f32")?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&inner32)
            .arg(&seg32)
            .arg(idx)
            .arg(&order_d)
            .arg(&seg_d)
            .arg(src)
            .arg(dst);
        // SAFETY: every index was checked in range on the host; segments cover `order`.
        unsafe { b.launch(cfg_blocks(n_seg.min(1 << 16), SEG_THREADS)?) }?;
        Ok(())
    }

    /// torch.gather along `dim`: `y[t] = x[.., idx[t], ..]` for every element t of the index
    /// (row-major over its shape), `x` seen through its full layout `lx`, the index through
    /// `li` (its rank that of `x`, no larger outside `dim`). An index out of range reads
    /// nothing and is an [`Error::IndexOutOfRange`].
    pub fn gather(
        &self,
        (lx, x): (&StridedLayout, &CudaView<'_, f32>),
        (li, idx): (&StridedLayout, &CudaView<'_, i64>),
        dim: usize,
        y: &mut CudaSlice<f32>,
    ) -> Result<()> {
        let (over, size) = along(lx, li, dim, x.len(), idx.len())?;
        let n = li.elem_count();
        fits("gather", y.len(), n)?;
        let (d, s) = (dim as i32, u32_of("size", size)?);
        let bad = self.bad_flag()?;
        let f = self.function(EMBEDDING, "gather_f32")?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&n)
            .arg(&over)
            .arg(li)
            .arg(&d)
            .arg(&s)
            .arg(x)
            .arg(idx)
            .arg(y)
            .arg(&bad);
        // SAFETY: every view lies inside its buffer and moved positions stay inside x's
        // extent along `dim` (checked in `along`; the kernel range-checks each index).
        unsafe { b.launch(cfg_elems(n)) }?;
        self.check_flag(&bad)
    }

    /// torch.scatter_add along `dim` into `dst` (dense, of shape `dst_shape`): for every
    /// element t of the index, `dst[.., idx[t], ..] += src[t]`, `src` read through `ls` (no
    /// smaller than the index). Range-checked unless `known_in_range`.
    #[allow(clippy::too_many_arguments)]
    pub fn scatter_add(
        &self,
        dst_shape: &[usize],
        (li, idx): (&StridedLayout, &CudaView<'_, i64>),
        (ls, src): (&StridedLayout, &CudaView<'_, f32>),
        dim: usize,
        dst: &mut CudaSlice<f32>,
        known_in_range: bool,
    ) -> Result<()> {
        let dense = StridedLayout::new(dst_shape, &contiguous_strides(dst_shape), 0)?;
        let (over, size) = along(&dense, li, dim, dst.len(), idx.len())?;
        let (ss, is) = (ls.shape(), li.shape());
        if ss.len() != is.len() || ss.iter().zip(&is).any(|(s, i)| s < i) {
            return Err(Error::Invalid(format!(
                "scatter_add: src {ss:?} is smaller than the index {is:?}"
            )));
        }
        fits("scatter_add src", src.len(), ls.span())?;
        let src_over = StridedLayout::new(&is, &ls.strides(), ls.offset())?;
        let n = li.elem_count();
        let (d, s) = (dim as i32, u32_of("size", size)?);
        let bad = self.bad_flag()?;
        let f = self.function(EMBEDDING, "scatter_add_f32")?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&n)
            .arg(&over)
            .arg(li)
            .arg(&src_over)
            .arg(&d)
            .arg(&s)
            .arg(idx)
            .arg(src)
            .arg(dst);
        b.arg(&bad);
        // SAFETY: every view lies inside its buffer and moved positions stay inside dst
        // (checked in `along`); the kernel range-checks each index.
        unsafe { b.launch(cfg_elems(n)) }?;
        if known_in_range {
            return Ok(());
        }
        self.check_flag(&bad)
    }
}

/// For gather and scatter_add: checks that the data view `lx` and the index view `li` lie in
/// their buffers and fit together (same rank, the index no larger outside `dim`), and returns
/// the data's layout seen over the index's shape and the data's size along `dim`.
fn along(
    lx: &StridedLayout,
    li: &StridedLayout,
    dim: usize,
    x_len: usize,
    idx_len: usize,
) -> Result<(StridedLayout, usize)> {
    let (xs, is) = (lx.shape(), li.shape());
    let fits_x =
        xs.len() == is.len() && dim < xs.len() && (0..xs.len()).all(|d| d == dim || is[d] <= xs[d]);
    if !fits_x {
        return Err(Error::Invalid(format!(
            "gather/scatter: index {is:?} does not fit data {xs:?} along dimension {dim}"
        )));
    }
    fits("gather/scatter data", x_len, lx.span())?;
    fits("gather/scatter index", idx_len, li.span())?;
    let over = StridedLayout::new(&is, &lx.strides()[..is.len()], lx.offset())?;
    Ok((over, xs[dim]))
}
