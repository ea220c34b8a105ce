//! Comparisons and selection. A comparison returns an f32 mask of 0.0 and 1.0 (what a
//! backward rule multiplies by, e.g. ReLU's `x > 0`), and `where_cond` picks from two
//! tensors where a mask is non-zero, all with broadcasting.
use super::binary::zip_map;
use crate::layout::{broadcast_shape, contiguous_strides};
use crate::strided::fill_rows;
use crate::{Result, Tensor};

macro_rules! comparisons {
    ($($(#[$doc:meta])* $name:ident => $cmp:tt;)*) => {
        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $name(&self, rhs: &Tensor) -> Result<Tensor> {
                    zip_map(stringify!($name), self, rhs, |a, b| if a $cmp b { 1.0 } else { 0.0 })
                }
            )*
        }
    };
}

comparisons! {
    /// Mask of `self == rhs`.
    eq => ==;
    /// Mask of `self != rhs`.
    ne => !=;
    /// Mask of `self < rhs`.
    lt => <;
    /// Mask of `self <= rhs`.
    le => <=;
    /// Mask of `self > rhs`.
    gt => >;
    /// Mask of `self >= rhs`.
    ge => >=;
}

impl Tensor {
    /// `on_true` where `self` (a mask) is non-zero, else `on_false`; all three broadcast.
    pub fn where_cond(&self, on_true: &Tensor, on_false: &Tensor) -> Result<Tensor> {
        const OP: &str = "where_cond";
        let shape = broadcast_shape(OP, self.shape(), on_true.shape())?;
        let shape = broadcast_shape(OP, &shape, on_false.shape())?;
        let (lc, lt, lf) = (
            self.layout().expand(&shape)?,
            on_true.layout().expand(&shape)?,
            on_false.layout().expand(&shape)?,
        );
        let (dc, dt, df) = (
            self.storage_slice::<f32>(OP)?,
            on_true.storage_slice::<f32>(OP)?,
            on_false.storage_slice::<f32>(OP)?,
        );
        let mut out = crate::buffer_cache::take(shape.iter().product());
        let out_strides = contiguous_strides(&shape);
        fill_rows(
            &mut out,
            &shape,
            [
                (&out_strides, 0),
                (lc.strides(), lc.offset()),
                (lt.strides(), lt.offset()),
                (lf.strides(), lf.offset()),
            ],
            |row, [_, oc, ot, of], [_, sc, st, sf]| {
                for (i, y) in row.iter_mut().enumerate() {
                    *y = if dc[oc + i * sc] != 0.0 {
                        dt[ot + i * st]
                    } else {
                        df[of + i * sf]
                    };
                }
            },
        );
        Ok(Tensor::from_op(out, &shape))
    }
}
