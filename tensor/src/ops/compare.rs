//! Comparisons and selection. A comparison returns a mask of 0 and 1 in its operands' dtype
//! (f32 or f64: what a backward rule multiplies by, e.g. ReLU's `x > 0`), and `where_cond`
//! picks from two tensors where a mask is non-zero, all with broadcasting.
use super::binary::zip_map;
use crate::layout::{broadcast_shape, contiguous_strides};
use crate::strided::fill_rows;
use crate::{Float, Result, Tensor};

macro_rules! comparisons {
    ($($(#[$doc:meta])* $name:ident, $gpu:ident => $cmp:tt;)*) => {
        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $name(&self, rhs: &Tensor) -> Result<Tensor> {
                    const OP: &str = stringify!($name);
                    if let Some(gpu) = crate::cuda::gpu_of(OP, &[self, rhs])? {
                        return crate::cuda::binary(&gpu, kernels::BinaryOp::$gpu, OP, self, rhs);
                    }
                    with_float!(OP, self.dtype(), T => {
                        zip_map::<T>(OP, self, rhs, |a, b| if a $cmp b { 1.0 } else { 0.0 })
                    })
                }
            )*
        }
    };
}

comparisons! {
    /// Mask of `self == rhs`.
    eq, Eq => ==;
    /// Mask of `self != rhs`.
    ne, Ne => !=;
    /// Mask of `self < rhs`.
    lt, Lt => <;
    /// Mask of `self <= rhs`.
    le, Le => <=;
    /// Mask of `self > rhs`.
    gt, Gt => >;
    /// Mask of `self >= rhs`.
    ge, Ge => >=;
}

/// [`Tensor::where_cond`] for a mask and values all of dtype `T`.
fn where_typed<T: Float>(
    op: &'static str,
    mask: &Tensor,
    on_true: &Tensor,
    on_false: &Tensor,
) -> Result<Tensor> {
    let shape = broadcast_shape(op, mask.shape(), on_true.shape())?;
    let shape = broadcast_shape(op, &shape, on_false.shape())?;
    let (lc, lt, lf) = (
        mask.layout().expand(&shape)?,
        on_true.layout().expand(&shape)?,
        on_false.layout().expand(&shape)?,
    );
    let (dc, dt, df) = (
        mask.storage_slice::<T>(op)?,
        on_true.storage_slice::<T>(op)?,
        on_false.storage_slice::<T>(op)?,
    );
    let mut out = T::output_buffer(shape.iter().product());
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
                *y = if dc[oc + i * sc] != T::ZERO {
                    dt[ot + i * st]
                } else {
                    df[of + i * sf]
                };
            }
        },
    );
    Ok(Tensor::from_op(out, &shape))
}

impl Tensor {
    /// `on_true` where `self` (a mask) is non-zero, else `on_false`; all three broadcast and
    /// have the same float dtype (the mask a comparison of that dtype returns).
    pub fn where_cond(&self, on_true: &Tensor, on_false: &Tensor) -> Result<Tensor> {
        const OP: &str = "where_cond";
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self, on_true, on_false])? {
            return crate::cuda::where_cond(&gpu, self, on_true, on_false);
        }
        with_float!(OP, self.dtype(), T => where_typed::<T>(OP, self, on_true, on_false))
    }
}
