//! Element-wise binary ops with NumPy/PyTorch broadcasting. Broadcasting never materialises
//! the expanded operand: it becomes a stride-0 view, and the strided loop reads the same
//! element again (a bias `[C]` added to `[N, C]` reads `C` floats, not `N * C`).
//!
//! Both operands must have the same float dtype (f32 or f64): there is no implicit
//! promotion, so an f32 tensor that slips into an f64 gradient check is an error, not a
//! silent loss of precision.
use crate::layout::{broadcast_shape, contiguous_strides};
use crate::strided::fill_rows;
use crate::{Float, Result, Tensor};

/// Applies `f` to each pair of broadcast elements of two tensors of dtype `T` (the rhs of
/// another dtype is an error naming `op`).
pub(crate) fn zip_map<T: Float>(
    op: &'static str,
    lhs: &Tensor,
    rhs: &Tensor,
    f: impl Fn(T, T) -> T + Sync,
) -> Result<Tensor> {
    let shape = broadcast_shape(op, lhs.shape(), rhs.shape())?;
    let (la, lb) = (lhs.layout().expand(&shape)?, rhs.layout().expand(&shape)?);
    let (da, db) = (lhs.storage_slice::<T>(op)?, rhs.storage_slice::<T>(op)?);
    let mut out = T::output_buffer(shape.iter().product());
    let out_strides = contiguous_strides(&shape);
    fill_rows(
        &mut out,
        &shape,
        [
            (&out_strides, 0),
            (la.strides(), la.offset()),
            (lb.strides(), lb.offset()),
        ],
        |row, [_, oa, ob], [_, sa, sb]| {
            let n = row.len();
            match (sa, sb) {
                (1, 1) => {
                    let (xa, xb) = (&da[oa..oa + n], &db[ob..ob + n]);
                    for ((o, &x), &y) in row.iter_mut().zip(xa).zip(xb) {
                        *o = f(x, y);
                    }
                }
                (1, 0) => {
                    let y = db[ob];
                    for (o, &x) in row.iter_mut().zip(&da[oa..oa + n]) {
                        *o = f(x, y);
                    }
                }
                (0, 1) => {
                    let x = da[oa];
                    for (o, &y) in row.iter_mut().zip(&db[ob..ob + n]) {
                        *o = f(x, y);
                    }
                }
                _ => {
                    for (i, o) in row.iter_mut().enumerate() {
                        *o = f(da[oa + i * sa], db[ob + i * sb]);
                    }
                }
            }
        },
    );
    Ok(Tensor::from_op(out, &shape))
}

macro_rules! binary_ops {
    ($($(#[$doc:meta])* $name:ident, $gpu:ident => $f:expr;)*) => {
        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $name(&self, rhs: &Tensor) -> Result<Tensor> {
                    const OP: &str = stringify!($name);
                    if let Some(gpu) = crate::cuda::gpu_of(OP, &[self, rhs])? {
                        return crate::cuda::binary(&gpu, kernels::BinaryOp::$gpu, OP, self, rhs);
                    }
                    with_float!(OP, self.dtype(), T => zip_map::<T>(OP, self, rhs, $f))
                }
            )*
        }
    };
}

binary_ops! {
    /// `self + rhs`, broadcasting.
    add, Add => |a, b| a + b;
    /// `self - rhs`, broadcasting.
    sub, Sub => |a, b| a - b;
    /// `self * rhs`, broadcasting.
    mul, Mul => |a, b| a * b;
    /// `self / rhs`, broadcasting.
    div, Div => |a, b| a / b;
    /// `self ^ rhs` element-wise, broadcasting.
    pow, Pow => |a, b| a.powf(b);
    /// Element-wise maximum (NaN if either is NaN, as `torch.maximum`).
    maximum, Maximum => |a, b| if a.is_nan() || b.is_nan() { T::NAN } else { a.max(b) };
    /// Element-wise minimum (NaN if either is NaN, as `torch.minimum`).
    minimum, Minimum => |a, b| if a.is_nan() || b.is_nan() { T::NAN } else { a.min(b) };
    /// ReLU's backward in one pass: `self` (the output's gradient) where `rhs` (ReLU's
    /// output) is positive, 0 elsewhere; instead of a mask and a product, two passes.
    relu_backward, ReluBackward => |g, y| if y > T::ZERO { g } else { T::ZERO };
}
