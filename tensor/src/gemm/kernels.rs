//! Micro-kernels: the innermost loop of the GEMM. Each computes one MR x NR tile of
//! `A_sliver (MR x kc) * B_sliver (kc x NR)` entirely in registers, reading the packed
//! slivers front to back, then writes `C = alpha * tile + beta * C` (C row-major, row stride
//! `rsc`). With beta == 0, C is not read (so NaN or garbage in C does not leak in).
//!
//! The register budget sets the tile: AVX-512 has 32 zmm registers, so MR rows x 2 zmm
//! (32 floats) of accumulators plus 2 for B and one broadcast of A; AVX2 has 16 ymm registers:
//! 6 rows x 2 ymm = 12 accumulators. Each k step does MR*NR/lanes FMAs for NR/lanes vector
//! loads of B and MR broadcasts of A; the larger MR, the better that ratio.

/// A micro-kernel: `(kc, a_sliver, b_sliver, c, rsc, alpha, beta)`.
///
/// # Safety
/// `a` must point to `kc * MR` and `b` to `kc * NR` readable floats; `c` to an MR x NR tile
/// with row stride `rsc`, writable; and the CPU must support the kernel's instruction set.
pub(crate) type KernelFn = unsafe fn(usize, *const f32, *const f32, *mut f32, usize, f32, f32);

/// One micro-kernel and its tile shape.
#[derive(Clone, Copy)]
pub(crate) struct MicroKernel {
    pub mr: usize,
    pub nr: usize,
    pub run: KernelFn,
    pub name: &'static str,
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use std::arch::x86_64::*;

    /// AVX-512: MR x 32 tile, MR rows of two zmm accumulators.
    ///
    /// # Safety
    /// See [`super::KernelFn`]; requires AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn avx512<const MR: usize>(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        rsc: usize,
        alpha: f32,
        beta: f32,
    ) {
        // SAFETY: the caller guarantees kc*MR floats at `a`, kc*32 at `b` and a writable
        // MR x 32 tile at `c` with row stride `rsc`, and that AVX-512F is available.
        unsafe {
            // Ask for the C tile now so that its cache misses overlap the FMAs below.
            for i in 0..MR {
                _mm_prefetch::<_MM_HINT_T0>(c.add(i * rsc) as *const i8);
                _mm_prefetch::<_MM_HINT_T0>(c.add(i * rsc + 16) as *const i8);
            }
            let mut acc = [[_mm512_setzero_ps(); 2]; MR];
            for p in 0..kc {
                let bp = b.add(p * 32);
                let b0 = _mm512_loadu_ps(bp);
                let b1 = _mm512_loadu_ps(bp.add(16));
                let ap = a.add(p * MR);
                for (i, row) in acc.iter_mut().enumerate() {
                    let ai = _mm512_set1_ps(*ap.add(i));
                    row[0] = _mm512_fmadd_ps(ai, b0, row[0]);
                    row[1] = _mm512_fmadd_ps(ai, b1, row[1]);
                }
            }
            let va = _mm512_set1_ps(alpha);
            let vb = _mm512_set1_ps(beta);
            for (i, row) in acc.iter().enumerate() {
                let cp = c.add(i * rsc);
                for (h, &v) in row.iter().enumerate() {
                    let dst = cp.add(16 * h);
                    let mut r = _mm512_mul_ps(v, va);
                    if beta != 0.0 {
                        r = _mm512_fmadd_ps(_mm512_loadu_ps(dst), vb, r);
                    }
                    _mm512_storeu_ps(dst, r);
                }
            }
        }
    }

    /// AVX2 + FMA: 6 x 16 tile, six rows of two ymm accumulators.
    ///
    /// # Safety
    /// See [`super::KernelFn`]; requires AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn avx2(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        rsc: usize,
        alpha: f32,
        beta: f32,
    ) {
        const MR: usize = 6;
        // SAFETY: the caller guarantees kc*6 floats at `a`, kc*16 at `b` and a writable
        // 6 x 16 tile at `c` with row stride `rsc`, and that AVX2 and FMA are available.
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); 2]; MR];
            for p in 0..kc {
                let bp = b.add(p * 16);
                let b0 = _mm256_loadu_ps(bp);
                let b1 = _mm256_loadu_ps(bp.add(8));
                let ap = a.add(p * MR);
                for (i, row) in acc.iter_mut().enumerate() {
                    let ai = _mm256_set1_ps(*ap.add(i));
                    row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
                    row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
                }
            }
            let va = _mm256_set1_ps(alpha);
            let vb = _mm256_set1_ps(beta);
            for (i, row) in acc.iter().enumerate() {
                let cp = c.add(i * rsc);
                for (h, &v) in row.iter().enumerate() {
                    let dst = cp.add(8 * h);
                    let mut r = _mm256_mul_ps(v, va);
                    if beta != 0.0 {
                        r = _mm256_fmadd_ps(_mm256_loadu_ps(dst), vb, r);
                    }
                    _mm256_storeu_ps(dst, r);
                }
            }
        }
    }
}

/// Portable fallback: a 4 x 8 tile in plain Rust, which the compiler vectorises with
/// whatever the target baseline offers.
///
/// # Safety
/// See [`KernelFn`].
pub(crate) unsafe fn portable(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    rsc: usize,
    alpha: f32,
    beta: f32,
) {
    const MR: usize = 4;
    const NR: usize = 8;
    // SAFETY: the caller guarantees kc*4 floats at `a`, kc*8 at `b` and a writable 4 x 8 tile
    // at `c` with row stride `rsc`; the slices below cover exactly those ranges.
    let (a, b) = unsafe {
        (
            std::slice::from_raw_parts(a, kc * MR),
            std::slice::from_raw_parts(b, kc * NR),
        )
    };
    let mut acc = [[0f32; NR]; MR];
    for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        for (row, &ai) in acc.iter_mut().zip(ap) {
            for (x, &bj) in row.iter_mut().zip(bp) {
                *x += ai * bj;
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: row i of the tile is NR writable floats at c + i*rsc (caller's guarantee).
        let dst = unsafe { std::slice::from_raw_parts_mut(c.add(i * rsc), NR) };
        for (d, &v) in dst.iter_mut().zip(row) {
            *d = if beta == 0.0 {
                alpha * v
            } else {
                alpha * v + beta * *d
            };
        }
    }
}
