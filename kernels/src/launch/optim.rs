//! Launchers of `optim.cu`: fused AdamW and SGD steps, in place.
use super::{cfg_elems, fits};
use crate::sources::OPTIM;
use crate::{Gpu, Result};
use cudarc::driver::{CudaSlice, CudaView, PushKernelArg};

impl Gpu {
    /// One AdamW step on `p` with gradient `g` and moments `m`, `v`:
    /// `p <- p decay - step_size m / (sqrt(v) + eps)` after the moments' update.
    #[allow(clippy::too_many_arguments)]
    pub fn adamw(
        &self,
        p: &mut CudaSlice<f32>,
        g: &CudaView<'_, f32>,
        (m, v): (&mut CudaSlice<f32>, &mut CudaSlice<f32>),
        decay: f32,
        (b1, b2): (f32, f32),
        step_size: f32,
        eps: f32,
    ) -> Result<()> {
        let n = p.len() as u64;
        for len in [g.len(), m.len(), v.len()] {
            fits("adamw", len, n)?;
        }
        let f = self.function(OPTIM, "adamw_f32")?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&n)
            .arg(p)
            .arg(g)
            .arg(m)
            .arg(v)
            .arg(&decay)
            .arg(&b1)
            .arg(&b2);
        b.arg(&step_size).arg(&eps);
        // SAFETY: all four buffers hold n elements (checked).
        unsafe { b.launch(cfg_elems(n)) }?;
        Ok(())
    }

    /// One SGD-with-momentum step: `buf <- first ? g : momentum buf + g`, `p <- p decay - lr buf`.
    pub fn sgd(
        &self,
        p: &mut CudaSlice<f32>,
        g: &CudaView<'_, f32>,
        buf: &mut CudaSlice<f32>,
        (decay, lr, momentum): (f32, f32, f32),
        first: bool,
    ) -> Result<()> {
        let n = p.len() as u64;
        fits("sgd", g.len(), n)?;
        fits("sgd", buf.len(), n)?;
        let first = i32::from(first);
        let f = self.function(OPTIM, "sgd_f32")?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&n)
            .arg(p)
            .arg(g)
            .arg(buf)
            .arg(&decay)
            .arg(&lr)
            .arg(&momentum)
            .arg(&first);
        // SAFETY: the three buffers hold n elements (checked).
        unsafe { b.launch(cfg_elems(n)) }?;
        Ok(())
    }
}
