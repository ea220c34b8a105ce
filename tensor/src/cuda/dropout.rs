//! Dropout on the GPU: the same Philox stream, threshold and scale as the CPU code
//! (`cpu/dropout.rs`), so both devices drop the same elements of the same stream.
use super::{alloc, kernel_error, kernel_layout, CudaStorage, View};
use crate::random::Philox;
use crate::Result;

pub(crate) fn dropout(
    (s, l): View,
    threshold: u32,
    scale: f64,
    rng: Philox,
) -> Result<CudaStorage> {
    const OP: &str = "dropout";
    // Read through its layout: `emb_drop`'s backward gets a block of columns of the `cat`'s
    // gradient, which a dense copy would cost a launch and a buffer.
    let mut out = alloc(OP, s.gpu(), l.elem_count())?;
    s.gpu()
        .dropout(
            (&kernel_layout(OP, l)?, &s.f32_buffer(OP)?.as_view()),
            &mut out,
            (rng.seed, rng.offset),
            threshold,
            scale as f32,
        )
        .map_err(kernel_error(OP))?;
    Ok(CudaStorage::f32(s.gpu(), out))
}
