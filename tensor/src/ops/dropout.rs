//! Dropout in one pass, as PyTorch computes it and the lesson reads it from PyTorch's source
//! (`noise.bernoulli_(1 - p); noise.div_(1 - p); output = input * noise`): each element is
//! kept with probability 1 - p and then scaled by 1 / (1 - p), so the expectation is kept.
//!
//! Here the three steps are one: element i draws the uniform number `i` of a Philox stream,
//! and the output is `x * (u < 1 - p ? 1 / (1 - p) : 0)`. No mask is stored: it is a pure
//! function of (seed, offset, i), so the gradient of dropout is dropout of the gradient with
//! the same stream, and a GPU kernel can draw the very same mask.
use crate::float::Float;
use crate::random::{Philox, LANES};
use crate::{Error, Result, Tensor};
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

fn dropout_typed<T: Float>(x: &[T], keep: f32, threshold: u32, rng: Philox) -> Vec<T> {
    let scale = T::from_f64(1.0 / keep as f64);
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

impl Tensor {
    /// Inverted dropout with drop probability `p`, its mask drawn from `rng` (element i of the
    /// row-major order uses draw i, the same as `rng.uniform_at(i) < 1 - p`). `p` = 0 copies;
    /// `p` = 1 gives zeros.
    pub fn dropout(&self, p: f32, rng: Philox) -> Result<Tensor> {
        const OP: &str = "dropout";
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::invalid(OP, format!("p must be in [0, 1], got {p}")));
        }
        if p == 1.0 {
            return self.new_full(self.shape(), 0.0);
        }
        let keep = 1.0 - p;
        // `u < keep` with u = (w >> 8) * 2^-24 is `(w >> 8) < ceil(keep * 2^24)` in integers:
        // the same mask, compared without a conversion, on either device.
        let threshold = (keep as f64 * (1u32 << 24) as f64).ceil() as u32;
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self])? {
            let scale = (1.0 / keep as f64) as f32;
            return crate::cuda::dropout(&gpu, self, threshold, scale, rng);
        }
        with_float!(OP, self.dtype(), T => {
            let x = self.contiguous_data::<T>(OP)?;
            Ok(Tensor::from_op(dropout_typed::<T>(&x, keep, threshold, rng), self.shape()))
        })
    }
}
