//! The geometry of a 2-D convolution: stride and padding ([`Conv2dParams`], which pooling
//! windows take too), and the sizes of one convolution ([`Geometry`]). The front end
//! (`ops/conv.rs`) checks and builds them; both backends (`cpu/conv.rs`, `cuda/conv.rs`)
//! read them, so they live here, importing neither.
use crate::{Error, Result};

/// Stride and zero padding of a convolution or pooling window, as (height, width).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dParams {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl Conv2dParams {
    /// The same stride and padding along height and width.
    pub fn new(stride: usize, padding: usize) -> Self {
        Conv2dParams {
            stride: [stride; 2],
            padding: [padding; 2],
        }
    }

    /// Output size along one axis for input size `n` and kernel size `k`, or an error when
    /// the (padded) input is smaller than the kernel or the stride is 0.
    pub(crate) fn out_size(
        &self,
        op: &'static str,
        axis: usize,
        n: usize,
        k: usize,
    ) -> Result<usize> {
        let (s, p) = (self.stride[axis], self.padding[axis]);
        if s == 0 {
            return Err(Error::argument(op, "stride", 0, "positive"));
        }
        if k == 0 {
            return Err(Error::argument(op, "kernel size", 0, "positive"));
        }
        if n + 2 * p < k {
            return Err(Error::KernelSize {
                op,
                size: n,
                padding: p,
                kernel: k,
            });
        }
        Ok((n + 2 * p - k) / s + 1)
    }
}

/// Geometry of one convolution: input `[c, h, w]`, kernel `kh x kw`, output `ho x wo`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub ho: usize,
    pub wo: usize,
    pub p: Conv2dParams,
}

impl Geometry {
    pub(crate) fn new(
        op: &'static str,
        c: usize,
        h: usize,
        w: usize,
        kh: usize,
        kw: usize,
        p: Conv2dParams,
    ) -> Result<Self> {
        if c == 0 || h == 0 || w == 0 {
            return Err(Error::shapes(
                op,
                &[&[c, h, w]],
                "an image [C, H, W] with no size 0",
            ));
        }
        Ok(Geometry {
            c,
            h,
            w,
            kh,
            kw,
            ho: p.out_size(op, 0, h, kh)?,
            wo: p.out_size(op, 1, w, kw)?,
            p,
        })
    }
    /// Rows of the column matrix: `c * kh * kw`.
    pub fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }
    /// Columns of the column matrix: output pixels.
    pub fn pixels(&self) -> usize {
        self.ho * self.wo
    }
    /// Height and width of the zero-padded image.
    pub(crate) fn padded(&self) -> (usize, usize) {
        (
            self.h + 2 * self.p.padding[0],
            self.w + 2 * self.p.padding[1],
        )
    }
    /// Phase length and row length of the image as the CPU's convolution prepares it
    /// (`prepare` in `cpu/conv.rs`): each padded row of `wp` pixels is stored as `stride`
    /// phases of `ceil(wp / stride)` pixels.
    pub(crate) fn phases(&self) -> (usize, usize) {
        let s = self.p.stride[1];
        let pl = self.padded().1.div_ceil(s);
        (pl, s * pl)
    }
    /// The input coordinate that output coordinate `o` reads at kernel offset `i` along
    /// `axis`, if it lies inside the image.
    pub(crate) fn source(&self, axis: usize, o: usize, i: usize) -> Option<usize> {
        let (s, p, n) = (
            self.p.stride[axis],
            self.p.padding[axis],
            [self.h, self.w][axis],
        );
        (o * s + i).checked_sub(p).filter(|&v| v < n)
    }
}
