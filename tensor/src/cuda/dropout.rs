//! Dropout on the GPU: the same Philox stream, threshold and scale as the CPU path
//! (`ops/dropout.rs`), so both devices drop the same elements of the same stream.
use super::{alloc, kernel_error, kernel_layout};
use crate::random::Philox;
use crate::{Result, Tensor};
use kernels::Gpu;
use std::sync::Arc;

pub(crate) fn dropout(
    gpu: &Arc<Gpu>,
    x: &Tensor,
    threshold: u32,
    scale: f32,
    rng: Philox,
) -> Result<Tensor> {
    const OP: &str = "dropout";
    // Read through its layout: `emb_drop`'s backward gets a block of columns of the `cat`'s
    // gradient, which a dense copy would cost a launch and a buffer.
    let data = x.cuda_buffer(OP)?;
    let mut out = alloc(OP, gpu, x.elem_count())?;
    gpu.dropout(
        (&kernel_layout(OP, x.layout())?, &data.as_view()),
        &mut out,
        (rng.seed, rng.offset),
        threshold,
        scale,
    )
    .map_err(kernel_error(OP))?;
    Ok(Tensor::from_cuda_f32(gpu, out, x.shape()))
}
