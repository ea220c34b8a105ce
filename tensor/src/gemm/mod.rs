//! Single-precision matrix multiplication, `C = alpha * A * B + beta * C`, written by hand.
//!
//! The classic recipe of Goto & van de Geijn ("Anatomy of High-Performance Matrix
//! Multiplication", 2008) and the BLIS papers. Five loops around a register-blocked
//! micro-kernel:
//!
//! ```text
//! split the rows of C into one equal share per thread; on each thread, independently:
//! for jc in n, step NC          B panel kc x nc, this thread's own copy, in L2
//!   for pc in k, step KC        pack B[pc.., jc..] into NR-wide slivers
//!     for ic in rows, step MC
//!       pack A[ic.., pc..] into MR-tall slivers (L2)
//!       for jr in nc, step NR   one B sliver, kept in L1 across the next loop
//!         for ir in mc, step MR
//!           micro-kernel: MR x NR tile of C, kc FMAs deep, in registers
//! ```
//!
//! Threads share nothing but A and B themselves: each packs its own B panels, which costs
//! one extra copy of B per thread and saves every barrier and every read of a panel from the
//! other core's cache (measured: the shared-panel version was 20% slower on the tabular
//! model's shapes).
//!
//! The micro-kernel is chosen at run time: AVX-512 (MR x 32), AVX2+FMA (6 x 16) or a portable
//! one. Operands may have any strides (a transposed matrix is just rs = 1), because packing
//! reorders them anyway; C must have unit column stride so that threads own whole rows.
mod kernels;
mod pack;

use crate::{Error, Result};
use kernels::MicroKernel;
pub use pack::MatRef;
use rayon::prelude::*;
use std::cell::RefCell;
use std::sync::OnceLock;

/// Depth of a packed block: a KC x NR sliver of B (32 KiB for NR = 32) stays in L1.
const KC: usize = 256;
/// Width of a packed B panel: KC x NC floats (2 MiB), one per thread, in its L2.
const NC: usize = 2048;
/// Panel width when all of a thread's rows fit one A block (measured: conv 64 -> 64 at 56x56
/// 5% faster than with NC).
const NC_ONE_BLOCK: usize = 1024;
/// Most rows of A packed at once: MC x KC floats (288 KiB) stay in a core's L2.
const MC_MAX: usize = 288;
/// Below this many multiply-adds a GEMM runs on one thread.
const PAR_WORK: usize = 1 << 18;

impl<'a> MatRef<'a> {
    /// A `rows x cols` view of `data` with row stride `rs` and column stride `cs`. Fails if
    /// the last element would lie outside `data`.
    pub fn new(data: &'a [f32], rows: usize, cols: usize, rs: usize, cs: usize) -> Result<Self> {
        check_span("gemm", data.len(), rows, cols, rs, cs)?;
        Ok(MatRef {
            data,
            rows,
            cols,
            rs,
            cs,
        })
    }
}

/// A row-major mutable matrix: element (i, j) is `data[i * rs + j]`.
#[derive(Debug)]
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    rs: usize,
}

impl<'a> MatMut<'a> {
    /// A `rows x cols` view of `data` with row stride `rs >= cols`.
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize, rs: usize) -> Result<Self> {
        if rows > 1 && rs < cols {
            return Err(Error::argument(
                "gemm",
                "the output row stride",
                rs as f64,
                "at least the number of columns",
            ));
        }
        check_span("gemm", data.len(), rows, cols, rs, 1)?;
        Ok(MatMut {
            data,
            rows,
            cols,
            rs,
        })
    }
}

fn check_span(
    op: &'static str,
    len: usize,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
) -> Result<()> {
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    let last = (rows - 1)
        .checked_mul(rs)
        .and_then(|r| (cols - 1).checked_mul(cs).and_then(|c| r.checked_add(c)));
    match last {
        Some(l) if l < len => Ok(()),
        _ => Err(Error::shapes(
            op,
            &[&[rows, cols], &[rs, cs], &[len]],
            "a matrix [rows, cols] with strides [rs, cs] within its buffer of [len] elements",
        )),
    }
}

/// The instruction set of the micro-kernels, detected once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Isa {
    Avx512,
    Avx2,
    Portable,
}

fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if std::env::var_os("LESSON6_GEMM_PORTABLE").is_none() {
            if is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    })
}

/// The micro-kernel for a product whose C has `m` rows split over `tasks` threads. With
/// AVX-512 the tile height MR is 8, 12 or 14 rows, whichever wastes the fewest padded rows
/// (a convolution with 64 output channels split over 2 threads is 2 x 32 rows: 14-row tiles
/// would compute 42 rows per thread, 8-row tiles exactly 32); taller tiles win ties, since
/// they load B fewer times per FMA.
fn micro_kernel(isa: Isa, m: usize, tasks: usize) -> MicroKernel {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            let rows = m.div_ceil(tasks.max(1)).max(1);
            let mr = [14, 12, 8]
                .into_iter()
                .min_by_key(|&mr| rows.div_ceil(mr) * mr)
                .unwrap_or(14);
            let (run, name): (kernels::KernelFn, _) = match mr {
                14 => (kernels::x86::avx512::<14>, "avx512 14x32"),
                12 => (kernels::x86::avx512::<12>, "avx512 12x32"),
                _ => (kernels::x86::avx512::<8>, "avx512 8x32"),
            };
            MicroKernel {
                mr,
                nr: 32,
                run,
                name,
            }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => MicroKernel {
            mr: 6,
            nr: 16,
            run: kernels::x86::avx2,
            name: "avx2 6x16",
        },
        _ => MicroKernel {
            mr: 4,
            nr: 8,
            run: kernels::portable,
            name: "portable 4x8",
        },
    }
}

/// The name of the micro-kernel a large GEMM uses (for benchmarks and bug reports). Setting the
/// environment variable `LESSON6_GEMM_PORTABLE` before the first GEMM forces the portable one.
pub fn kernel_name() -> &'static str {
    micro_kernel(isa(), 1 << 12, 1).name
}

/// `C = alpha * A * B + beta * C`, in parallel on the rayon pool when the product is large.
pub fn gemm(alpha: f32, a: MatRef, b: MatRef, beta: f32, c: MatMut) -> Result<()> {
    gemm_with(alpha, a, &b, beta, c, true)
}

/// As [`gemm`], on the calling thread only (for callers that parallelise over a batch).
pub fn gemm_serial(alpha: f32, a: MatRef, b: MatRef, beta: f32, c: MatMut) -> Result<()> {
    gemm_with(alpha, a, &b, beta, c, false)
}

/// A source of the B operand. The GEMM never reads B directly, only packs KC x NR slivers of
/// it, so B need not exist as a matrix at all: the convolution's column matrix is packed
/// straight from the image (an "implicit im2col"), never written out.
pub(crate) trait PackB: Sync {
    /// (rows, cols) of B.
    fn dims(&self) -> (usize, usize);
    /// Writes `B[k0 .. k0 + kc, j0 .. j0 + ncols]` into `dst` as `ceil(ncols / nr)` slivers,
    /// each kc rows of `nr` floats, the spare columns of the last one zeroed.
    fn pack_panel(&self, dst: &mut [f32], k0: usize, kc: usize, j0: usize, ncols: usize, nr: usize);
}

impl PackB for MatRef<'_> {
    fn dims(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
    fn pack_panel(
        &self,
        dst: &mut [f32],
        k0: usize,
        kc: usize,
        j0: usize,
        ncols: usize,
        nr: usize,
    ) {
        pack::pack_b_panel(dst, self, k0, kc, j0, ncols, nr);
    }
}

/// `C = alpha * A * B + beta * C` for any B source; `parallel` allows the rayon pool.
pub(crate) fn gemm_with(
    alpha: f32,
    a: MatRef,
    b: &impl PackB,
    beta: f32,
    c: MatMut,
    parallel: bool,
) -> Result<()> {
    gemm_isa(isa(), alpha, a, b, beta, c, parallel)
}

/// [`gemm_with`] with a given instruction set (the tests run every one this CPU has).
fn gemm_isa(
    isa: Isa,
    alpha: f32,
    a: MatRef,
    b: &impl PackB,
    beta: f32,
    c: MatMut,
    parallel: bool,
) -> Result<()> {
    let (m, k, n) = (a.rows, a.cols, b.dims().1);
    if b.dims().0 != k || c.rows != m || c.cols != n {
        return Err(Error::shapes(
            "gemm",
            &[&[m, k], &[b.dims().0, n], &[c.rows, c.cols]],
            "A [M, K] times B [K, N] into C [M, N]",
        ));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 || alpha == 0.0 {
        for i in 0..m {
            let row = &mut c.data[i * c.rs..i * c.rs + n];
            if beta == 0.0 {
                row.fill(0.0);
            } else {
                row.iter_mut().for_each(|x| *x *= beta);
            }
        }
        return Ok(());
    }
    let parallel = parallel && m * n * k >= PAR_WORK && rayon::current_num_threads() > 1;
    let threads = if parallel {
        rayon::current_num_threads()
    } else {
        1
    };
    let uk = micro_kernel(isa, m, threads);
    // One task per thread, each owning an equal share of the MR-row slivers of C and running
    // the whole loop nest on it, packing its own copy of each B panel. Packing B twice costs
    // k*n copies per extra thread, but the threads then never wait for each other, and each
    // reads B from its own L2 rather than half of it from the other core's.
    let tasks = threads.min(m.div_ceil(uk.mr));
    // K blocks of equal depth (k = 576 as 3 x 192, not 256 + 256 + 64): a shallow last block
    // would pay the C-tile load and store for few FMAs.
    let kc_max = k.div_ceil(k.div_ceil(KC));
    // When each thread's rows fit one A block (a convolution's 64 output channels), narrower
    // panels cost no repacking of A, and keep the B panel and the C block together in L2.
    let nc_max = if m.div_ceil(tasks) <= MC_MAX {
        NC_ONE_BLOCK
    } else {
        NC
    };
    let rs = c.rs;
    let task = |(row0, rows, c_rows): (usize, usize, &mut [f32])| {
        let mc = (MC_MAX / uk.mr * uk.mr).min(rows.next_multiple_of(uk.mr));
        with_buffer(
            &PACK_B,
            kc_max * nc_max.min(n.next_multiple_of(uk.nr)),
            |bpack| {
                with_buffer(&PACK_A, mc * kc_max, |apack| {
                    for jc in (0..n).step_by(nc_max) {
                        let nc = nc_max.min(n - jc);
                        for pc in (0..k).step_by(kc_max) {
                            let kc = kc_max.min(k - pc);
                            let beta_eff = if pc == 0 { beta } else { 1.0 };
                            let bp = &mut bpack[..nc.div_ceil(uk.nr) * kc * uk.nr];
                            b.pack_panel(bp, pc, kc, jc, nc, uk.nr);
                            for sub in (0..rows).step_by(mc) {
                                let h = mc.min(rows - sub);
                                let ap = &mut apack[..h.next_multiple_of(uk.mr) * kc];
                                pack::pack_a(ap, &a, row0 + sub..row0 + sub + h, pc, kc, uk.mr);
                                let c_block = &mut c_rows[sub * rs..];
                                macro_block(
                                    &uk, kc, ap, bp, c_block, rs, h, jc, nc, alpha, beta_eff,
                                );
                            }
                        }
                    }
                })
            },
        )
    };
    let parts = split_rows(&mut c.data[..(m - 1) * rs + n], rs, m, uk.mr, tasks);
    if parallel {
        parts.into_par_iter().for_each(task);
    } else {
        parts.into_iter().for_each(task);
    }
    Ok(())
}

/// Splits the rows of C (row stride `rs`) into `tasks` parts with equal numbers of MR-row
/// slivers (give or take one): `(first_row, rows, data)` for each.
fn split_rows(
    mut rest: &mut [f32],
    rs: usize,
    m: usize,
    mr: usize,
    tasks: usize,
) -> Vec<(usize, usize, &mut [f32])> {
    let slivers = m.div_ceil(mr);
    let mut parts = Vec::with_capacity(tasks);
    let mut row0 = 0;
    for t in 0..tasks {
        let share = slivers * (t + 1) / tasks - slivers * t / tasks;
        let rows = (share * mr).min(m - row0);
        let (head, tail) = if t + 1 < tasks {
            rest.split_at_mut(rows * rs)
        } else {
            (rest, &mut [][..])
        };
        parts.push((row0, rows, head));
        rest = tail;
        row0 += rows;
    }
    parts
}

/// Runs the micro-kernel over one packed A block (`mc` rows) and one packed B panel (`nc`
/// columns starting at column `jc` of C). `c_rows` starts at the block's first row.
#[allow(clippy::too_many_arguments)]
fn macro_block(
    uk: &MicroKernel,
    kc: usize,
    ap: &[f32],
    bp: &[f32],
    c_rows: &mut [f32],
    rs: usize,
    mc: usize,
    jc: usize,
    nc: usize,
    alpha: f32,
    beta: f32,
) {
    let (mr, nr) = (uk.mr, uk.nr);
    let mut edge = [0f32; 16 * 32];
    for (s, b_sliver) in bp.chunks_exact(kc * nr).enumerate() {
        let j = jc + s * nr;
        let w = nr.min(nc - s * nr);
        for (t, a_sliver) in ap.chunks_exact(kc * mr).enumerate() {
            let i = t * mr;
            let h = mr.min(mc - i);
            if h == mr && w == nr {
                let tile = &mut c_rows[i * rs + j..(i + mr - 1) * rs + j + nr];
                // SAFETY: the slivers hold kc*mr and kc*nr floats (chunks_exact), `tile`
                // covers the mr x nr tile with row stride rs, and the kernel was chosen
                // after detecting its CPU features.
                unsafe {
                    (uk.run)(
                        kc,
                        a_sliver.as_ptr(),
                        b_sliver.as_ptr(),
                        tile.as_mut_ptr(),
                        rs,
                        alpha,
                        beta,
                    );
                }
            } else {
                // A partial tile: compute the whole tile into a scratch buffer, copy what fits.
                // SAFETY: as above; `edge` holds mr x nr floats with row stride nr.
                unsafe {
                    (uk.run)(
                        kc,
                        a_sliver.as_ptr(),
                        b_sliver.as_ptr(),
                        edge.as_mut_ptr(),
                        nr,
                        alpha,
                        0.0,
                    );
                }
                for r in 0..h {
                    let dst = &mut c_rows[(i + r) * rs + j..(i + r) * rs + j + w];
                    for (d, &v) in dst.iter_mut().zip(&edge[r * nr..r * nr + w]) {
                        *d = if beta == 0.0 { v } else { v + beta * *d };
                    }
                }
            }
        }
    }
}

thread_local! {
    /// Packing buffers reused across calls on this thread: a fresh multi-megabyte buffer per
    /// call would cost a page fault per 4 KiB, which for a small GEMM is as long as the maths.
    static PACK_A: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static PACK_B: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on a `len`-float buffer from `cache`, 64-byte aligned (one cache line, one zmm
/// load) so packed slivers never straddle cache lines. Its contents are unspecified: packing
/// overwrites every element it hands to the kernel. If the cache is already in use on this
/// thread (a GEMM started inside another one by rayon's work stealing), a fresh buffer is used.
pub(crate) fn with_buffer<R>(
    cache: &'static std::thread::LocalKey<RefCell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    let run = |v: &mut Vec<f32>| {
        if v.len() < len + 16 {
            *v = vec![0f32; len + 16];
        }
        let start = v.as_ptr().align_offset(64).min(16);
        f(&mut v[start..start + len])
    };
    cache.with(|c| match c.try_borrow_mut() {
        Ok(mut v) => run(&mut v),
        Err(_) => run(&mut Vec::new()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every micro-kernel this CPU can run (the property tests only reach the best one).
    fn available() -> Vec<Isa> {
        let mut v = vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                v.push(Isa::Avx2);
            }
            if is_x86_feature_detected!("avx512f") {
                v.push(Isa::Avx512);
            }
        }
        v
    }

    #[test]
    fn every_micro_kernel_matches_a_naive_product() {
        let vals = |n: usize, seed: u64| -> Vec<f32> {
            crate::random::Philox::new(seed, 1)
                .uniform(&[n], -1.0, 1.0)
                .unwrap()
                .to_vec()
                .unwrap()
        };
        for isa in available() {
            // Odd sizes that leave partial tiles for every MR/NR, k across a KC boundary, and
            // m large enough for row splitting; B transposed to exercise strided packing, A
            // both row- and column-major (as `at`, its transpose, holds it).
            for &(m, n, k) in &[(1, 1, 1), (13, 37, 300), (70, 33, 257), (129, 65, 31)] {
                let (a, b) = (vals(m * k, 1), vals(k * n, 2));
                let at: Vec<f32> = (0..k * m).map(|q| a[q % m * k + q / m]).collect();
                let c0 = vals(m * n, 3);
                for (parallel, a_rows) in [(false, true), (true, true), (true, false)] {
                    let mut c = c0.clone();
                    let am = if a_rows {
                        MatRef::new(&a, m, k, k, 1).unwrap()
                    } else {
                        MatRef::new(&at, m, k, 1, m).unwrap()
                    };
                    let bm = MatRef::new(&b, k, n, 1, k).unwrap();
                    let cm = MatMut::new(&mut c, m, n, n).unwrap();
                    gemm_isa(isa, 0.5, am, &bm, 2.0, cm, parallel).unwrap();
                    for i in 0..m {
                        for j in 0..n {
                            let (mut want, mut scale) =
                                (2.0 * c0[i * n + j] as f64, 2.0 * c0[i * n + j].abs() as f64);
                            for p in 0..k {
                                let t = 0.5 * a[i * k + p] as f64 * b[j * k + p] as f64;
                                want += t;
                                scale += t.abs();
                            }
                            let got = c[i * n + j] as f64;
                            assert!(
                                (got - want).abs() <= 1e-5 * scale + 1e-6,
                                "{isa:?} {m}x{n}x{k} (A row-major: {a_rows}) C[{i},{j}] = {got}, expected {want}"
                            );
                        }
                    }
                }
            }
        }
    }
}
