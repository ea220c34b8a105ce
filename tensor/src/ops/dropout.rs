//! Dropout in one pass, as PyTorch computes it and the lesson reads it from PyTorch's source
//! (`noise.bernoulli_(1 - p); noise.div_(1 - p); output = input * noise`): each element is
//! kept with probability 1 - p and then scaled by 1 / (1 - p), so the expectation is kept.
//!
//! Here the three steps are one: element i draws the uniform number `i` of a Philox stream,
//! and the output is `x * (u < 1 - p ? 1 / (1 - p) : 0)`. No mask is stored: it is a pure
//! function of (seed, offset, i), so the gradient of dropout is dropout of the gradient with
//! the same stream, and a GPU kernel can draw the very same mask.
use crate::random::Philox;
use crate::{Error, Result, Storage, Tensor};

impl Tensor {
    /// Inverted dropout with drop probability `p`, its mask drawn from `rng` (element i of the
    /// row-major order uses draw i, the same as `rng.uniform_at(i) < 1 - p`). `p` = 0 copies;
    /// `p` = 1 gives zeros.
    pub fn dropout(&self, p: f32, rng: Philox) -> Result<Tensor> {
        const OP: &str = "dropout";
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::argument(OP, "p", p, "in [0, 1]"));
        }
        self.check_float(OP)?;
        if p == 1.0 {
            return self.new_full(self.shape(), 0.0);
        }
        let keep = 1.0 - p;
        // `u < keep` with u = (w >> 8) * 2^-24 is `(w >> 8) < ceil(keep * 2^24)` in integers:
        // the same mask, compared without a conversion, on either device.
        let threshold = (keep as f64 * (1u32 << 24) as f64).ceil() as u32;
        let scale = 1.0 / keep as f64;
        let storage = Storage::dropout(self.view(), threshold, scale, rng)?;
        Ok(Tensor::from_storage(storage, self.shape()))
    }
}
