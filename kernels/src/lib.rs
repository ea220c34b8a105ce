//! CUDA kernels for lesson6: hand-written CUDA C (`src/cu/*.cu`), compiled at run time by
//! NVRTC, cached per GPU, and launched through `cudarc` by typed Rust launchers.
//!
//! This crate is the leaf of the workspace: it knows `cudarc` slices, shapes as plain
//! numbers, and nothing of tensors, so that each kernel can be read and tested on its own.
//! `tensor` owns the device dispatch (`Storage::Cuda`) and calls the launchers here.
//!
//! Nothing here needs a CUDA toolkit to build. The libraries are opened at run time, and
//! [`Gpu::new`] says "no CUDA driver found" (or which library is missing) instead of letting
//! `cudarc` panic on a machine without one. [`sources::compile_all`] compiles every kernel
//! to PTX with NVRTC alone, which needs no GPU: CI does this with NVRTC from PyPI, and
//! [`assemble::assemble`] has NVRTC's `ptxas` report each kernel's registers for sm_80 and
//! sm_90. The same sources also compile as C++ (with `tensor/tests/host/cuda_shim.h`), so
//! their logic is tested on the host too.
pub mod assemble;
mod error;
mod gpu;
mod launch;
pub mod sources;

pub use cudarc;
pub use cudarc::driver::{CudaSlice, CudaView, CudaViewMut};
pub use error::{Error, Result};
pub use gpu::{libraries_present, Gpu};
pub use launch::{
    deterministic, set_deterministic, Accumulate, AdamParam, AdamStep, BinaryOp, CodeBlock, Codes,
    ConvGeometry, CopyElem, Divisor, Extremum, Gemm, Indices, Operand, PlaneSizes, Running,
    StridedLayout, UnaryOp, Windows, ADAM_GROUP, CAT_GROUP, EMB_GROUP, MAX_DIMS,
};
