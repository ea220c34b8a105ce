//! Element-wise unary maths. Each op is one pass over the input (strided inputs are read in
//! place, not copied first) into a fresh contiguous output, in parallel for large tensors.
//! f32 and f64 alike; scalar arguments are f32 in the API and converted to the tensor's type.
use crate::layout::contiguous_strides;
use crate::strided::fill_rows;
use crate::{Error, Float, Result, Tensor};

/// Applies `f` to every element of a tensor of dtype `T`.
pub(crate) fn map<T: Float>(
    op: &'static str,
    t: &Tensor,
    f: impl Fn(T) -> T + Sync,
) -> Result<Tensor> {
    let data = t.storage_slice::<T>(op)?;
    let shape = t.shape();
    let mut out = T::output_buffer(t.elem_count());
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
/// e^x / (1 + e^x) instead of 1 / (1 + e^-x) (see [`Float::sigmoid`]).
pub fn sigmoid_f32(x: f32) -> f32 {
    Float::sigmoid(x)
}

macro_rules! unary_ops {
    ($($(#[$doc:meta])* $name:ident, $gpu:ident => $f:expr;)*) => {
        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> Result<Tensor> {
                    const OP: &str = stringify!($name);
                    if let Some(gpu) = crate::cuda::gpu_of(OP, &[self])? {
                        return crate::cuda::unary(&gpu, kernels::UnaryOp::$gpu, OP, self);
                    }
                    with_float!(OP, self.dtype(), T => map::<T>(OP, self, $f))
                }
            )*
        }
    };
}

unary_ops! {
    /// e^x.
    exp, Exp => T::exp;
    /// Natural logarithm (the lesson's log target: `y = ln(Sales)`).
    log, Log => T::ln;
    /// 1 / (1 + e^-x), stable for large |x|.
    sigmoid, Sigmoid => Float::sigmoid;
    /// Hyperbolic tangent.
    tanh, Tanh => T::tanh;
    /// max(x, 0). NaN stays NaN, as in PyTorch.
    relu, Relu => |x| if x > 0.0 || x.is_nan() { x } else { 0.0 };
    /// Square root.
    sqrt, Sqrt => T::sqrt;
    /// -x.
    neg, Neg => |x| -x;
    /// |x|.
    abs, Abs => T::abs;
    /// x².
    sqr, Sqr => |x| x * x;
    /// 1 / x.
    recip, Recip => |x| 1.0 / x;
}

impl Tensor {
    /// x^e for a scalar exponent.
    pub fn powf(&self, e: f32) -> Result<Tensor> {
        const OP: &str = "powf";
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self])? {
            return crate::cuda::unary(&gpu, kernels::UnaryOp::Powf(e), OP, self);
        }
        with_float!(OP, self.dtype(), T => {
            let e = T::from_f32(e);
            map::<T>(OP, self, |x| x.powf(e))
        })
    }

    /// `x * mul + add` in one pass (used by `SigmoidRange`: `(hi - lo) * sigmoid(x) + lo`).
    pub fn affine(&self, mul: f32, add: f32) -> Result<Tensor> {
        const OP: &str = "affine";
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self])? {
            return crate::cuda::unary(&gpu, kernels::UnaryOp::Affine(mul, add), OP, self);
        }
        with_float!(OP, self.dtype(), T => {
            let (mul, add) = (T::from_f32(mul), T::from_f32(add));
            map::<T>(OP, self, |x| x * mul + add)
        })
    }

    /// `x + value`.
    pub fn add_scalar(&self, value: f32) -> Result<Tensor> {
        const OP: &str = "add_scalar";
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self])? {
            return crate::cuda::unary(&gpu, kernels::UnaryOp::AddScalar(value), OP, self);
        }
        with_float!(OP, self.dtype(), T => {
            let value = T::from_f32(value);
            map::<T>(OP, self, |x| x + value)
        })
    }

    /// `x * value`.
    pub fn mul_scalar(&self, value: f32) -> Result<Tensor> {
        const OP: &str = "mul_scalar";
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self])? {
            return crate::cuda::unary(&gpu, kernels::UnaryOp::MulScalar(value), OP, self);
        }
        with_float!(OP, self.dtype(), T => {
            let value = T::from_f32(value);
            map::<T>(OP, self, |x| x * value)
        })
    }

    /// Clamps every element into `[min, max]` (NaN elements stay NaN). Bounds that are NaN
    /// or out of order are an error.
    pub fn clamp(&self, min: f32, max: f32) -> Result<Tensor> {
        const OP: &str = "clamp";
        // A NaN bound is refused too: `f32::clamp` would panic on it.
        if min.is_nan() || max.is_nan() || min > max {
            return Err(Error::invalid(
                OP,
                format!("min {min} is greater than max {max}, or one of them is NaN"),
            ));
        }
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self])? {
            return crate::cuda::unary(&gpu, kernels::UnaryOp::Clamp(min, max), OP, self);
        }
        with_float!(OP, self.dtype(), T => {
            let (min, max) = (T::from_f32(min), T::from_f32(max));
            map::<T>(OP, self, |x| x.clamp(min, max))
        })
    }
}
