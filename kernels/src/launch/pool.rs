//! Launchers of `pool.cu`: max and average pooling over windows given per output row and
//! column, fixed (stride, padding) or adaptive alike.
use super::{cfg_elems, fits, u32_of, u32s, Divisor, RangeCheck, NULL};
use crate::sources::POOL;
use crate::{Gpu, Result};
use cudarc::driver::{CudaSlice, CudaView, LaunchArgs, PushKernelArg};

/// The pooling windows of one plane: `[start, end)` of each output row and each output
/// column, in input pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Windows {
    pub rows: Vec<(usize, usize)>,
    pub cols: Vec<(usize, usize)>,
}

impl Windows {
    fn flat(v: &[(usize, usize)]) -> Vec<i32> {
        v.iter().flat_map(|&(a, b)| [a as i32, b as i32]).collect()
    }
}

/// The leading arguments of the pooling and padding kernels: the sizes `planes, H, W`, the
/// output's `oh, ow` as divisors and, on the device, a pair of ints per output row and
/// column (a window's bounds, or a padding's source), checked to lie inside the plane.
struct PlaneArgs {
    sizes: [u32; 3],
    out: [Divisor; 2],
    rows: CudaSlice<i32>,
    cols: CudaSlice<i32>,
}

impl PlaneArgs {
    fn new(
        what: &str,
        [planes, h, w, oh, ow]: [usize; 5],
        rows: CudaSlice<i32>,
        cols: CudaSlice<i32>,
    ) -> Result<Self> {
        Ok(PlaneArgs {
            sizes: u32s(what, [planes, h, w])?,
            out: [Divisor::new(what, oh)?, Divisor::new(what, ow)?],
            rows,
            cols,
        })
    }

    /// Pushes them, in the kernels' order.
    fn push<'a>(&'a self, b: &mut LaunchArgs<'a>) {
        for s in &self.sizes {
            b.arg(s);
        }
        b.arg(&self.out[0]).arg(&self.out[1]);
        b.arg(&self.rows).arg(&self.cols);
    }
}

impl Gpu {
    fn plane_args(&self, [planes, h, w]: [usize; 3], win: &Windows) -> Result<PlaneArgs> {
        let inside = |v: &[(usize, usize)], n: usize| v.iter().all(|&(a, b)| a <= b && b <= n);
        if !inside(&win.rows, h) || !inside(&win.cols, w) {
            return Err(crate::Error::Invalid(format!(
                "pooling windows reach outside a {h}x{w} plane"
            )));
        }
        let (oh, ow) = (win.rows.len(), win.cols.len());
        PlaneArgs::new(
            "pooling size",
            [planes, h, w, oh, ow],
            self.stream().clone_htod(&Windows::flat(&win.rows))?,
            self.stream().clone_htod(&Windows::flat(&win.cols))?,
        )
    }

    /// Max pooling of `planes` planes `[H, W]`: the maxima and, when asked, their positions.
    pub fn max_pool(
        &self,
        [planes, h, w]: [usize; 3],
        win: &Windows,
        x: &CudaView<'_, f32>,
        y: &mut CudaSlice<f32>,
        idx: Option<&mut CudaSlice<i64>>,
    ) -> Result<()> {
        let (oh, ow) = (win.rows.len(), win.cols.len());
        let outputs = (planes * oh * ow) as u64;
        fits("max_pool", x.len(), (planes * h * w) as u64)?;
        fits("max_pool", y.len(), outputs)?;
        let args = self.plane_args([planes, h, w], win)?;
        let f = self.function(POOL, "max_pool_f32")?;
        let mut b = self.stream().launch_builder(&f);
        args.push(&mut b);
        b.arg(x).arg(y);
        match idx {
            Some(i) => {
                fits("max_pool indices", i.len(), outputs)?;
                b.arg(i)
            }
            None => b.arg(&NULL),
        };
        // SAFETY: windows lie inside the plane (checked); buffers checked.
        unsafe { b.launch(cfg_elems(outputs)) }?;
        Ok(())
    }

    /// Adds each `dy` to the input pixel its index names, in planes of `in_plane` pixels
    /// (indices of [`Gpu::max_pool`] are in range by construction: [`RangeCheck::Known`]).
    pub fn max_pool_backward(
        &self,
        [planes, out_plane, in_plane]: [usize; 3],
        dy: &CudaView<'_, f32>,
        idx: &CudaView<'_, i64>,
        dx: &mut CudaSlice<f32>,
        check: RangeCheck,
    ) -> Result<()> {
        let n = (planes * out_plane) as u64;
        fits("max_pool_backward", dy.len(), n)?;
        fits("max_pool_backward", idx.len(), n)?;
        fits("max_pool_backward", dx.len(), (planes * in_plane) as u64)?;
        let (op32, ip32) = (
            Divisor::new("plane", out_plane)?,
            u32_of("plane", in_plane)?,
        );
        let f = self.function(POOL, "max_pool_backward_f32")?;
        self.with_flag(check, |bad| {
            let mut b = self.stream().launch_builder(&f);
            b.arg(&n)
                .arg(&op32)
                .arg(&ip32)
                .arg(dy)
                .arg(idx)
                .arg(dx)
                .arg(bad);
            // SAFETY: buffers checked; the kernel range-checks each index before its add.
            unsafe { b.launch(cfg_elems(n)) }?;
            Ok(())
        })
    }

    /// Average pooling (`area` > 0: divide by it; 0: by each window's own size), or, with
    /// `backward`, its gradient (`x` = dy `[planes, oh, ow]`, `y` = dx, zeroed by the caller).
    pub fn avg_pool(
        &self,
        [planes, h, w]: [usize; 3],
        win: &Windows,
        area: f32,
        x: &CudaView<'_, f32>,
        y: &mut CudaSlice<f32>,
        backward: bool,
    ) -> Result<()> {
        let (oh, ow) = (win.rows.len(), win.cols.len());
        let (image, pooled) = ((planes * h * w) as u64, (planes * oh * ow) as u64);
        let (x_need, y_need) = if backward {
            (pooled, image)
        } else {
            (image, pooled)
        };
        fits("avg_pool", x.len(), x_need)?;
        fits("avg_pool", y.len(), y_need)?;
        let args = self.plane_args([planes, h, w], win)?;
        let name = if backward {
            "avg_pool_backward_f32"
        } else {
            "avg_pool_f32"
        };
        let f = self.function(POOL, name)?;
        let mut b = self.stream().launch_builder(&f);
        args.push(&mut b);
        b.arg(&area).arg(x).arg(y);
        // SAFETY: windows lie inside the plane (checked); buffers checked.
        unsafe { b.launch(cfg_elems(pooled)) }?;
        Ok(())
    }

    /// Padding (`backward`: its adjoint) of `planes` planes `[H, W]` to `[oh, ow]` through
    /// the maps `rows` (`oh` entries) and `cols` (`ow`): output (oy, ox) copies input
    /// (rows[oy], cols[ox]), or is zero where either is `None`. Backward adds into `y` = dx,
    /// zeroed by the caller; `x` is then dy.
    #[allow(clippy::too_many_arguments)]
    pub fn pad(
        &self,
        [planes, h, w]: [usize; 3],
        (rows, cols): (&[Option<usize>], &[Option<usize>]),
        x: &CudaView<'_, f32>,
        y: &mut CudaSlice<f32>,
        backward: bool,
    ) -> Result<()> {
        let (oh, ow) = (rows.len(), cols.len());
        let (image, padded) = ((planes * h * w) as u64, (planes * oh * ow) as u64);
        let (x_need, y_need) = if backward {
            (padded, image)
        } else {
            (image, padded)
        };
        fits("pad", x.len(), x_need)?;
        fits("pad", y.len(), y_need)?;
        let map = |m: &[Option<usize>], n: usize| -> Result<Vec<i32>> {
            m.iter()
                .map(|s| match *s {
                    None => Ok(-1),
                    Some(i) if i < n => Ok(i as i32),
                    Some(i) => Err(crate::Error::Invalid(format!(
                        "pad: source {i} outside 0..{n}"
                    ))),
                })
                .collect()
        };
        let args = PlaneArgs::new(
            "pad size",
            [planes, h, w, oh, ow],
            self.stream().clone_htod(&map(rows, h)?)?,
            self.stream().clone_htod(&map(cols, w)?)?,
        )?;
        let name = if backward {
            "pad_backward_f32"
        } else {
            "pad_f32"
        };
        let f = self.function(POOL, name)?;
        let mut b = self.stream().launch_builder(&f);
        args.push(&mut b);
        b.arg(x).arg(y);
        // SAFETY: every map entry is -1 or inside its axis (checked); buffers checked.
        unsafe { b.launch(cfg_elems(padded)) }?;
        Ok(())
    }
}
