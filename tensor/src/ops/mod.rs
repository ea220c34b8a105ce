//! Every op's CPU implementation, one concept per file. Ops are methods on [`crate::Tensor`].
mod binary;
mod compare;
mod conv;
mod matmul;
mod reduce;
mod softmax;
mod unary;

pub use conv::Conv2dParams;
pub use unary::sigmoid_f32;
