//! Packing: copy a block of A and a panel of B into the order the micro-kernel reads them, so
//! that the kernel streams through memory with unit stride and no TLB or cache-set conflicts,
//! whatever the strides of the operands (a transposed matrix packs as fast as a plain one).
//! Edges are padded with zeros so the kernel always sees whole MR x NR tiles.
use crate::lanes::{lanes, transpose, Lanes, L};

/// A strided read-only matrix: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    pub(crate) data: &'a [f32],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

multiversion! {
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
            if h == mr && (a.cs == 1 || a.rs == 1) {
                // A whole sliver of a row- or column-major A, with MR known at compile time so
                // that its loops unroll.
                match mr {
                    14 => whole_sliver::<14>(sliver, a, i0, k0, kc),
                    12 => whole_sliver::<12>(sliver, a, i0, k0, kc),
                    8 => whole_sliver::<8>(sliver, a, i0, k0, kc),
                    6 => whole_sliver::<6>(sliver, a, i0, k0, kc),
                    _ => whole_sliver::<4>(sliver, a, i0, k0, kc),
                }
            } else {
                // A partial sliver, or an A with no unit stride.
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
}

/// One whole sliver, `sliver[p * MR + i] = a[i0 + i, k0 + p]`, of an A with unit stride.
/// Column-major (a transposed matrix, the weight gradient's `dY^T`): each p's MR values are
/// contiguous, one copy. Row-major: the MR rows are read side by side, 8 rows by 8 columns
/// at a time transposed in registers, so the sliver is written front to back in whole
/// vectors. (Writing each row at stride MR instead touches a new cache line per element;
/// moving one float at a time made packing a tenth of the tabular model's epoch.)
#[inline(always)]
fn whole_sliver<const MR: usize>(sliver: &mut [f32], a: &MatRef, i0: usize, k0: usize, kc: usize) {
    let sliver = &mut sliver[..kc * MR];
    if a.cs != 1 {
        for (p, out) in sliver.chunks_exact_mut(MR).enumerate() {
            out.copy_from_slice(&a.data[i0 + (k0 + p) * a.cs..][..MR]);
        }
        return;
    }
    let rows: [&[f32]; MR] = std::array::from_fn(|i| &a.data[(i0 + i) * a.rs + k0..][..kc]);
    let whole = kc / L * L;
    for p in (0..whole).step_by(L) {
        if MR < L {
            let block = transpose(lanes(|l| match rows.get(l) {
                Some(row) => Lanes::load(row, p),
                None => Lanes([0.0; L]),
            }));
            for (s, col) in block.iter().enumerate() {
                sliver[(p + s) * MR..][..MR].copy_from_slice(&col.0[..MR]);
            }
            continue;
        }
        // Groups of 8 rows from row 0, 8, ..., the last one ending at row MR (so 14 rows go
        // as rows 0-7 and 6-13: rows 6 and 7 are written twice, the same values), all
        // whole-vector stores.
        for r0 in (0..MR).step_by(L).map(|r| r.min(MR - L)) {
            let block = transpose(lanes(|l| Lanes::load(rows[r0 + l], p)));
            for (s, col) in block.iter().enumerate() {
                col.store(&mut sliver[(p + s) * MR + r0..]);
            }
        }
    }
    for (p, out) in sliver.chunks_exact_mut(MR).enumerate().skip(whole) {
        for i in 0..MR {
            out[i] = rows[i][p];
        }
    }
}

/// `out = src`, zero-padded. Whole sliver rows have the micro-kernels' NR floats: at a
/// constant length the copy is a few vector moves, where a run-time length is a call to
/// memmove (and one to memset for the padding, even when there is none) per row.
#[inline(always)]
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

multiversion! {
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
}

/// Columns of a column-major B packed per call of [`interleave_cols`].
const COLS: usize = L;

/// `sliver[p * nr + jj + c] = b[k0 + p, j + c]` for the COLS columns from `j` of a
/// column-major `b` (each column contiguous): the columns are read side by side, 8 values
/// of each at a time, and transposed in registers into 8 rows of the sliver.
#[inline(always)]
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
    let whole = kc / L * L;
    for p in (0..whole).step_by(L) {
        let block = transpose(lanes(|c| Lanes::load(cols[c], p)));
        for (s, row) in block.iter().enumerate() {
            row.store(&mut sliver[(p + s) * nr + jj..]);
        }
    }
    for p in whole..kc {
        let out = &mut sliver[p * nr + jj..][..COLS];
        for c in 0..COLS {
            out[c] = cols[c][p];
        }
    }
}
