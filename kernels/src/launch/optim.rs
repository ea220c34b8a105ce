//! Launchers of `optim.cu`: fused AdamW (a group of parameters a launch) and SGD steps, in
//! place.
use super::{cfg_elems, fits};
use crate::sources::OPTIM;
use crate::{Gpu, Result};
use cudarc::driver::{CudaSlice, CudaView, DevicePtr, DevicePtrMut, DeviceRepr, PushKernelArg};

/// One AdamW step: `m ← β1 m + (1-β1) g`, `v ← β2 v + (1-β2) g²`,
/// `p ← p · decay - step_size · m / (sqrt(v) + eps)`, with
/// `step_size = lr · sqrt(1 - β2^t) / (1 - β1^t)` (PyTorch 1.0's Adam, as fastai v1 ran it)
/// and `decay = 1 - lr · wd`, the decoupled weight decay (Loshchilov & Hutter 2019).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    pub decay: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub step_size: f32,
    pub eps: f32,
}

/// One parameter of a grouped AdamW step: the parameter, its gradient, its two moments
/// (all of one length) and its step.
pub struct AdamParam<'a> {
    pub p: &'a mut CudaSlice<f32>,
    pub g: CudaView<'a, f32>,
    pub m: &'a mut CudaSlice<f32>,
    pub v: &'a mut CudaSlice<f32>,
    pub step: AdamStep,
}

/// Parameters a launch updates (`ADAM_GROUP` in `optim.cu`).
pub const ADAM_GROUP: usize = 24;

/// `AdamGroup` of `optim.cu`, field for field.
#[repr(C)]
#[derive(Clone, Copy)]
struct AdamGroup {
    count: u32,
    start: [u64; ADAM_GROUP + 1],
    p: [u64; ADAM_GROUP],
    g: [u64; ADAM_GROUP],
    m: [u64; ADAM_GROUP],
    v: [u64; ADAM_GROUP],
    decay: [f32; ADAM_GROUP],
    b1: [f32; ADAM_GROUP],
    b2: [f32; ADAM_GROUP],
    step_size: [f32; ADAM_GROUP],
    eps: [f32; ADAM_GROUP],
}

// SAFETY: `repr(C)` plain data with the field order, types and alignment of the C struct
// (device pointers are 64-bit, as `u64`).
unsafe impl DeviceRepr for AdamGroup {}

impl Gpu {
    /// One AdamW step on each of `params`, in place, [`ADAM_GROUP`] parameters a launch.
    pub fn adamw(&self, params: &mut [AdamParam<'_>]) -> Result<()> {
        let f = self.function(OPTIM, "adamw_f32")?;
        for group in params.chunks_mut(ADAM_GROUP) {
            let mut t = AdamGroup {
                count: group.len() as u32,
                start: [0; ADAM_GROUP + 1],
                p: [0; ADAM_GROUP],
                g: [0; ADAM_GROUP],
                m: [0; ADAM_GROUP],
                v: [0; ADAM_GROUP],
                decay: [0.0; ADAM_GROUP],
                b1: [0.0; ADAM_GROUP],
                b2: [0.0; ADAM_GROUP],
                step_size: [0.0; ADAM_GROUP],
                eps: [0.0; ADAM_GROUP],
            };
            let stream = self.stream();
            for (j, a) in group.iter_mut().enumerate() {
                let n = a.p.len() as u64;
                for len in [a.g.len(), a.m.len(), a.v.len()] {
                    fits("adamw", len, n)?;
                }
                t.start[j + 1] = t.start[j] + n;
                // The pointers' guards only order uses across streams, which this
                // context's one stream does not need (event tracking is off).
                t.p[j] = a.p.device_ptr_mut(stream).0;
                t.g[j] = a.g.device_ptr(stream).0;
                t.m[j] = a.m.device_ptr_mut(stream).0;
                t.v[j] = a.v.device_ptr_mut(stream).0;
                let h = a.step;
                (t.decay[j], t.b1[j], t.b2[j]) = (h.decay, h.beta1, h.beta2);
                (t.step_size[j], t.eps[j]) = (h.step_size, h.eps);
            }
            let total = t.start[group.len()];
            if total == 0 {
                continue;
            }
            let mut b = stream.launch_builder(&f);
            b.arg(&t);
            // SAFETY: each parameter's four buffers hold its n elements (checked); they are
            // live now and freed only in stream order (after this kernel has run), and no
            // two of a group alias (the three written are `&mut` borrows).
            unsafe { b.launch(cfg_elems(total)) }?;
        }
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
