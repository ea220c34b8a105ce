//! Launchers of `batch_norm.cu`: the fused training forward (with the running statistics'
//! update), the fused backward, and the inference affine with its channel sums.
use super::{cfg_elems, fits, launch_blocks, u32_of, Divisor, NULL};
use crate::sources::BATCH_NORM;
use crate::{Error, Gpu, Result};
use cudarc::driver::{CudaSlice, CudaView, PushKernelArg};

/// Threads of a channel's block: enough for its `n * s` elements, in whole warps, at most
/// 1024 (the kernels' `__launch_bounds__`). A BatchNorm1d over a batch of 512 rows needs 512,
/// not 1024 threads of which half would idle.
fn threads(n: usize, s: usize) -> u32 {
    (n * s).next_multiple_of(32).clamp(32, 1024) as u32
}

/// The running statistics a training forward updates in the same launch.
pub struct Running<'a> {
    pub mean: &'a mut CudaSlice<f32>,
    pub var: &'a mut CudaSlice<f32>,
    pub momentum: f32,
}

fn check(what: &str, [n, c, s]: [usize; 3], x: usize, per_channel: &[usize]) -> Result<()> {
    fits(what, x, (n * c * s) as u64)?;
    per_channel
        .iter()
        .try_for_each(|&l| fits(what, l, c as u64))
}

impl Gpu {
    /// Training forward on `x` `[N, C, S]`: `y`, and the batch's mean and biased variance per
    /// channel; with `running`, PyTorch's running-statistics update in the same launch.
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm_forward(
        &self,
        dims: [usize; 3],
        x: &CudaView<'_, f32>,
        (gamma, beta): (&CudaView<'_, f32>, &CudaView<'_, f32>),
        eps: f32,
        y: &mut CudaSlice<f32>,
        (mean, var): (&mut CudaSlice<f32>, &mut CudaSlice<f32>),
        running: Option<Running<'_>>,
    ) -> Result<()> {
        let lens = [gamma.len(), beta.len(), mean.len(), var.len()];
        check("batch_norm", dims, x.len(), &lens)?;
        fits("batch_norm", y.len(), (dims[0] * dims[1] * dims[2]) as u64)?;
        let [n, c, s] = dims;
        let (n32, c32, s32) = (u32_of("N", n)?, u32_of("C", c)?, u32_of("S", s)?);
        let momentum = running.as_ref().map_or(0.0, |r| r.momentum);
        let f = self.function(BATCH_NORM, "batch_norm_forward_f32")?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&n32)
            .arg(&c32)
            .arg(&s32)
            .arg(x)
            .arg(gamma)
            .arg(beta)
            .arg(&eps);
        b.arg(y).arg(mean).arg(var);
        match running {
            Some(r) => {
                fits("running_mean", r.mean.len(), c as u64)?;
                fits("running_var", r.var.len(), c as u64)?;
                b.arg(r.mean).arg(r.var).arg(&momentum)
            }
            None => b.arg(&NULL).arg(&NULL).arg(&0f32),
        };
        // SAFETY: one block per channel; every buffer checked against N, C, S above.
        unsafe { launch_blocks(&mut b, c, threads(n, s)) }?;
        Ok(())
    }

    /// Backward from `dy` with the forward's saved mean and variance: `dx`, `dgamma`, `dbeta`.
    /// `dy`'s images (each `[C, S]`, dense) lie `dy_image` elements apart: `C * S` when it
    /// is dense, more for a block of columns of a wider gradient, read in place.
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm_backward(
        &self,
        dims: [usize; 3],
        ((dy, dy_image), x): ((&CudaView<'_, f32>, usize), &CudaView<'_, f32>),
        gamma: &CudaView<'_, f32>,
        (mean, var): (&CudaView<'_, f32>, &CudaView<'_, f32>),
        eps: f32,
        dx: &mut CudaSlice<f32>,
        (dgamma, dbeta): (&mut CudaSlice<f32>, &mut CudaSlice<f32>),
    ) -> Result<()> {
        let lens = [
            gamma.len(),
            mean.len(),
            var.len(),
            dgamma.len(),
            dbeta.len(),
        ];
        check("batch_norm_backward", dims, x.len(), &lens)?;
        let total = (dims[0] * dims[1] * dims[2]) as u64;
        let [n, c, s] = dims;
        if dy_image < c * s {
            return Err(Error::Invalid(format!(
                "batch_norm_backward: images {dy_image} apart overlap images of {}",
                c * s
            )));
        }
        let dy_span = if n == 0 {
            0
        } else {
            (n - 1) * dy_image + c * s
        };
        let dy_image = dy_image as u64;
        fits("batch_norm_backward", dy.len(), dy_span as u64)?;
        fits("batch_norm_backward", dx.len(), total)?;
        let (n32, c32, s32) = (u32_of("N", n)?, u32_of("C", c)?, u32_of("S", s)?);
        let f = self.function(BATCH_NORM, "batch_norm_backward_f32")?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&n32)
            .arg(&c32)
            .arg(&s32)
            .arg(dy)
            .arg(&dy_image)
            .arg(x)
            .arg(gamma)
            .arg(mean)
            .arg(var);
        b.arg(&eps).arg(dx).arg(dgamma).arg(dbeta);
        // SAFETY: one block per channel; every buffer checked above.
        unsafe { launch_blocks(&mut b, c, threads(n, s)) }?;
        Ok(())
    }

    /// `y = x * scale[c] + shift[c]` on `[N, C, S]`.
    pub fn channel_affine(
        &self,
        [n, c, s]: [usize; 3],
        x: &CudaView<'_, f32>,
        (scale, shift): (&CudaView<'_, f32>, &CudaView<'_, f32>),
        y: &mut CudaSlice<f32>,
    ) -> Result<()> {
        let total = (n * c * s) as u64;
        check(
            "channel_affine",
            [n, c, s],
            x.len(),
            &[scale.len(), shift.len()],
        )?;
        fits("channel_affine", y.len(), total)?;
        let (c32, s32) = (Divisor::new("C", c)?, Divisor::new("S", s.max(1))?);
        let f = self.function(BATCH_NORM, "channel_affine_f32")?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&total)
            .arg(&c32)
            .arg(&s32)
            .arg(x)
            .arg(scale)
            .arg(shift)
            .arg(y);
        // SAFETY: buffers checked against N, C, S.
        unsafe { b.launch(cfg_elems(total)) }?;
        Ok(())
    }

    /// Batch norm's inference constants from its weight `w`, bias `b` and running `mean`
    /// and `var` (each `[C]`): `scale = w / sqrt(var + eps)`, `shift = b - mean * scale`.
    pub fn batch_norm_fold(
        &self,
        eps: f32,
        [w, b, mean, var]: [&CudaView<'_, f32>; 4],
        (scale, shift): (&mut CudaSlice<f32>, &mut CudaSlice<f32>),
    ) -> Result<()> {
        let c = w.len();
        for len in [b.len(), mean.len(), var.len(), scale.len(), shift.len()] {
            fits("batch_norm_fold", len, c as u64)?;
        }
        let c32 = u32_of("C", c)?;
        let f = self.function(BATCH_NORM, "batch_norm_fold_f32")?;
        let mut l = self.stream().launch_builder(&f);
        l.arg(&c32).arg(&eps).arg(w).arg(b).arg(mean).arg(var);
        l.arg(scale).arg(shift);
        // SAFETY: every buffer holds at least C elements (checked).
        unsafe { l.launch(cfg_elems(c as u64)) }?;
        Ok(())
    }

    /// Per-channel `sum dy` and, when `x` is given, `sum dy * x`.
    pub fn channel_sums(
        &self,
        dims: [usize; 3],
        dy: &CudaView<'_, f32>,
        x: Option<&CudaView<'_, f32>>,
        sum_dy: &mut CudaSlice<f32>,
        sum_dyx: Option<&mut CudaSlice<f32>>,
    ) -> Result<()> {
        check("channel_sums", dims, dy.len(), &[sum_dy.len()])?;
        let [n, c, s] = dims;
        let (n32, c32, s32) = (u32_of("N", n)?, u32_of("C", c)?, u32_of("S", s)?);
        let f = self.function(BATCH_NORM, "channel_sums_f32")?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&n32).arg(&c32).arg(&s32).arg(dy);
        match (x, sum_dyx) {
            (Some(x), Some(out)) => {
                check("channel_sums", dims, x.len(), &[out.len()])?;
                b.arg(x).arg(sum_dy).arg(out)
            }
            _ => b.arg(&NULL).arg(sum_dy).arg(&NULL),
        };
        // SAFETY: one block per channel; buffers checked; null x skips the product.
        unsafe { launch_blocks(&mut b, c, threads(n, s)) }?;
        Ok(())
    }
}
