//! Dropout of f32 with AVX-512 intrinsics: the Philox rounds on 16 blocks (64 draws) held in
//! four zmm registers of 32-bit words, a transpose into element order, and the keep/scale
//! select as a mask register. The compiler's own vectorisation of the portable loop widens
//! every 32-bit multiply to 64 bits and gathers the transpose; written by hand, one group of
//! 64 elements is about 200 instructions. The mask is the same as the portable loop's, bit
//! for bit (the tests compare every element with `Philox::uniform_at`).
use crate::random::{Philox, M0, M1, W0, W1};
use std::arch::x86_64::*;

/// The high and low 32 bits of `a * m` in each of 16 lanes: `_mm512_mul_epu32` multiplies
/// the even lanes into 64-bit products; the odd lanes are shifted down and multiplied too.
#[inline(always)]
fn mulhilo(a: __m512i, m: __m512i) -> (__m512i, __m512i) {
    // SAFETY (for the whole function): called only from `dropout_chunk`, which is compiled
    // with AVX-512F and entered only on a CPU that has it.
    unsafe {
        let even = _mm512_mul_epu32(a, m);
        let odd = _mm512_mul_epu32(_mm512_srli_epi64::<32>(a), m);
        let hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64::<32>(even), odd);
        let lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64::<32>(odd));
        (hi, lo)
    }
}

/// `o = x * (kept ? scale : 0)` for the whole groups of 64 elements of a chunk whose first
/// element is element `first` (a multiple of 64) of `rng`'s stream; returns how many
/// elements it did (the rest is left to the portable loop).
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn dropout_chunk(
    o: &mut [f32],
    x: &[f32],
    first: u64,
    rng: Philox,
    threshold: u32,
    scale: f32,
) -> usize {
    let n = o.len().min(x.len()) / 64 * 64;
    let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let (m0, m1) = (_mm512_set1_epi32(M0 as i32), _mm512_set1_epi32(M1 as i32));
    let offset =
        [rng.offset as u32, (rng.offset >> 32) as u32].map(|w| _mm512_set1_epi32(w as i32));
    let threshold = _mm512_set1_epi32(threshold as i32);
    let (scale, zero) = (_mm512_set1_ps(scale), _mm512_setzero_ps());
    for g in (0..n).step_by(64) {
        // Counters of blocks b .. b + 15: (lo, hi) of the block index, then the offset.
        let b = (first + g as u64) / 4;
        let lo = _mm512_add_epi32(_mm512_set1_epi32(b as u32 as i32), lanes);
        let carry = _mm512_cmplt_epu32_mask(lo, _mm512_set1_epi32(b as u32 as i32));
        let hi = _mm512_set1_epi32((b >> 32) as u32 as i32);
        let mut c = [
            lo,
            _mm512_mask_add_epi32(hi, carry, hi, _mm512_set1_epi32(1)),
            offset[0],
            offset[1],
        ];
        let mut k = [rng.seed as u32, (rng.seed >> 32) as u32];
        for round in 0..10 {
            if round > 0 {
                k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
            }
            let (hi0, lo0) = mulhilo(c[0], m0);
            let (hi1, lo1) = mulhilo(c[2], m1);
            c = [
                _mm512_xor_si512(_mm512_xor_si512(hi1, c[1]), _mm512_set1_epi32(k[0] as i32)),
                lo1,
                _mm512_xor_si512(_mm512_xor_si512(hi0, c[3]), _mm512_set1_epi32(k[1] as i32)),
                lo0,
            ];
        }
        // c[w] lane l is the draw of element 4 l + w: a 4 x 4 transpose of 32-bit words
        // within each 128-bit chunk, then of the chunks, puts elements 16 r .. 16 r + 15 in
        // register r.
        let t0 = _mm512_unpacklo_epi32(c[0], c[1]);
        let t1 = _mm512_unpackhi_epi32(c[0], c[1]);
        let t2 = _mm512_unpacklo_epi32(c[2], c[3]);
        let t3 = _mm512_unpackhi_epi32(c[2], c[3]);
        let r = [
            _mm512_unpacklo_epi64(t0, t2),
            _mm512_unpackhi_epi64(t0, t2),
            _mm512_unpacklo_epi64(t1, t3),
            _mm512_unpackhi_epi64(t1, t3),
        ];
        let u0 = _mm512_shuffle_i32x4::<0x44>(r[0], r[1]);
        let u1 = _mm512_shuffle_i32x4::<0xEE>(r[0], r[1]);
        let u2 = _mm512_shuffle_i32x4::<0x44>(r[2], r[3]);
        let u3 = _mm512_shuffle_i32x4::<0xEE>(r[2], r[3]);
        let words = [
            _mm512_shuffle_i32x4::<0x88>(u0, u2),
            _mm512_shuffle_i32x4::<0xDD>(u0, u2),
            _mm512_shuffle_i32x4::<0x88>(u1, u3),
            _mm512_shuffle_i32x4::<0xDD>(u1, u3),
        ];
        for (r, w) in words.into_iter().enumerate() {
            let kept = _mm512_cmplt_epu32_mask(_mm512_srli_epi32::<8>(w), threshold);
            let at = g + 16 * r;
            // SAFETY: at + 16 <= n <= the length of both slices.
            let v = unsafe { _mm512_loadu_ps(x.as_ptr().add(at)) };
            let y = _mm512_mul_ps(v, _mm512_mask_blend_ps(kept, zero, scale));
            // SAFETY: as above, for `o`.
            unsafe { _mm512_storeu_ps(o.as_mut_ptr().add(at), y) };
        }
    }
    n
}
