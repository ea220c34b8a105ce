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
        if a.cs == 1 {
            // Row-major A: read each row contiguously, write with stride MR.
            for i in 0..h {
                let src = &a.data[(i0 + i) * a.rs + k0..][..kc];
                for (p, &v) in src.iter().enumerate() {
                    sliver[p * mr + i] = v;
                }
            }
        } else {
            for p in 0..kc {
                let col = (k0 + p) * a.cs;
                for i in 0..h {
                    sliver[p * mr + i] = a.data[(i0 + i) * a.rs + col];
                }
            }
        }
        if h < mr {
            for p in 0..kc {
                sliver[p * mr + h..(p + 1) * mr].fill(0.0);
            }
        }
    }
}

/// Packs one NR-column sliver of B: for each p in `0..kc`, the `w <= NR` values
/// `b[k0 + p, j0 .. j0 + w]`, padded with zeros to NR. Slivers are independent, so a panel
/// is packed in parallel, one sliver per task.
pub(crate) fn pack_b_sliver(
    sliver: &mut [f32],
    b: &MatRef,
    k0: usize,
    kc: usize,
    j0: usize,
    w: usize,
    nr: usize,
) {
    for p in 0..kc {
        let dst = &mut sliver[p * nr..(p + 1) * nr];
        let row = (k0 + p) * b.rs;
        if b.cs == 1 {
            dst[..w].copy_from_slice(&b.data[row + j0..row + j0 + w]);
        } else {
            for (j, d) in dst[..w].iter_mut().enumerate() {
                *d = b.data[row + (j0 + j) * b.cs];
            }
        }
        dst[w..].fill(0.0);
    }
}
