//! CUDA kernels for lesson6. The CUDA backend arrives with its own issue; this crate is the
//! leaf of the workspace and will know `cudarc` slices, not tensors, so that each kernel can be
//! read and tested on its own. Until then it holds no code, and the CPU path in `tensor` is the
//! whole engine.
