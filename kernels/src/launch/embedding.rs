//! Launchers of `embedding.cu`: index_select (embedding lookups) with a range check that
//! reports instead of reading out of bounds, index_add (their gradient) by atomics or by
//! sorted segments, and gather and scatter_add along any dimension (cross-entropy's pick of
//! each target and its gradient).
use super::{
    cfg_elems, contiguous_strides, fits, launch_blocks, u32_of, u32s, Divisor, StridedLayout,
};
use crate::sources::EMBEDDING;
use crate::{Error, Gpu, Result};
use cudarc::driver::{CudaSlice, CudaView, PushKernelArg};
use std::sync::atomic::{AtomicBool, Ordering};

/// Threads per segment block of the sorted index_add.
const SEG_THREADS: u32 = 128;

/// How [`Gpu::index_add`] adds rows that share an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Accumulate {
    /// The process's choice: `Sorted` for an add along dimension 0 (an embedding's
    /// gradient) once [`set_deterministic`] asked for it, `Atomic` otherwise.
    #[default]
    Auto,
    /// Atomic adds: fastest; rows sharing an index are summed in any order, so the last bits
    /// of a sum can differ from run to run.
    Atomic,
    /// Positions sorted by index, each index's rows summed in position order by one thread:
    /// the same result on every run, and the CPU's order. The indices are read back and
    /// sorted on the host, which waits for the GPU to reach them.
    Sorted,
}

/// The process's choice for [`Accumulate::Auto`] (see [`set_deterministic`]).
static DETERMINISTIC: AtomicBool = AtomicBool::new(false);

/// Makes [`Accumulate::Auto`] (the default) sum an index_add along dimension 0, the
/// embedding's backward, in sorted order, so that a model gives the same figures on every
/// run, as `torch.use_deterministic_algorithms` does for PyTorch's; atomics, the faster,
/// otherwise. scatter_add has only its atomic form (the pooling gradients are gathered, the
/// same on every run anyway).
pub fn set_deterministic(on: bool) {
    DETERMINISTIC.store(on, Ordering::Relaxed);
}

/// Whether [`set_deterministic`] asked for sums in a fixed order.
pub fn deterministic() -> bool {
    DETERMINISTIC.load(Ordering::Relaxed)
}

/// The indices of [`Gpu::index_select`] and [`Gpu::index_add`]: `n` of them, `stride`
/// elements apart from the start of `data` (a column of a `[batch, n_cat]` table of codes
/// is read in place with `stride = n_cat`).
pub struct Indices<'a> {
    pub data: CudaView<'a, i64>,
    pub n: usize,
    pub stride: usize,
}

impl Indices<'_> {
    fn check(&self, op: &str) -> Result<()> {
        if self.n > 0 {
            fits(op, self.data.len(), ((self.n - 1) * self.stride + 1) as u64)?;
        }
        Ok(())
    }
}

impl Gpu {
    /// `y[o, k, i] = x[o, idx[k], i]` for `x` `[outer, size, inner]`. An index outside
    /// `[0, size)` reads nothing and is an [`Error::IndexOutOfRange`].
    pub fn index_select(
        &self,
        [outer, size, inner]: [usize; 3],
        x: &CudaView<'_, f32>,
        idx: &Indices<'_>,
        y: &mut CudaSlice<f32>,
    ) -> Result<()> {
        let k = idx.n;
        idx.check("index_select indices")?;
        fits("index_select", x.len(), (outer * size * inner) as u64)?;
        fits("index_select", y.len(), (outer * k * inner) as u64)?;
        let dims = u32s("index_select size", [outer, size])?;
        let (inner_d, k_d) = (
            Divisor::new("index_select size", inner)?,
            Divisor::new("index_select size", k)?,
        );
        let stride = idx.stride as u64;
        let f = self.function(EMBEDDING, "index_select_f32")?;
        self.with_flag(|bad| {
            let mut b = self.stream().launch_builder(&f);
            b.arg(&dims[0]).arg(&dims[1]).arg(&inner_d).arg(&k_d);
            b.arg(x).arg(&idx.data).arg(&stride).arg(y).arg(bad);
            // SAFETY: buffers checked; indices are range-checked in the kernel before any read.
            unsafe { b.launch(cfg_elems((outer * k * inner) as u64)) }?;
            Ok(())
        })
    }

    /// `dst[o, idx[k], i] += src[o, k, i]`, `src` (of shape `[outer, k, inner]` flattened
    /// any way) read through its layout `ls`. `Sorted` needs `outer` = 1 (an embedding's
    /// gradient) and reads the indices back to sort them on the host. An index out of range
    /// is skipped by the atomic kernel, or refused by the sort before any launch, and
    /// reported either way.
    pub fn index_add(
        &self,
        [outer, size, inner]: [usize; 3],
        idx: &Indices<'_>,
        (ls, src): (&StridedLayout, &CudaView<'_, f32>),
        dst: &mut CudaSlice<f32>,
        how: Accumulate,
    ) -> Result<()> {
        let k = idx.n;
        idx.check("index_add indices")?;
        if ls.elem_count() != (outer * k * inner) as u64 {
            return Err(Error::Invalid(format!(
                "index_add: src {:?} does not hold {outer} x {k} x {inner} elements",
                ls.shape()
            )));
        }
        fits("index_add src", src.len(), ls.span())?;
        fits("index_add", dst.len(), (outer * size * inner) as u64)?;
        let how = match how {
            Accumulate::Auto if outer == 1 && DETERMINISTIC.load(Ordering::Relaxed) => {
                Accumulate::Sorted
            }
            Accumulate::Auto => Accumulate::Atomic,
            chosen => chosen,
        };
        if how == Accumulate::Sorted {
            if outer != 1 {
                return Err(Error::Invalid(
                    "the sorted index_add adds along dimension 0 only".into(),
                ));
            }
            return self.index_add_sorted([size, inner], idx, (ls, src), dst);
        }
        let dims = u32s("index_add size", [outer, size])?;
        let (inner_d, k_d) = (
            Divisor::new("index_add size", inner)?,
            Divisor::new("index_add size", k)?,
        );
        let stride = idx.stride as u64;
        let f = self.function(EMBEDDING, "index_add_atomic_f32")?;
        self.with_flag(|bad| {
            let mut b = self.stream().launch_builder(&f);
            b.arg(&dims[0]).arg(&dims[1]).arg(&inner_d).arg(&k_d);
            b.arg(&idx.data)
                .arg(&stride)
                .arg(ls)
                .arg(src)
                .arg(dst)
                .arg(bad);
            // SAFETY: buffers checked; the kernel range-checks each index before its add.
            unsafe { b.launch(cfg_elems((outer * k * inner) as u64)) }?;
            Ok(())
        })
    }

    fn index_add_sorted(
        &self,
        [size, inner]: [usize; 2],
        idx: &Indices<'_>,
        (ls, src): (&StridedLayout, &CudaView<'_, f32>),
        dst: &mut CudaSlice<f32>,
    ) -> Result<()> {
        let all = self.stream().clone_dtoh(&idx.data)?;
        let host: Vec<i64> = all
            .iter()
            .step_by(idx.stride.max(1))
            .take(idx.n)
            .copied()
            .collect();
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
        let stride = idx.stride as u64;
        let f = self.function(EMBEDDING, "index_add_sorted_f32")?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&inner32)
            .arg(&seg32)
            .arg(&idx.data)
            .arg(&stride)
            .arg(&order_d)
            .arg(&seg_d)
            .arg(ls)
            .arg(src)
            .arg(dst);
        // SAFETY: every index was checked in range on the host; segments cover `order`.
        unsafe { launch_blocks(&mut b, n_seg.min(1 << 16), SEG_THREADS) }?;
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
        let f = self.function(EMBEDDING, "gather_f32")?;
        self.with_flag(|bad| {
            let mut b = self.stream().launch_builder(&f);
            b.arg(&n).arg(&over).arg(li).arg(&d).arg(&s);
            b.arg(x).arg(idx).arg(y).arg(bad);
            // SAFETY: every view lies inside its buffer and moved positions stay inside x's
            // extent along `dim` (checked in `along`; the kernel range-checks each index).
            unsafe { b.launch(cfg_elems(n)) }?;
            Ok(())
        })
    }

    /// torch.scatter_add along `dim` into `dst` (dense, of shape `dst_shape`): for every
    /// element t of the index, `dst[.., idx[t], ..] += src[t]`, `src` read through `ls` (no
    /// smaller than the index). An index out of range adds nothing and is an
    /// [`Error::IndexOutOfRange`].
    pub fn scatter_add(
        &self,
        dst_shape: &[usize],
        (li, idx): (&StridedLayout, &CudaView<'_, i64>),
        (ls, src): (&StridedLayout, &CudaView<'_, f32>),
        dim: usize,
        dst: &mut CudaSlice<f32>,
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
        let f = self.function(EMBEDDING, "scatter_add_f32")?;
        self.with_flag(|bad| {
            let mut b = self.stream().launch_builder(&f);
            b.arg(&n).arg(&over).arg(li).arg(&src_over).arg(&d).arg(&s);
            b.arg(idx).arg(src).arg(dst).arg(bad);
            // SAFETY: every view lies inside its buffer and moved positions stay inside dst
            // (checked in `along`); the kernel range-checks each index.
            unsafe { b.launch(cfg_elems(n)) }?;
            Ok(())
        })
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
