//! Element-wise binary ops with NumPy/PyTorch broadcasting. Broadcasting never materialises
//! the expanded operand: it becomes a stride-0 view, and the strided loop reads the same
//! element again (a bias `[C]` added to `[N, C]` reads `C` floats, not `N * C`).
use crate::layout::{broadcast_shape, contiguous_strides};
use crate::strided::fill_rows;
use crate::{Result, Tensor};

/// Applies `f` to each pair of broadcast elements of two f32 tensors.
pub(crate) fn zip_map(
    op: &'static str,
    lhs: &Tensor,
    rhs: &Tensor,
    f: impl Fn(f32, f32) -> f32 + Sync,
) -> Result<Tensor> {
    let shape = broadcast_shape(op, lhs.shape(), rhs.shape())?;
    let (la, lb) = (lhs.layout().expand(&shape)?, rhs.layout().expand(&shape)?);
    let (da, db) = (lhs.storage_slice::<f32>(op)?, rhs.storage_slice::<f32>(op)?);
    let mut out = crate::buffer_cache::take(shape.iter().product());
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
    ($($(#[$doc:meta])* $name:ident => $f:expr;)*) => {
        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $name(&self, rhs: &Tensor) -> Result<Tensor> {
                    zip_map(stringify!($name), self, rhs, $f)
                }
            )*
        }
    };
}

binary_ops! {
    /// `self + rhs`, broadcasting.
    add => |a, b| a + b;
    /// `self - rhs`, broadcasting.
    sub => |a, b| a - b;
    /// `self * rhs`, broadcasting.
    mul => |a, b| a * b;
    /// `self / rhs`, broadcasting.
    div => |a, b| a / b;
    /// `self ^ rhs` element-wise, broadcasting.
    pow => f32::powf;
    /// Element-wise maximum (NaN if either is NaN, as `torch.maximum`).
    maximum => |a, b| if a.is_nan() || b.is_nan() { f32::NAN } else { a.max(b) };
    /// Element-wise minimum (NaN if either is NaN, as `torch.minimum`).
    minimum => |a, b| if a.is_nan() || b.is_nan() { f32::NAN } else { a.min(b) };
}
