//! Launcher of `dropout.cu`.
use super::{cfg_elems, check_view, fits, StridedLayout};
use crate::sources::DROPOUT;
use crate::{Gpu, Result};
use cudarc::driver::{CudaSlice, CudaView, PushKernelArg};

impl Gpu {
    /// `y = x * (kept ? scale : 0)` with element i kept when the top 24 bits of word i of the
    /// Philox stream `(seed, offset)` are below `threshold` (the CPU path's rule, so the same
    /// stream drops the same elements on both devices). `x` is read through its layout `lx`,
    /// element i of its row-major order taking word i.
    pub fn dropout(
        &self,
        (lx, x): (&StridedLayout, &CudaView<'_, f32>),
        y: &mut CudaSlice<f32>,
        (seed, offset): (u64, u64),
        threshold: u32,
        scale: f32,
    ) -> Result<()> {
        let n = lx.elem_count();
        check_view("dropout", lx, x.len(), n)?;
        fits("dropout", y.len(), n)?;
        let f = self.function(DROPOUT, "dropout_f32")?;
        let (s0, s1, o0, o1) = (
            seed as u32,
            (seed >> 32) as u32,
            offset as u32,
            (offset >> 32) as u32,
        );
        let mut b = self.stream().launch_builder(&f);
        b.arg(&n)
            .arg(lx)
            .arg(x)
            .arg(y)
            .arg(&s0)
            .arg(&s1)
            .arg(&o0)
            .arg(&o1);
        b.arg(&threshold).arg(&scale);
        // SAFETY: x's view reads inside its buffer, y holds n; one thread per block of four.
        unsafe { b.launch(cfg_elems(n.div_ceil(4))) }?;
        Ok(())
    }
}
