//! Launchers of `pool.cu`: max and average pooling over windows given per output row and
//! column, fixed (stride, padding) or adaptive alike, their gradients gathered per input
//! pixel, and padding through row and column maps.
use super::{cfg_elems, fits, u32_of, Divisor};
use crate::sources::POOL;
use crate::{Error, Gpu, Result};
use cudarc::driver::{CudaSlice, CudaView, DeviceRepr, PushKernelArg};
use std::sync::Arc;

/// The pooling windows of one plane: `[start, end)` of each output row and each output
/// column, in input pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Windows {
    pub rows: Vec<(usize, usize)>,
    pub cols: Vec<(usize, usize)>,
}

impl Windows {
    /// The geometry `pool.cu` reads (`geo`) for a plane of `[h, w]`: each window's bounds,
    /// rows then columns, and then, per input row and per input column, the `[first, end)`
    /// outputs whose windows hold it. The gathers rely on every window being a non-empty
    /// part of the plane and on the windows' starts and ends never decreasing (as fixed and
    /// adaptive windows do: it makes the outputs holding a pixel a contiguous range), so
    /// anything else is refused.
    pub fn geometry(&self, [h, w]: [usize; 2]) -> Result<Vec<i32>> {
        let axes = [(&self.rows, h), (&self.cols, w)];
        for (axis, n) in axes {
            i32::try_from(n.max(axis.len()))
                .map_err(|_| Error::Invalid(format!("pooling size {n} exceeds 2^31")))?;
            let inside = axis.iter().all(|&(a, b)| a < b && b <= n);
            let sorted = axis
                .windows(2)
                .all(|p| p[0].0 <= p[1].0 && p[0].1 <= p[1].1);
            if !inside || !sorted {
                return Err(Error::Invalid(format!(
                    "pooling windows {axis:?} are not non-empty, ordered parts of 0..{n}"
                )));
            }
        }
        let mut geo = Vec::with_capacity(2 * (self.rows.len() + self.cols.len() + h + w));
        for (axis, _) in axes {
            geo.extend(axis.iter().flat_map(|&(a, b)| [a as i32, b as i32]));
        }
        for (axis, n) in axes {
            for i in 0..n {
                let first = axis.partition_point(|&(_, end)| end <= i);
                let end = axis.partition_point(|&(start, _)| start <= i);
                geo.extend([first as i32, end as i32]);
            }
        }
        Ok(geo)
    }
}

/// The sizes of a pooling or padding as the kernels take them (`PlaneSizes` in `pool.cu`,
/// field for field): the number of planes, the input's `H, W` and the output's `oh, ow`,
/// each a [`Divisor`], so that a position's plane, row and column cost multiply-highs.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PlaneSizes {
    planes: u32,
    h: Divisor,
    w: Divisor,
    oh: Divisor,
    ow: Divisor,
}

// SAFETY: `repr(C)` plain data with the field order, types and alignment of the C struct.
unsafe impl DeviceRepr for PlaneSizes {}

impl PlaneSizes {
    /// `planes` planes of `[h, w]` pooled or padded to `[oh, ow]`; an error beyond 32 bits.
    pub fn new([planes, h, w]: [usize; 3], [oh, ow]: [usize; 2]) -> Result<Self> {
        let what = "pooling size";
        Ok(PlaneSizes {
            planes: u32_of(what, planes)?,
            h: Divisor::new(what, h)?,
            w: Divisor::new(what, w)?,
            oh: Divisor::new(what, oh)?,
            ow: Divisor::new(what, ow)?,
        })
    }

    fn inputs(&self) -> u64 {
        u64::from(self.planes) * u64::from(self.h.d) * u64::from(self.w.d)
    }

    fn outputs(&self) -> u64 {
        u64::from(self.planes) * u64::from(self.oh.d) * u64::from(self.ow.d)
    }
}

/// The most geometries kept uploaded; past it the cache starts again (a network pools over a
/// handful of geometries, the same every step).
const GEOMETRIES: usize = 256;

impl Gpu {
    /// `geo` on the GPU: uploaded the first time, then the same buffer (nothing writes it),
    /// so that a training step's pools and pads make no copy and no allocation. Keyed by
    /// content, so equal geometries share a buffer whichever op made them.
    fn geometry(&self, geo: Vec<i32>) -> Result<Arc<CudaSlice<i32>>> {
        let mut cache = self.geometries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = cache.get(&geo) {
            return Ok(g.clone());
        }
        if cache.len() >= GEOMETRIES {
            cache.clear();
        }
        let g = Arc::new(self.stream().clone_htod(&geo)?);
        cache.insert(geo, g.clone());
        Ok(g)
    }

    /// The sizes and the uploaded geometry of a pooling of `planes` planes `[H, W]`.
    fn pooling(
        &self,
        [planes, h, w]: [usize; 3],
        win: &Windows,
    ) -> Result<(PlaneSizes, Arc<CudaSlice<i32>>)> {
        let s = PlaneSizes::new([planes, h, w], [win.rows.len(), win.cols.len()])?;
        Ok((s, self.geometry(win.geometry([h, w])?)?))
    }

    /// Max pooling of `planes` planes `[H, W]`: the maxima and, when asked, their positions.
    pub fn max_pool(
        &self,
        dims: [usize; 3],
        win: &Windows,
        x: &CudaView<'_, f32>,
        y: &mut CudaSlice<f32>,
        idx: Option<&mut CudaSlice<i64>>,
    ) -> Result<()> {
        let (s, geo) = self.pooling(dims, win)?;
        fits("max_pool", x.len(), s.inputs())?;
        fits("max_pool", y.len(), s.outputs())?;
        let f = self.function(POOL, "max_pool_f32")?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&s).arg(geo.as_ref()).arg(x).arg(y);
        match idx {
            Some(i) => {
                fits("max_pool indices", i.len(), s.outputs())?;
                b.arg(i)
            }
            None => b.arg(&super::NULL),
        };
        // SAFETY: the geometry was checked against the plane; buffers checked.
        unsafe { b.launch(cfg_elems(s.outputs())) }?;
        Ok(())
    }

    /// The gradient of [`Gpu::max_pool`] with the same windows: each input pixel of `dx`
    /// (written whole) gets the `dy` of the outputs whose index names it. An index outside
    /// its window is an [`Error::IndexOutOfRange`] at that output, read back (a wait for
    /// every kernel before).
    pub fn max_pool_backward(
        &self,
        dims: [usize; 3],
        win: &Windows,
        dy: &CudaView<'_, f32>,
        idx: &CudaView<'_, i64>,
        dx: &mut CudaSlice<f32>,
    ) -> Result<()> {
        let (s, geo) = self.pooling(dims, win)?;
        fits("max_pool_backward", dy.len(), s.outputs())?;
        fits("max_pool_backward", idx.len(), s.outputs())?;
        fits("max_pool_backward", dx.len(), s.inputs())?;
        let f = self.function(POOL, "max_pool_backward_f32")?;
        self.with_flag(|bad| {
            let mut b = self.stream().launch_builder(&f);
            b.arg(&s)
                .arg(geo.as_ref())
                .arg(dy)
                .arg(idx)
                .arg(dx)
                .arg(bad);
            // SAFETY: the geometry was checked against the plane; buffers checked; indices
            // are only compared, never followed.
            unsafe { b.launch(cfg_elems(s.inputs())) }?;
            Ok(())
        })
    }

    /// Average pooling (`area` > 0: divide by it; 0: by each window's own size), or, with
    /// `backward`, its gradient (`x` = dy `[planes, oh, ow]`, `y` = dx, written whole).
    pub fn avg_pool(
        &self,
        dims: [usize; 3],
        win: &Windows,
        area: f32,
        x: &CudaView<'_, f32>,
        y: &mut CudaSlice<f32>,
        backward: bool,
    ) -> Result<()> {
        let (s, geo) = self.pooling(dims, win)?;
        let (x_need, y_need, name) = if backward {
            (s.outputs(), s.inputs(), "avg_pool_backward_f32")
        } else {
            (s.inputs(), s.outputs(), "avg_pool_f32")
        };
        fits("avg_pool", x.len(), x_need)?;
        fits("avg_pool", y.len(), y_need)?;
        let f = self.function(POOL, name)?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&s).arg(geo.as_ref()).arg(&area).arg(x).arg(y);
        // SAFETY: the geometry was checked against the plane; buffers checked.
        unsafe { b.launch(cfg_elems(y_need)) }?;
        Ok(())
    }

    /// Padding (`backward`: its adjoint) of `planes` planes `[H, W]` to `[oh, ow]` through
    /// the maps `rows` (`oh` entries) and `cols` (`ow`): output (oy, ox) copies input
    /// (rows[oy], cols[ox]), or is zero where either is `None`. Backward adds into `y` = dx,
    /// zeroed by the caller; `x` is then dy.
    pub fn pad(
        &self,
        [planes, h, w]: [usize; 3],
        (rows, cols): (&[Option<usize>], &[Option<usize>]),
        x: &CudaView<'_, f32>,
        y: &mut CudaSlice<f32>,
        backward: bool,
    ) -> Result<()> {
        let s = PlaneSizes::new([planes, h, w], [rows.len(), cols.len()])?;
        let (x_need, y_need, name) = if backward {
            (s.outputs(), s.inputs(), "pad_backward_f32")
        } else {
            (s.inputs(), s.outputs(), "pad_f32")
        };
        fits("pad", x.len(), x_need)?;
        fits("pad", y.len(), y_need)?;
        let mut geo = Vec::with_capacity(rows.len() + cols.len());
        for (map, n) in [(rows, h), (cols, w)] {
            for s in map {
                geo.push(match *s {
                    None => -1,
                    Some(i) if i < n => i as i32,
                    Some(i) => {
                        return Err(Error::Invalid(format!("pad: source {i} outside 0..{n}")))
                    }
                });
            }
        }
        let geo = self.geometry(geo)?;
        let f = self.function(POOL, name)?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&s).arg(geo.as_ref()).arg(x).arg(y);
        // SAFETY: every map entry is -1 or inside its axis (checked); buffers checked.
        unsafe { b.launch(cfg_elems(s.outputs())) }?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Windows;

    /// The covering ranges of 3x3 windows at stride 2, padding 1 over 5 pixels (outputs
    /// 0..3 hold rows 0..2, 1..4, 3..5), then of windows skipping a pixel.
    #[test]
    fn geometry_lists_the_outputs_holding_each_pixel() {
        let w = Windows {
            rows: vec![(0, 2), (1, 4), (3, 5)],
            cols: vec![(0, 1), (2, 3)],
        };
        let geo = w.geometry([5, 3]).unwrap();
        let (bounds, cover) = geo.split_at(10);
        assert_eq!(bounds, [0, 2, 1, 4, 3, 5, 0, 1, 2, 3]);
        assert_eq!(cover, [0, 1, 0, 2, 1, 2, 1, 3, 2, 3, 0, 1, 1, 1, 1, 2]);
    }

    #[test]
    fn geometry_refuses_windows_the_gathers_cannot_use() {
        let cols = vec![(0, 1)];
        for rows in [vec![(0, 0)], vec![(0, 3)], vec![(1, 2), (0, 2)]] {
            let w = Windows {
                rows,
                cols: cols.clone(),
            };
            assert!(w.geometry([2, 1]).is_err(), "{w:?}");
        }
    }
}
