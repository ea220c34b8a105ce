//! Counter-based random numbers: Philox 4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel
//! random numbers: as easy as 1, 2, 3", SC 2011), the generator cuRAND and PyTorch's CUDA
//! backend use.
//!
//! A counter-based generator has no state to advance: the draw at position `i` of stream
//! `(seed, offset)` is `philox(counter = (offset, i), key = seed)`, a pure function. So a
//! dropout mask is a pure function of (seed, offset, index): any thread (or GPU kernel) can
//! compute any element independently, and the backward pass can recompute the mask instead
//! of storing it.
//!
//! Layout of the counter: `(c0, c1) = (lo, hi)` of the element's block index `i / 4` and
//! `(c2, c3) = (lo, hi)` of `offset`; the key is `(lo, hi)` of `seed`. Each block yields four
//! 32-bit words, used for elements `4*(i/4) .. 4*(i/4) + 3`.
use crate::{Error, Result, Tensor};
use rayon::prelude::*;

pub(crate) const M0: u32 = 0xD251_1F53;
pub(crate) const M1: u32 = 0xCD9E_8D57;
pub(crate) const W0: u32 = 0x9E37_79B9;
pub(crate) const W1: u32 = 0xBB67_AE85;

/// Philox 4x32 with 10 rounds: four 32-bit random words from a 128-bit counter and 64-bit key.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for round in 0..10 {
        if round > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        let p0 = (M0 as u64) * (c[0] as u64);
        let p1 = (M1 as u64) * (c[2] as u64);
        c = [
            ((p1 >> 32) as u32) ^ c[1] ^ k[0],
            p1 as u32,
            ((p0 >> 32) as u32) ^ c[3] ^ k[1],
            p0 as u32,
        ];
    }
    c
}

/// Lanes of [`philox_lanes`]: blocks computed side by side.
pub const LANES: usize = 16;

multiversion! {
    /// Philox 4x32-10 on [`LANES`] counters at once, in struct-of-arrays form (`c[word][lane]`),
    /// the same arithmetic as [`philox4x32_10`] lane by lane, written so that the compiler can
    /// turn each round into vector instructions: 16 lanes of 32-bit words are one AVX-512
    /// register (see [`crate::multiversion`]).
    pub fn philox_lanes(counters: [[u32; LANES]; 4], key: [u32; 2]) -> [[u32; LANES]; 4] {
        philox_rounds(counters, key)
    }
}

/// The ten rounds on every lane; inlined into each instruction-set variant above.
#[inline(always)]
fn philox_rounds(counters: [[u32; LANES]; 4], key: [u32; 2]) -> [[u32; LANES]; 4] {
    let (mut c, mut k) = (counters, key);
    for round in 0..10 {
        if round > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        let mut next = [[0u32; LANES]; 4];
        for l in 0..LANES {
            let p0 = (M0 as u64) * (c[0][l] as u64);
            let p1 = (M1 as u64) * (c[2][l] as u64);
            next[0][l] = ((p1 >> 32) as u32) ^ c[1][l] ^ k[0];
            next[1][l] = p1 as u32;
            next[2][l] = ((p0 >> 32) as u32) ^ c[3][l] ^ k[1];
            next[3][l] = p0 as u32;
        }
        c = next;
    }
    c
}

/// A stream of random numbers identified by `(seed, offset)`. Drawing element `i` never
/// depends on any other element, so the stream can be consumed in parallel, in any order,
/// on any device, with the same result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Philox {
    pub seed: u64,
    pub offset: u64,
}

/// 2^-24: the spacing of the 24-bit uniform grid used for f32 draws.
const U24: f32 = 1.0 / (1u32 << 24) as f32;

impl Philox {
    pub fn new(seed: u64, offset: u64) -> Self {
        Philox { seed, offset }
    }

    /// The four raw words of block `block` (elements `4*block .. 4*block+3`).
    pub fn block(&self, block: u64) -> [u32; 4] {
        philox4x32_10(
            [
                block as u32,
                (block >> 32) as u32,
                self.offset as u32,
                (self.offset >> 32) as u32,
            ],
            [self.seed as u32, (self.seed >> 32) as u32],
        )
    }

    /// The words of the [`LANES`] blocks starting at block `first` (elements
    /// `4 * first .. 4 * (first + LANES)`), in element order.
    pub fn blocks(&self, first: u64) -> [u32; 4 * LANES] {
        let w = philox_lanes(self.lane_counters(first), self.key());
        std::array::from_fn(|i| w[i % 4][i / 4])
    }

    /// [`Philox::blocks`] inlined into its caller, for loops compiled with
    /// [`crate::multiversion`] that vectorise the draws together with their use.
    #[inline(always)]
    pub(crate) fn blocks_inline(&self, first: u64) -> [u32; 4 * LANES] {
        let w = philox_rounds(self.lane_counters(first), self.key());
        std::array::from_fn(|i| w[i % 4][i / 4])
    }

    #[inline(always)]
    fn lane_counters(&self, first: u64) -> [[u32; LANES]; 4] {
        let block = |l: usize| first + l as u64;
        [
            std::array::from_fn(|l| block(l) as u32),
            std::array::from_fn(|l| (block(l) >> 32) as u32),
            [self.offset as u32; LANES],
            [(self.offset >> 32) as u32; LANES],
        ]
    }

    #[inline(always)]
    fn key(&self) -> [u32; 2] {
        [self.seed as u32, (self.seed >> 32) as u32]
    }

    /// The raw 32-bit word for element `index`.
    pub fn word(&self, index: u64) -> u32 {
        self.block(index / 4)[(index % 4) as usize]
    }

    /// Element `index` as a uniform float in [0, 1): the top 24 bits of its word times 2^-24,
    /// so every value is exactly representable and 1.0 is never drawn.
    pub fn uniform_at(&self, index: u64) -> f32 {
        (self.word(index) >> 8) as f32 * U24
    }

    /// Fills `out` with the elements `start .. start + out.len()` of the stream, mapped
    /// through `f(word)`, in parallel for long buffers.
    pub fn fill_words(&self, start: u64, out: &mut [f32], f: impl Fn(u32) -> f32 + Sync) {
        let chunk = 1 << 14;
        let run = |(c, part): (usize, &mut [f32])| {
            let first = start + (c * chunk) as u64;
            let mut block = u64::MAX;
            let mut words = [0u32; 4];
            for (i, o) in part.iter_mut().enumerate() {
                let idx = first + i as u64;
                if idx / 4 != block {
                    block = idx / 4;
                    words = self.block(block);
                }
                *o = f(words[(idx % 4) as usize]);
            }
        };
        if out.len() >= crate::strided::PAR_THRESHOLD {
            out.par_chunks_mut(chunk).enumerate().for_each(run);
        } else {
            out.chunks_mut(chunk).enumerate().for_each(run);
        }
    }

    /// A tensor of uniform draws in [lo, hi).
    pub fn uniform(&self, shape: &[usize], lo: f32, hi: f32) -> Result<Tensor> {
        if lo.is_nan() || hi.is_nan() || lo >= hi {
            return Err(Error::Bounds {
                op: "uniform",
                lo: lo.into(),
                hi: hi.into(),
            });
        }
        let mut out = vec![0f32; shape.iter().product()];
        self.fill_words(0, &mut out, |w| lo + (hi - lo) * ((w >> 8) as f32 * U24));
        Ok(Tensor::from_op(out, shape))
    }

    /// A tensor of standard-normal draws times `std` plus `mean`, by Box-Muller on the
    /// pair of words (2j, 2j+1): element 2j takes the cosine, 2j+1 the sine.
    pub fn normal(&self, shape: &[usize], mean: f32, std: f32) -> Result<Tensor> {
        if std.is_nan() || std < 0.0 {
            return Err(Error::argument("normal", "std", std, "at least 0"));
        }
        let n: usize = shape.iter().product();
        let mut out = vec![0f32; n.next_multiple_of(2)];
        out.par_chunks_mut(2).enumerate().for_each(|(j, pair)| {
            let b = self.block(j as u64 / 2);
            let h = 2 * (j % 2);
            // u1 in (0, 1] so that ln(u1) is finite; u2 in [0, 1).
            let u1 = ((b[h] >> 8) as f32 + 1.0) * U24;
            let u2 = (b[h + 1] >> 8) as f32 * U24;
            let r = (-2.0 * u1.ln()).sqrt();
            let theta = 2.0 * std::f32::consts::PI * u2;
            pair[0] = mean + std * r * theta.cos();
            pair[1] = mean + std * r * theta.sin();
        });
        out.truncate(n);
        Ok(Tensor::from_op(out, shape))
    }

    /// A tensor of Bernoulli(p) draws as 0.0 / 1.0: element i is 1 when its uniform draw is
    /// below p. Dropout keeps an activation with probability 1 - p this way.
    pub fn bernoulli(&self, shape: &[usize], p: f32) -> Result<Tensor> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::argument("bernoulli", "p", p, "in [0, 1]"));
        }
        let mut out = vec![0f32; shape.iter().product()];
        self.fill_words(0, &mut out, |w| {
            if ((w >> 8) as f32 * U24) < p {
                1.0
            } else {
                0.0
            }
        });
        Ok(Tensor::from_op(out, shape))
    }
}
