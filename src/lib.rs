//! lesson6: a deep-learning engine written from scratch to make fastai's lesson 6 visible.
//!
//! This root crate only re-exports the workspace's crates so that examples and benches can
//! use them under one name. The layering (each arrow goes down only):
//! `datasets` -> `nn` -> `autograd` -> `tensor` -> `kernels`.
pub use autograd;
pub use datasets;
pub use kernels;
pub use nn;
pub use tensor;
