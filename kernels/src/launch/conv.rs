//! Launchers of `conv.cu`: im2col, col2im (gather form) and the per-channel bias.
use super::{cfg_elems, fits, u32_of, Divisor};
use crate::sources::CONV;
use crate::{Gpu, Result};
use cudarc::driver::{CudaSlice, CudaView, CudaViewMut, DeviceRepr, PushKernelArg};

/// The shape of one convolution (`ConvGeometry` in `conv.cu`, field for field).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Input channels, height, width.
    pub c: u32,
    pub h: u32,
    pub w: u32,
    /// Kernel height and width.
    pub kh: u32,
    pub kw: u32,
    /// Stride.
    pub sh: u32,
    pub sw: u32,
    /// Zero padding.
    pub ph: u32,
    pub pw: u32,
    /// Output height and width.
    pub oh: u32,
    pub ow: u32,
}

// SAFETY: `repr(C)` plain data matching the C struct.
unsafe impl DeviceRepr for ConvGeometry {}

impl ConvGeometry {
    /// Rows of the column matrix: C * kh * kw.
    pub fn k(&self) -> usize {
        (self.c * self.kh * self.kw) as usize
    }
    /// Output pixels per image.
    pub fn pixels(&self) -> usize {
        (self.oh * self.ow) as usize
    }
    /// Whether im2col is the identity: a 1x1 kernel of stride 1 without padding, whose
    /// column matrix of an image `[C, H*W]` is the image itself.
    pub fn columns_are_input(&self) -> bool {
        (self.kh, self.kw, self.sh, self.sw, self.ph, self.pw) == (1, 1, 1, 1, 0, 0)
    }
    /// Input elements per image.
    pub fn image_len(&self) -> usize {
        (self.c * self.h * self.w) as usize
    }
}

/// The thread count of a convolution kernel, which splits each thread's number in 32 bits
/// (`conv.cu`): refused beyond 2^32 (tensor's convolution cuts the batch into chunks far
/// below it).
fn threads_of(what: &str, n: usize) -> Result<u64> {
    u32_of(&format!("{what} threads"), n).map(u64::from)
}

impl Gpu {
    /// The column matrices of `images` images `[C, H, W]`: `[images, C*kh*kw, oh*ow]`, or
    /// with `wide` one matrix `[C*kh*kw, images * oh*ow]` (the images side by side).
    pub fn im2col(
        &self,
        images: usize,
        g: &ConvGeometry,
        x: &CudaView<'_, f32>,
        cols: &mut CudaSlice<f32>,
        wide: bool,
    ) -> Result<()> {
        let n = (images * g.k() * g.pixels()) as u64;
        fits("im2col input", x.len(), (images * g.image_len()) as u64)?;
        fits("im2col output", cols.len(), n)?;
        let imgs = u32_of("images", images)?;
        let threads = threads_of("im2col", images * g.c as usize * g.pixels())?;
        let name = if wide {
            "im2col_wide_f32"
        } else {
            "im2col_f32"
        };
        let f = self.function(CONV, name)?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&imgs).arg(g).arg(x).arg(cols);
        // SAFETY: both buffers hold what the geometry reads and writes (checked).
        unsafe { b.launch(cfg_elems(threads)) }?;
        Ok(())
    }

    /// The adjoint of [`Gpu::im2col`]: each input pixel sums the column entries that read it.
    pub fn col2im(
        &self,
        images: usize,
        g: &ConvGeometry,
        cols: &CudaView<'_, f32>,
        x: &mut CudaViewMut<'_, f32>,
    ) -> Result<()> {
        let n = (images * g.image_len()) as u64;
        fits(
            "col2im input",
            cols.len(),
            (images * g.k() * g.pixels()) as u64,
        )?;
        fits("col2im output", x.len(), n)?;
        let imgs = u32_of("images", images)?;
        threads_of("col2im", images * g.image_len())?;
        let f = self.function(CONV, "col2im_f32")?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&imgs).arg(g).arg(cols).arg(x);
        // SAFETY: both buffers hold what the geometry reads and writes (checked).
        unsafe { b.launch(cfg_elems(n)) }?;
        Ok(())
    }

    /// `y[n, c, p] += bias[c]` for `y` `[N, C, pixels]`.
    pub fn add_channel_bias(
        &self,
        [c, pixels]: [usize; 2],
        bias: &CudaView<'_, f32>,
        y: &mut CudaSlice<f32>,
    ) -> Result<()> {
        fits("bias", bias.len(), c as u64)?;
        let n = y.len() as u64;
        let (c32, p32) = (
            Divisor::new("channels", c)?,
            Divisor::new("pixels", pixels.max(1))?,
        );
        let f = self.function(CONV, "add_channel_bias_f32")?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&n).arg(&c32).arg(&p32).arg(bias).arg(y);
        // SAFETY: bias holds c values; y is walked over its own length.
        unsafe { b.launch(cfg_elems(n)) }?;
        Ok(())
    }
}
