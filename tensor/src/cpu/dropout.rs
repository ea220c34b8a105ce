//! Dropout on the host: element i of the row-major order is kept when draw i of the Philox
//! stream is below `threshold` (24-bit integers), and scaled; the AVX-512 kernel of
//! `dropout_avx512.rs` where the CPU has it, the portable loop (16 lanes wide where it can)
//! elsewhere. The draws are those of `cuda/dropout.rs`, so both devices drop the same elements.
use super::Float;
use super::{layout_data, CpuStorage, Element, View};
use crate::random::{Philox, LANES};
use crate::Result;
use rayon::prelude::*;

/// Elements per parallel task: a multiple of 4 * LANES, one vectorised Philox call.
const CHUNK: usize = 1 << 14;

multiversion! {
    /// One chunk of dropout: `o = x * (kept ? scale : 0)` for the chunk's elements, whose
    /// first is element `first` of the stream. The draws and their use are compiled together,
    /// 16 lanes wide where the CPU has AVX-512.
    fn dropout_chunk<T: Float>(o: &mut [T], x: &[T], first: u64, rng: Philox, threshold: u32, scale: T) {
        // 4 * LANES elements per Philox call (LANES blocks computed side by side).
        for (b, (o64, x64)) in o.chunks_mut(4 * LANES).zip(x.chunks(4 * LANES)).enumerate() {
            let words = rng.blocks_inline(first / 4 + (b * LANES) as u64);
            for ((o, &x), &w) in o64.iter_mut().zip(x64).zip(&words) {
                // A select, not a branch: a random mask would mispredict half the time.
                let kept = (w >> 8) < threshold;
                *o = x * if kept { scale } else { T::ZERO };
            }
        }
    }
}

fn dropout_typed<T: Float>(x: &[T], scale: f64, threshold: u32, rng: Philox) -> Vec<T> {
    let scale = T::from_f64(scale);
    let mut out = T::output_buffer(x.len());
    let run = |(c, (o, x)): (usize, (&mut [T], &[T]))| {
        let first = (c * CHUNK) as u64;
        let done = fast_chunk(o, x, first, rng, threshold, scale);
        dropout_chunk(
            &mut o[done..],
            &x[done..],
            first + done as u64,
            rng,
            threshold,
            scale,
        )
    };
    if x.len() >= crate::strided::PAR_THRESHOLD {
        out.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .enumerate()
            .for_each(run);
    } else {
        out.chunks_mut(CHUNK)
            .zip(x.chunks(CHUNK))
            .enumerate()
            .for_each(run);
    }
    out
}

/// The hand-written AVX-512 kernel for f32 where the CPU has it: the number of leading
/// elements of the chunk it did (0 for f64 or another CPU).
fn fast_chunk<T: Float>(
    o: &mut [T],
    x: &[T],
    first: u64,
    rng: Philox,
    threshold: u32,
    scale: T,
) -> usize {
    #[cfg(target_arch = "x86_64")]
    if T::DTYPE == crate::DType::F32 && std::arch::is_x86_feature_detected!("avx512f") {
        // T is f32 here: the casts reinterpret nothing.
        let (o, x) = (
            bytemuck::cast_slice_mut::<T, f32>(o),
            bytemuck::cast_slice::<T, f32>(x),
        );
        // SAFETY: the CPU has AVX-512F.
        return unsafe {
            super::dropout_avx512::dropout_chunk(o, x, first, rng, threshold, scale.to_f64() as f32)
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (o, x, first, rng, threshold, scale);
    0
}

/// `x * (kept ? scale : 0)` for each element `x` selects, in row-major order.
pub(crate) fn dropout((s, l): View, threshold: u32, scale: f64, rng: Philox) -> Result<CpuStorage> {
    with_float!("dropout", s.dtype(), T => {
        let x = layout_data(s.slice::<T>("dropout")?, l);
        Ok(T::into_storage(dropout_typed::<T>(&x, scale, threshold, rng)))
    })
}
