//! Packing: copy a block of A and a panel of B into the order the micro-kernel reads them, so
//! that the kernel streams through memory with unit stride and no TLB or cache-set conflicts,
//! whatever the strides of the operands (a transposed matrix packs as fast as a plain one).
//! Edges are padded with zeros so the kernel always sees whole MR x NR tiles.

/// A strided read-only matrix: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    pub(crate) data: &'a [f32],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

/// Packs rows `rows` x columns `k0..k0+kc` of `a` as MR-row slivers: sliver s holds, for each
/// p, the MR values `a[s*MR + i, k0 + p]`.
pub(crate) fn pack_a(
    dst: &mut [f32],
    a: &MatRef,
    rows: std::ops::Range<usize>,
    k0: usize,
    kc: usize,
    mr: usize,
) {
    let mc = rows.len();
    for (s, sliver) in dst
        .chunks_exact_mut(kc * mr)
        .take(mc.div_ceil(mr))
        .enumerate()
    {
        let i0 = rows.start + s * mr;
        let h = mr.min(rows.end - i0);
        if a.cs == 1 && h == mr {
            // Row-major A, a whole sliver: read the MR rows side by side and write the sliver
            // front to back, with MR known at compile time so the inner loop unrolls.
            // (Writing each row at stride MR instead touches a new cache line per element.)
            match mr {
                14 => interleave_rows::<14>(sliver, a, i0, k0, kc),
                12 => interleave_rows::<12>(sliver, a, i0, k0, kc),
                8 => interleave_rows::<8>(sliver, a, i0, k0, kc),
                6 => interleave_rows::<6>(sliver, a, i0, k0, kc),
                _ => interleave_rows::<4>(sliver, a, i0, k0, kc),
            }
        } else {
            // A partial sliver, or a strided A.
            for (p, out) in sliver.chunks_exact_mut(mr).enumerate() {
                let col = (k0 + p) * a.cs;
                for (i, o) in out.iter_mut().enumerate().take(h) {
                    *o = a.data[(i0 + i) * a.rs + col];
                }
                out[h..].fill(0.0);
            }
        }
    }
}

/// One whole sliver of a row-major A: `sliver[p * MR + i] = a[i0 + i, k0 + p]`.
fn interleave_rows<const MR: usize>(
    sliver: &mut [f32],
    a: &MatRef,
    i0: usize,
    k0: usize,
    kc: usize,
) {
    let rows: [&[f32]; MR] = std::array::from_fn(|i| &a.data[(i0 + i) * a.rs + k0..][..kc]);
    for (p, out) in sliver.chunks_exact_mut(MR).enumerate().take(kc) {
        for i in 0..MR {
            out[i] = rows[i][p];
        }
    }
}

/// `out = src`, zero-padded. Whole sliver rows have the micro-kernels' NR floats: at a
/// constant length the copy is a few vector moves, where a run-time length is a call to
/// memmove (and one to memset for the padding, even when there is none) per row.
fn copy_row(out: &mut [f32], src: &[f32]) {
    match (out.len(), src.len()) {
        (32, 32) => out[..32].copy_from_slice(&src[..32]),
        (16, 16) => out[..16].copy_from_slice(&src[..16]),
        (8, 8) => out[..8].copy_from_slice(&src[..8]),
        (_, len) => {
            out[..len].copy_from_slice(src);
            out[len..].fill(0.0);
        }
    }
}

/// Packs columns `j0 .. j0 + ncols` of rows `k0 .. k0 + kc` of `b` as NR-column slivers
/// (sliver s holds, for each p, the NR values `b[k0 + p, j0 + s*NR ..]`, zero-padded). The
/// loop order follows B's layout: a row-major B is read row by row (long contiguous runs the
/// hardware prefetcher can follow; reading one sliver at a time instead jumps a whole row of
/// B every 128 bytes and ran at a third of the speed), a column-major B column by column.
pub(crate) fn pack_b_panel(
    dst: &mut [f32],
    b: &MatRef,
    k0: usize,
    kc: usize,
    j0: usize,
    ncols: usize,
    nr: usize,
) {
    let slivers = ncols.div_ceil(nr);
    if b.cs == 1 {
        for p in 0..kc {
            let row = &b.data[(k0 + p) * b.rs + j0..][..ncols];
            for (s, chunk) in row.chunks(nr).enumerate() {
                let out = &mut dst[(s * kc + p) * nr..][..nr];
                copy_row(out, chunk);
            }
        }
    } else {
        for s in 0..slivers {
            let sliver = &mut dst[s * kc * nr..(s + 1) * kc * nr];
            let w = nr.min(ncols - s * nr);
            if b.rs == 1 && w == nr && nr.is_multiple_of(COLS) {
                // A column-major B (a Linear layer's `weight.t()`), a whole sliver: COLS
                // columns at a time, read side by side and written as contiguous runs.
                for jj in (0..nr).step_by(COLS) {
                    interleave_cols(sliver, nr, jj, b, j0 + s * nr + jj, k0, kc);
                }
                continue;
            }
            for jj in 0..w {
                let col = (j0 + s * nr + jj) * b.cs;
                for (p, out) in sliver.chunks_exact_mut(nr).enumerate() {
                    out[jj] = b.data[(k0 + p) * b.rs + col];
                }
            }
            for out in sliver.chunks_exact_mut(nr) {
                out[w..].fill(0.0);
            }
        }
    }
}

/// Columns of a column-major B packed per call of [`interleave_cols`].
const COLS: usize = 8;

/// `sliver[p * nr + jj + c] = b[k0 + p, j + c]` for the COLS columns from `j` of a
/// column-major `b` (each column contiguous): the transpose of [`interleave_rows`].
fn interleave_cols(
    sliver: &mut [f32],
    nr: usize,
    jj: usize,
    b: &MatRef,
    j: usize,
    k0: usize,
    kc: usize,
) {
    let cols: [&[f32]; COLS] = std::array::from_fn(|c| &b.data[(j + c) * b.cs + k0..][..kc]);
    for (p, out) in sliver.chunks_exact_mut(nr).enumerate().take(kc) {
        let out = &mut out[jj..jj + COLS];
        for c in 0..COLS {
            out[c] = cols[c][p];
        }
    }
}
