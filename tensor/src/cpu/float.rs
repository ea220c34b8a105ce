//! The compute element types, `f32` and `f64`, behind one trait, so that every arithmetic op
//! is written once and monomorphised twice. `f32` is what models train in; `f64` is for
//! finite-difference gradient checks, whose central differences keep only three or four
//! digits in f32.
//!
//! The trait has exactly what the ops use, and each method is the inherent `f32` / `f64`
//! method of the same name (`max` and `min` ignore a NaN operand, as `f32::max` does), so
//! the f32 instantiation of a generic op is the code the op had before it was generic.
use super::Element;
use std::fmt::Display;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point element type the ops compute in: `f32` or `f64` (sealed: the ops are
/// written and tested for these two).
pub trait Float:
    sealed::OutputBuffer
    + Element
    + bytemuck::Pod
    + PartialOrd
    + Display
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + for<'a> Sum<&'a Self>
{
    const ZERO: Self;
    const ONE: Self;
    const INFINITY: Self;
    const NEG_INFINITY: Self;
    const NAN: Self;

    /// `x` rounded to this type (to nearest).
    fn from_f64(x: f64) -> Self;
    /// A scalar argument of the f32 API (`affine`, `clamp`, ...), exactly for f32 and f64.
    fn from_f32(x: f32) -> Self;
    /// A count (a window area, a number of elements) as this type.
    fn from_usize(n: usize) -> Self;
    /// This value as f64, exactly.
    fn to_f64(self) -> f64;

    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn tanh(self) -> Self;
    fn sqrt(self) -> Self;
    fn powf(self, e: Self) -> Self;
    fn abs(self) -> Self;
    /// The larger of the two; a NaN operand is ignored (as `f32::max`).
    fn max(self, other: Self) -> Self;
    /// The smaller of the two; a NaN operand is ignored (as `f32::min`).
    fn min(self, other: Self) -> Self;
    fn is_nan(self) -> bool;
    /// `self` limited to `[min, max]` (NaN stays NaN); the caller checks `min <= max`.
    fn clamp(self, min: Self, max: Self) -> Self;

    /// The logistic function 1 / (1 + e^-x), written so that neither branch overflows: for
    /// x < 0 it is e^x / (1 + e^x) instead.
    #[inline]
    fn sigmoid(self) -> Self {
        if self >= Self::ZERO {
            Self::ONE / (Self::ONE + (-self).exp())
        } else {
            let e = self.exp();
            e / (Self::ONE + e)
        }
    }
}

macro_rules! float {
    ($t:ident) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const INFINITY: Self = $t::INFINITY;
            const NEG_INFINITY: Self = $t::NEG_INFINITY;
            const NAN: Self = $t::NAN;

            #[inline]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline]
            fn from_f32(x: f32) -> Self {
                x as $t
            }
            #[inline]
            fn from_usize(n: usize) -> Self {
                n as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn exp(self) -> Self {
                $t::exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                $t::ln(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                $t::tanh(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                $t::sqrt(self)
            }
            #[inline]
            fn powf(self, e: Self) -> Self {
                $t::powf(self, e)
            }
            #[inline]
            fn abs(self) -> Self {
                $t::abs(self)
            }
            #[inline]
            fn max(self, other: Self) -> Self {
                $t::max(self, other)
            }
            #[inline]
            fn min(self, other: Self) -> Self {
                $t::min(self, other)
            }
            #[inline]
            fn is_nan(self) -> bool {
                $t::is_nan(self)
            }
            #[inline]
            fn clamp(self, min: Self, max: Self) -> Self {
                $t::clamp(self, min, max)
            }
        }
    };
}
float!(f32);
float!(f64);

mod sealed {
    /// Where an op's output buffer comes from. Outside the crate this trait cannot be named,
    /// so no other type can implement [`super::Float`].
    pub trait OutputBuffer: Sized {
        /// A buffer of `len` elements whose contents are unspecified, for an output the op
        /// overwrites entirely.
        fn output_buffer(len: usize) -> Vec<Self>;
    }

    /// f32 outputs reuse dead tensors' memory (see [`crate::buffer_cache`]).
    impl OutputBuffer for f32 {
        #[inline]
        fn output_buffer(len: usize) -> Vec<Self> {
            crate::buffer_cache::take(len)
        }
    }

    /// f64 tensors are small (gradient checks): a fresh buffer.
    impl OutputBuffer for f64 {
        #[inline]
        fn output_buffer(len: usize) -> Vec<Self> {
            vec![0.0; len]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_is_stable_at_both_ends() {
        assert_eq!(Float::sigmoid(-1000.0f64), 0.0);
        assert_eq!(Float::sigmoid(1000.0f64), 1.0);
        assert_eq!(Float::sigmoid(0.0f32), 0.5);
        let x = -30.0f64;
        assert!((Float::sigmoid(x) - x.exp() / (1.0 + x.exp())).abs() < 1e-25);
    }

    #[test]
    fn max_and_min_ignore_nan_like_std() {
        assert_eq!(Float::max(f32::NAN, 1.0), 1.0);
        assert_eq!(Float::min(2.0f64, f64::NAN), 2.0);
    }
}
