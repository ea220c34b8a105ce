//! Eight floats worked on together. Winograd's transforms are written once over [`Lanes`]
//! (one value of 8 neighbouring tiles, or of 8 channels) and compile to vector instructions
//! for whichever instruction set `multiversion!` selects. Reading 8 short rows and turning
//! them into columns is an 8 x 8 transpose, done with AVX shuffles where the CPU has them:
//! the compiler turned the plain version into 64 single-float moves. The GEMM's packing
//! uses the same transpose to interleave rows of A and columns of B.

/// Floats per [`Lanes`].
pub(crate) const L: usize = 8;

/// `L` floats: one value at `L` places.
#[derive(Clone, Copy)]
pub(crate) struct Lanes(pub(crate) [f32; L]);

impl Lanes {
    /// `data[at..at + L]`.
    #[inline(always)]
    pub(crate) fn load(data: &[f32], at: usize) -> Self {
        let mut lanes = [0.0; L];
        lanes.copy_from_slice(&data[at..at + L]);
        Lanes(lanes)
    }

    /// `data[at ..]`, up to `L` floats of it, then zeros.
    #[inline(always)]
    pub(crate) fn load_upto(data: &[f32], at: usize) -> Self {
        match data.get(at..at + L) {
            Some(_) => Lanes::load(data, at),
            None => {
                let mut lanes = [0.0; L];
                for (v, &d) in lanes.iter_mut().zip(&data[at..]) {
                    *v = d;
                }
                Lanes(lanes)
            }
        }
    }

    /// Writes the lanes to `dst[..L]`.
    #[inline(always)]
    pub(crate) fn store(self, dst: &mut [f32]) {
        dst[..L].copy_from_slice(&self.0);
    }

    /// The first `N` columns of the `L x L` block whose row `l` is `data[at[l] + offset..]`
    /// (`L` floats each): lane `l` of column `s` is `data[at[l] + offset + s]`.
    #[inline(always)]
    pub(crate) fn columns<const N: usize>(data: &[f32], at: &[usize], offset: usize) -> [Self; N] {
        let rows: [Lanes; L] = lanes(|l| Lanes::load(data, at[l] + offset));
        let cols = transpose(rows);
        lanes(|s| cols[s])
    }
}

/// `[f(0), .., f(N - 1)]` (`std::array::from_fn` is not inlined into the instruction-set
/// variants of a `multiversion!` function).
#[inline(always)]
pub(crate) fn lanes<const N: usize>(f: impl Fn(usize) -> Lanes) -> [Lanes; N] {
    let mut out = [Lanes([0.0; L]); N];
    for (i, v) in out.iter_mut().enumerate() {
        *v = f(i);
    }
    out
}

/// The transpose of an `L x L` block given as rows.
#[inline(always)]
pub(crate) fn transpose(rows: [Lanes; L]) -> [Lanes; L] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX, the only feature `transpose_avx` is compiled for.
        return unsafe { transpose_avx(rows) };
    }
    transpose_portable(rows)
}

#[inline(always)]
fn transpose_portable(rows: [Lanes; L]) -> [Lanes; L] {
    let mut cols = [Lanes([0.0; L]); L];
    for (s, col) in cols.iter_mut().enumerate() {
        for (v, row) in col.0.iter_mut().zip(&rows) {
            *v = row.0[s];
        }
    }
    cols
}

/// [`transpose`] in 24 shuffles: pairs of rows interleaved, then pairs of pairs, then the
/// 128-bit halves exchanged. (No closures: they would not inherit the AVX feature.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn transpose_avx(rows: [Lanes; L]) -> [Lanes; L] {
    use std::arch::x86_64::*;
    let mut r = [_mm256_setzero_ps(); L];
    for (r, row) in r.iter_mut().zip(&rows) {
        // SAFETY: a Lanes is 8 readable floats; an unaligned load.
        *r = unsafe { _mm256_loadu_ps(row.0.as_ptr()) };
    }
    // Rows 2k and 2k + 1 interleaved: t[2k] from the low pairs of each half, t[2k + 1] from
    // the high pairs.
    let t = [
        _mm256_unpacklo_ps(r[0], r[1]),
        _mm256_unpackhi_ps(r[0], r[1]),
        _mm256_unpacklo_ps(r[2], r[3]),
        _mm256_unpackhi_ps(r[2], r[3]),
        _mm256_unpacklo_ps(r[4], r[5]),
        _mm256_unpackhi_ps(r[4], r[5]),
        _mm256_unpacklo_ps(r[6], r[7]),
        _mm256_unpackhi_ps(r[6], r[7]),
    ];
    // u[j] (and u[4 + j]): element j of rows 0-3 (4-7) in its low half, j + 4 in its high.
    let u = [
        _mm256_shuffle_ps::<0x44>(t[0], t[2]),
        _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
        _mm256_shuffle_ps::<0x44>(t[1], t[3]),
        _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
        _mm256_shuffle_ps::<0x44>(t[4], t[6]),
        _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
        _mm256_shuffle_ps::<0x44>(t[5], t[7]),
        _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
    ];
    let c = [
        _mm256_permute2f128_ps::<0x20>(u[0], u[4]),
        _mm256_permute2f128_ps::<0x20>(u[1], u[5]),
        _mm256_permute2f128_ps::<0x20>(u[2], u[6]),
        _mm256_permute2f128_ps::<0x20>(u[3], u[7]),
        _mm256_permute2f128_ps::<0x31>(u[0], u[4]),
        _mm256_permute2f128_ps::<0x31>(u[1], u[5]),
        _mm256_permute2f128_ps::<0x31>(u[2], u[6]),
        _mm256_permute2f128_ps::<0x31>(u[3], u[7]),
    ];
    let mut cols = [Lanes([0.0; L]); L];
    for (col, c) in cols.iter_mut().zip(c) {
        // SAFETY: a Lanes is 8 writable floats; an unaligned store.
        unsafe { _mm256_storeu_ps(col.0.as_mut_ptr(), c) };
    }
    cols
}

impl std::ops::Add for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn add(mut self, o: Lanes) -> Lanes {
        for (a, b) in self.0.iter_mut().zip(o.0) {
            *a += b;
        }
        self
    }
}

impl std::ops::Sub for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn sub(mut self, o: Lanes) -> Lanes {
        for (a, b) in self.0.iter_mut().zip(o.0) {
            *a -= b;
        }
        self
    }
}

impl std::ops::Mul<Lanes> for f32 {
    type Output = Lanes;
    #[inline(always)]
    fn mul(self, mut o: Lanes) -> Lanes {
        for v in &mut o.0 {
            *v *= self;
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_the_transpose_on_every_path() {
        // Row starts as a block's tile windows have them: anywhere, not aligned.
        let data: Vec<f32> = (0..200).map(|i| i as f32).collect();
        let at = [0, 17, 30, 45, 60, 91, 120, 150];
        let cols: [Lanes; 6] = Lanes::columns(&data, &at, 3);
        for (s, col) in cols.iter().enumerate() {
            for (l, &v) in col.0.iter().enumerate() {
                assert_eq!(v, data[at[l] + 3 + s], "column {s}, lane {l}");
            }
        }
        // Both transposes, whichever the CPU takes.
        let rows: [Lanes; L] = lanes(|l| Lanes::load(&data, at[l]));
        let mut want = [[0f32; L]; L];
        for (l, row) in rows.iter().enumerate() {
            for (s, &v) in row.0.iter().enumerate() {
                want[s][l] = v;
            }
        }
        let same = |cols: [Lanes; L]| cols.iter().zip(&want).all(|(c, w)| c.0 == *w);
        assert!(same(transpose_portable(rows)));
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU has AVX.
            assert!(same(unsafe { transpose_avx(rows) }));
        }
    }
}
