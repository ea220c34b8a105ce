//! Reverse-mode automatic differentiation over [`tensor::Tensor`]: a tape of operations on
//! tracked values, replayed backwards. The tape itself arrives with its own issue; today this
//! crate only fixes its place in the workspace (`nn` -> `autograd` -> `tensor`).
pub use tensor::{Error, Result, Tensor};
