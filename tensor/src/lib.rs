//! The tensor crate of lesson6: strided views over shared storage, every op's CPU
//! implementation, a hand-written GEMM and a counter-based random number generator.
//!
//! A [`Tensor`] is an `Arc` of [`Storage`] plus a [`Layout`] (shape, strides, offset). Views
//! (`reshape` of contiguous data, `permute`, `transpose`, `narrow`, `expand`, `unsqueeze`,
//! `squeeze`) share the storage; `contiguous()` copies only when the layout needs it. Every op
//! returns a [`Result`] whose [`Error`] names the op and the shapes involved.
//!
//! Ops compute in `f32`, and in `f64` for gradient checks: every arithmetic op is generic
//! over [`Float`] and dispatches on the operands' dtype (mixing the two is an error, there is
//! no implicit promotion).
mod buffer_cache;
mod conv_geometry;
mod device;
#[macro_use]
mod dtype;
#[macro_use]
mod multiversion;
mod cpu;
mod cuda;
mod error;
pub mod gemm;
mod lanes;
mod layout;
mod ops;
mod params;
pub mod random;
mod storage;
mod strided;
mod tensor;
mod threads;

pub use buffer_cache::release_cached_memory;
pub use conv_geometry::Conv2dParams;
pub use cpu::{CpuStorage, Element, Float};
pub use cuda::{poison_outputs, set_deterministic, Accumulate, CudaStorage, Gpu};
pub use device::Device;
pub use dtype::DType;
pub use error::{Error, Result};
pub use kernels::{BinaryOp, UnaryOp};
pub use layout::{broadcast_shape, contiguous_strides, Layout};
pub use ops::*;
pub use storage::Storage;
pub use tensor::Tensor;
pub use threads::join_thread_pool;

pub use half::{bf16, f16};
