//! Element-wise unary maths. Each op is one pass over the input (strided inputs are read in
//! place, not copied first) into a fresh contiguous output, in parallel for large tensors.
use crate::layout::contiguous_strides;
use crate::strided::fill_rows;
use crate::{Error, Result, Tensor};

/// Applies `f` to every element of an f32 tensor.
pub(crate) fn map(op: &'static str, t: &Tensor, f: impl Fn(f32) -> f32 + Sync) -> Result<Tensor> {
    let data = t.storage_slice::<f32>(op)?;
    let shape = t.shape();
    let mut out = crate::buffer_cache::take(t.elem_count());
    let out_strides = contiguous_strides(shape);
    let l = t.layout();
    fill_rows(
        &mut out,
        shape,
        [(&out_strides, 0), (l.strides(), l.offset())],
        |row, [_, o], [_, s]| {
            if s == 1 {
                let n = row.len();
                for (y, &x) in row.iter_mut().zip(&data[o..o + n]) {
                    *y = f(x);
                }
            } else {
                for (i, y) in row.iter_mut().enumerate() {
                    *y = f(data[o + i * s]);
                }
            }
        },
    );
    Ok(Tensor::from_op(out, shape))
}

/// The logistic function, written so that neither branch overflows: for x < 0 it uses
/// e^x / (1 + e^x) instead of 1 / (1 + e^-x).
pub fn sigmoid_f32(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

macro_rules! unary_ops {
    ($($(#[$doc:meta])* $name:ident => $f:expr;)*) => {
        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> Result<Tensor> {
                    map(stringify!($name), self, $f)
                }
            )*
        }
    };
}

unary_ops! {
    /// e^x.
    exp => f32::exp;
    /// Natural logarithm (the lesson's log target: `y = ln(Sales)`).
    log => f32::ln;
    /// 1 / (1 + e^-x), stable for large |x|.
    sigmoid => sigmoid_f32;
    /// Hyperbolic tangent.
    tanh => f32::tanh;
    /// max(x, 0). NaN stays NaN, as in PyTorch.
    relu => |x| if x > 0.0 || x.is_nan() { x } else { 0.0 };
    /// Square root.
    sqrt => f32::sqrt;
    /// -x.
    neg => |x| -x;
    /// |x|.
    abs => f32::abs;
    /// x².
    sqr => |x| x * x;
    /// 1 / x.
    recip => |x| 1.0 / x;
}

impl Tensor {
    /// x^e for a scalar exponent.
    pub fn powf(&self, e: f32) -> Result<Tensor> {
        map("powf", self, |x| x.powf(e))
    }

    /// `x * mul + add` in one pass (used by `SigmoidRange`: `(hi - lo) * sigmoid(x) + lo`).
    pub fn affine(&self, mul: f32, add: f32) -> Result<Tensor> {
        map("affine", self, |x| x * mul + add)
    }

    /// `x + value`.
    pub fn add_scalar(&self, value: f32) -> Result<Tensor> {
        map("add_scalar", self, |x| x + value)
    }

    /// `x * value`.
    pub fn mul_scalar(&self, value: f32) -> Result<Tensor> {
        map("mul_scalar", self, |x| x * value)
    }

    /// Clamps every element into `[min, max]`.
    pub fn clamp(&self, min: f32, max: f32) -> Result<Tensor> {
        if min > max {
            return Err(Error::invalid(
                "clamp",
                format!("min {min} is greater than max {max}"),
            ));
        }
        map("clamp", self, |x| x.clamp(min, max))
    }
}
