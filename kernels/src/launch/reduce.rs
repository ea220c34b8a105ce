//! Launchers of `reduce.cu`: sums, extrema and softmax over the middle axis of a contiguous
//! `[outer, r, inner]` tensor.
use super::{cfg_elems, fits, launch_blocks, u32_of, NULL};
use crate::sources::REDUCE;
use crate::{Error, Gpu, Result};
use cudarc::driver::{CudaSlice, CudaView, PushKernelArg};

/// Threads per block of the row reductions (and of the column sums: 8 lanes of 32).
const ROW_THREADS: u32 = 256;

/// Columns a block of the column sums takes (`COL_TILE` in `reduce.cu`).
const COL_TILE: usize = 32;

/// Which extremum [`Gpu::extremum`] finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extremum {
    Max,
    Min,
}

impl Gpu {
    /// `y[o, i] = scale * sum_j x[o, j, i]`, accumulated in double.
    pub fn sum_mid(
        &self,
        [outer, r, inner]: [usize; 3],
        x: &CudaView<'_, f32>,
        y: &mut CudaSlice<f32>,
        scale: f32,
    ) -> Result<()> {
        fits("sum", x.len(), (outer * r * inner) as u64)?;
        fits("sum", y.len(), (outer * inner) as u64)?;
        let r32 = u32_of("reduced size", r)?;
        if inner == 1 {
            let f = self.function(REDUCE, "sum_rows_f32")?;
            let mut b = self.stream().launch_builder(&f);
            b.arg(&r32).arg(x).arg(y).arg(&scale);
            // SAFETY: one block per row of r elements; x holds outer rows, y outer outputs.
            unsafe { launch_blocks(&mut b, outer, ROW_THREADS) }?;
        } else {
            let (o32, i32) = (u32_of("outer", outer)?, u32_of("inner", inner)?);
            let f = self.function(REDUCE, "sum_cols_f32")?;
            let mut b = self.stream().launch_builder(&f);
            b.arg(&o32).arg(&r32).arg(&i32).arg(x).arg(y).arg(&scale);
            // SAFETY: sizes checked against both buffers above; a block per (outer, tile of
            // COL_TILE columns), as the kernel expects.
            let blocks = outer * inner.div_ceil(COL_TILE);
            unsafe { launch_blocks(&mut b, blocks, ROW_THREADS) }?;
        }
        Ok(())
    }

    /// The maximum or minimum along the middle axis and/or its first index (NaN wins).
    pub fn extremum(
        &self,
        which: Extremum,
        [outer, r, inner]: [usize; 3],
        x: &CudaView<'_, f32>,
        values: Option<&mut CudaSlice<f32>>,
        indices: Option<&mut CudaSlice<i64>>,
    ) -> Result<()> {
        if r == 0 {
            return Err(Error::Invalid("an extremum over an empty axis".into()));
        }
        let outputs = (outer * inner) as u64;
        fits("extremum", x.len(), (outer * r * inner) as u64)?;
        let name = match which {
            Extremum::Max => "max_mid_f32",
            Extremum::Min => "min_mid_f32",
        };
        let (o32, r32, i32) = (
            u32_of("outer", outer)?,
            u32_of("reduced size", r)?,
            u32_of("inner", inner)?,
        );
        let f = self.function(REDUCE, name)?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&o32).arg(&r32).arg(&i32).arg(x);
        match values {
            Some(v) => {
                fits(name, v.len(), outputs)?;
                b.arg(v)
            }
            None => b.arg(&NULL),
        };
        match indices {
            Some(i) => {
                fits(name, i.len(), outputs)?;
                b.arg(i)
            }
            None => b.arg(&NULL),
        };
        // SAFETY: sizes checked; a null output is skipped by the kernel.
        unsafe { b.launch(cfg_elems(outputs)) }?;
        Ok(())
    }

    /// Softmax (or, with `log`, log-softmax) of each row of a contiguous `[rows, cols]`.
    pub fn softmax_rows(
        &self,
        [rows, cols]: [usize; 2],
        x: &CudaView<'_, f32>,
        y: &mut CudaSlice<f32>,
        log: bool,
    ) -> Result<()> {
        fits("softmax", x.len(), (rows * cols) as u64)?;
        fits("softmax", y.len(), (rows * cols) as u64)?;
        let c32 = u32_of("cols", cols)?;
        let take_log = i32::from(log);
        let f = self.function(REDUCE, "softmax_rows_f32")?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&c32).arg(x).arg(y).arg(&take_log);
        // SAFETY: one block per row of cols elements, both buffers checked.
        unsafe { launch_blocks(&mut b, rows, ROW_THREADS) }?;
        Ok(())
    }
}
