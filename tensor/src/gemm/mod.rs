//! Single-precision matrix multiplication, `C = alpha * A * B + beta * C`, written by hand.
//!
//! The classic recipe of Goto & van de Geijn ("Anatomy of High-Performance Matrix
//! Multiplication", 2008) and the BLIS papers. Five loops around a register-blocked
//! micro-kernel:
//!
//! ```text
//! for jc in n, step NC          B panel kc x nc lives in L3/L2
//!   for pc in k, step KC        pack B[pc.., jc..] into NR-wide slivers (in parallel)
//!     for ic in m, step MC      (in parallel: one row block of C per task)
//!       pack A[ic.., pc..] into MR-tall slivers (L2)
//!       for jr in nc, step NR   one B sliver, kept in L1 across the next loop
//!         for ir in mc, step MR
//!           micro-kernel: MR x NR tile of C, kc FMAs deep, in registers
//! ```
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
use std::sync::OnceLock;

/// Depth of a packed block: a KC x NR sliver of B (32 KiB for NR = 32) stays in L1.
const KC: usize = 256;
/// Width of a packed B panel: KC x NC floats (2 MiB) shared by all threads from L2/L3.
const NC: usize = 2048;
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
            return Err(Error::invalid(
                "gemm",
                format!("output row stride {rs} is smaller than its {cols} columns"),
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

fn check_span(op: &'static str, len: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> Result<()> {
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    let last = (rows - 1)
        .checked_mul(rs)
        .and_then(|r| (cols - 1).checked_mul(cs).and_then(|c| r.checked_add(c)));
    match last {
        Some(l) if l < len => Ok(()),
        _ => Err(Error::index(
            op,
            format!("a {rows} x {cols} matrix with strides ({rs}, {cs}) does not fit in {len} elements"),
        )),
    }
}

/// The best micro-kernel this CPU supports, detected once.
fn micro_kernel() -> MicroKernel {
    static KERNEL: OnceLock<MicroKernel> = OnceLock::new();
    *KERNEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::env::var_os("LESSON6_GEMM_PORTABLE").is_none() {
                if is_x86_feature_detected!("avx512f") {
                    return MicroKernel {
                        mr: 14,
                        nr: 32,
                        run: kernels::x86::avx512::<14>,
                        name: "avx512 14x32",
                    };
                }
                if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                    return MicroKernel {
                        mr: 6,
                        nr: 16,
                        run: kernels::x86::avx2,
                        name: "avx2 6x16",
                    };
                }
            }
        }
        MicroKernel {
            mr: 4,
            nr: 8,
            run: kernels::portable,
            name: "portable 4x8",
        }
    })
}

/// The name of the micro-kernel in use (for benchmarks and bug reports). Setting the
/// environment variable `LESSON6_GEMM_PORTABLE` before the first GEMM forces the portable one.
pub fn kernel_name() -> &'static str {
    micro_kernel().name
}

/// `C = alpha * A * B + beta * C`, in parallel on the rayon pool when the product is large.
pub fn gemm(alpha: f32, a: MatRef, b: MatRef, beta: f32, c: MatMut) -> Result<()> {
    gemm_with(alpha, a, b, beta, c, true)
}

/// As [`gemm`], on the calling thread only (for callers that parallelise over a batch).
pub fn gemm_serial(alpha: f32, a: MatRef, b: MatRef, beta: f32, c: MatMut) -> Result<()> {
    gemm_with(alpha, a, b, beta, c, false)
}

fn gemm_with(alpha: f32, a: MatRef, b: MatRef, beta: f32, c: MatMut, parallel: bool) -> Result<()> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if b.rows != k || c.rows != m || c.cols != n {
        return Err(Error::shape(
            "gemm",
            format!(
                "A [{m}, {k}] times B [{}, {n}] into C [{}, {}]: shapes do not agree",
                b.rows, c.rows, c.cols
            ),
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
    let uk = micro_kernel();
    let parallel = parallel && m * n * k >= PAR_WORK && rayon::current_num_threads() > 1;
    let threads = if parallel { rayon::current_num_threads() } else { 1 };
    // Row blocks: MR-aligned, at most MC_MAX rows, and at least one per thread.
    let mc = m.div_ceil(threads).div_ceil(uk.mr).max(1) * uk.mr;
    let mc = mc.min(MC_MAX / uk.mr * uk.mr);
    let mut bpack = aligned_buffer(KC * NC.min(n.next_multiple_of(uk.nr)));
    let rs = c.rs;
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            let beta_eff = if pc == 0 { beta } else { 1.0 };
            let slivers = nc.div_ceil(uk.nr);
            let bp = &mut bpack.as_mut_slice()[..slivers * kc * uk.nr];
            let pack_one = |(s, sliver): (usize, &mut [f32])| {
                let j0 = jc + s * uk.nr;
                pack::pack_b_sliver(sliver, &b, pc, kc, j0, uk.nr.min(jc + nc - j0), uk.nr);
            };
            if parallel {
                bp.par_chunks_mut(kc * uk.nr).enumerate().for_each(pack_one);
            } else {
                bp.chunks_mut(kc * uk.nr).enumerate().for_each(pack_one);
            }
            let bp = &*bp;
            // Row block `blk` of C: rows blk*mc .. ; the chunk starts at row blk*mc.
            let block = |(blk, c_rows): (usize, &mut [f32])| {
                let i0 = blk * mc;
                let rows = i0..(i0 + mc).min(m);
                let mut apack = aligned_buffer(rows.len().div_ceil(uk.mr) * uk.mr * kc);
                let ap = apack.as_mut_slice();
                pack::pack_a(ap, &a, rows.clone(), pc, kc, uk.mr);
                macro_block(&uk, kc, ap, bp, c_rows, rs, rows.len(), jc, nc, alpha, beta_eff);
            };
            let c_data = &mut c.data[..(m - 1) * rs + n];
            if parallel {
                c_data.par_chunks_mut(mc * rs).enumerate().for_each(block);
            } else {
                c_data.chunks_mut(mc * rs).enumerate().for_each(block);
            }
        }
    }
    Ok(())
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
                    (uk.run)(kc, a_sliver.as_ptr(), b_sliver.as_ptr(), tile.as_mut_ptr(), rs, alpha, beta);
                }
            } else {
                // A partial tile: compute the whole tile into a scratch buffer, copy what fits.
                // SAFETY: as above; `edge` holds mr x nr floats with row stride nr.
                unsafe {
                    (uk.run)(kc, a_sliver.as_ptr(), b_sliver.as_ptr(), edge.as_mut_ptr(), nr, alpha, 0.0);
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

/// A zeroed f32 buffer whose usable part starts on a 64-byte boundary (one cache line, one
/// zmm load), so packed slivers never straddle cache lines.
struct AlignedBuffer {
    data: Vec<f32>,
    start: usize,
    len: usize,
}

fn aligned_buffer(len: usize) -> AlignedBuffer {
    let data = vec![0f32; len + 16];
    let start = data.as_ptr().align_offset(64).min(16);
    AlignedBuffer { data, start, len }
}

impl AlignedBuffer {
    fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.data[self.start..self.start + self.len]
    }
}
