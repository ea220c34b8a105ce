//! Element-wise binary ops and comparisons with NumPy/PyTorch broadcasting. Broadcasting
//! never materialises the expanded operand: it becomes a stride-0 view that the backends
//! (`cpu/elementwise.rs`, `cuda/elementwise.rs`) read in place. A comparison returns a mask
//! of 0 and 1 in its operands' dtype (what a backward rule multiplies by, e.g. ReLU's
//! `x > 0`), and `where_cond` picks from two tensors where a mask is non-zero.
//!
//! The operands must have the same float dtype (f32 or f64): there is no implicit
//! promotion, so an f32 tensor that slips into an f64 gradient check is an error, not a
//! silent loss of precision.
use crate::layout::broadcast_shape;
use crate::{Result, Storage, Tensor};
use kernels::BinaryOp;

impl Tensor {
    /// `f` of each pair of broadcast elements.
    fn binary(&self, op: &'static str, rhs: &Tensor, f: BinaryOp) -> Result<Tensor> {
        self.check_float(op)?;
        self.check_same_dtype(op, rhs)?;
        let shape = broadcast_shape(op, self.shape(), rhs.shape())?;
        let (la, lb) = (self.layout().expand(&shape)?, rhs.layout().expand(&shape)?);
        let storage = Storage::binary(op, (self.storage(), &la), (rhs.storage(), &lb), f)?;
        Ok(Tensor::from_storage(storage, &shape))
    }

    /// `on_true` where `self` (a mask) is non-zero, else `on_false`; all three broadcast and
    /// have the same float dtype (the mask a comparison of that dtype returns).
    pub fn where_cond(&self, on_true: &Tensor, on_false: &Tensor) -> Result<Tensor> {
        const OP: &str = "where_cond";
        self.check_float(OP)?;
        self.check_same_dtype(OP, on_true)?;
        self.check_same_dtype(OP, on_false)?;
        let shape = broadcast_shape(OP, self.shape(), on_true.shape())?;
        let shape = broadcast_shape(OP, &shape, on_false.shape())?;
        let storage = Storage::where_cond(
            (self.storage(), &self.layout().expand(&shape)?),
            (on_true.storage(), &on_true.layout().expand(&shape)?),
            (on_false.storage(), &on_false.layout().expand(&shape)?),
        )?;
        Ok(Tensor::from_storage(storage, &shape))
    }
}

macro_rules! binary_ops {
    ($($(#[$doc:meta])* $name:ident => $f:ident;)*) => {
        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $name(&self, rhs: &Tensor) -> Result<Tensor> {
                    self.binary(stringify!($name), rhs, BinaryOp::$f)
                }
            )*
        }
    };
}

binary_ops! {
    /// `self + rhs`, broadcasting.
    add => Add;
    /// `self - rhs`, broadcasting.
    sub => Sub;
    /// `self * rhs`, broadcasting.
    mul => Mul;
    /// `self / rhs`, broadcasting.
    div => Div;
    /// `self ^ rhs` element-wise, broadcasting.
    pow => Pow;
    /// Element-wise maximum (NaN if either is NaN, as `torch.maximum`).
    maximum => Maximum;
    /// Element-wise minimum (NaN if either is NaN, as `torch.minimum`).
    minimum => Minimum;
    /// ReLU's backward in one pass: `self` (the output's gradient) where `rhs` (ReLU's
    /// output) is positive, 0 elsewhere; instead of a mask and a product, two passes.
    relu_backward => ReluBackward;
    /// Mask of `self == rhs`.
    eq => Eq;
    /// Mask of `self != rhs`.
    ne => Ne;
    /// Mask of `self < rhs`.
    lt => Lt;
    /// Mask of `self <= rhs`.
    le => Le;
    /// Mask of `self > rhs`.
    gt => Gt;
    /// Mask of `self >= rhs`.
    ge => Ge;
}
