//! Element-wise unary maths: each op is one pass over the input (strided inputs are read in
//! place, not copied first) into a fresh contiguous output, on the host (`cpu/elementwise.rs`)
//! or the GPU (`cuda/elementwise.rs`). f32 and f64 alike on the host; scalar arguments are
//! f32 in the API and converted to the tensor's type.
use crate::{Error, Result, Tensor};
use kernels::UnaryOp;

impl Tensor {
    /// `f` of every element, in a float dtype.
    fn unary(&self, op: &'static str, f: UnaryOp) -> Result<Tensor> {
        self.check_float(op)?;
        let storage = self.storage().unary(op, self.layout(), f)?;
        Ok(Tensor::from_storage(storage, self.shape()))
    }
}

macro_rules! unary_ops {
    ($($(#[$doc:meta])* $name:ident => $f:ident;)*) => {
        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> Result<Tensor> {
                    self.unary(stringify!($name), UnaryOp::$f)
                }
            )*
        }
    };
}

unary_ops! {
    /// e^x.
    exp => Exp;
    /// Natural logarithm (the lesson's log target: `y = ln(Sales)`).
    log => Log;
    /// 1 / (1 + e^-x), stable for large |x|.
    sigmoid => Sigmoid;
    /// Hyperbolic tangent.
    tanh => Tanh;
    /// max(x, 0). NaN stays NaN, as in PyTorch.
    relu => Relu;
    /// Square root.
    sqrt => Sqrt;
    /// -x.
    neg => Neg;
    /// |x|.
    abs => Abs;
    /// x².
    sqr => Sqr;
    /// 1 / x.
    recip => Recip;
}

impl Tensor {
    /// x^e for a scalar exponent.
    pub fn powf(&self, e: f32) -> Result<Tensor> {
        self.unary("powf", UnaryOp::Powf(e))
    }

    /// `x * mul + add` in one pass (used by `SigmoidRange`: `(hi - lo) * sigmoid(x) + lo`).
    pub fn affine(&self, mul: f32, add: f32) -> Result<Tensor> {
        self.unary("affine", UnaryOp::Affine(mul, add))
    }

    /// `x + value`.
    pub fn add_scalar(&self, value: f32) -> Result<Tensor> {
        self.unary("add_scalar", UnaryOp::AddScalar(value))
    }

    /// `x * value`.
    pub fn mul_scalar(&self, value: f32) -> Result<Tensor> {
        self.unary("mul_scalar", UnaryOp::MulScalar(value))
    }

    /// Clamps every element into `[min, max]` (NaN elements stay NaN). Bounds that are NaN
    /// or out of order are an error.
    pub fn clamp(&self, min: f32, max: f32) -> Result<Tensor> {
        // A NaN bound is refused too: `f32::clamp` would panic on it.
        if min.is_nan() || max.is_nan() || min > max {
            return Err(Error::Bounds {
                op: "clamp",
                lo: min.into(),
                hi: max.into(),
            });
        }
        self.unary("clamp", UnaryOp::Clamp(min, max))
    }
}
