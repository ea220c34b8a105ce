//! Typed launchers, one file per kernel source. Each checks that the buffers it is handed are
//! large enough for the sizes it is given before it launches, so that a wrong call is an
//! [`crate::Error::Invalid`], never an out-of-bounds access on the device.
mod batch_norm;
mod conv;
mod dropout;
mod elementwise;
mod embedding;
mod embeddings_cat;
mod gemm;
mod optim;
mod pool;
mod range_check;
mod reduce;

pub use batch_norm::Running;
pub use conv::ConvGeometry;
pub use elementwise::{BinaryOp, CopyElem, UnaryOp, CAT_GROUP};
pub use embedding::{deterministic, set_deterministic, Accumulate, Indices};
pub use embeddings_cat::{CodeBlock, Codes, EMB_GROUP};
pub use gemm::{Gemm, Operand};
pub use optim::{AdamParam, AdamStep, ADAM_GROUP};
pub use pool::{PlaneSizes, Windows};
pub use reduce::Extremum;

use crate::{Error, Result};
use cudarc::driver::{DeviceRepr, LaunchArgs, LaunchConfig};

/// The most dimensions a strided kernel takes (`MAX_DIMS` in `common.cuh`).
pub const MAX_DIMS: usize = 8;

/// A size known to the host, with the multiplier and shift with which `divide` in
/// `common.cuh` divides by it in a multiply-high (`Divisor` there, field for field):
/// `shift = ceil(log2 d)`, `magic = floor(2^32 (2^shift - d) / d) + 1`, which fits 32 bits
/// because `2^shift - d < d`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Divisor {
    d: u32,
    magic: u32,
    shift: u32,
}

// SAFETY: `repr(C)` plain data with the field order, types and alignment of the C struct.
unsafe impl DeviceRepr for Divisor {}

impl Divisor {
    /// The divisor `d`; an error beyond 32 bits.
    pub fn new(what: &str, d: usize) -> Result<Self> {
        Ok(Self::of(u32_of(what, d)?))
    }

    /// A size of 0 gets no multiplier: a view with one selects nothing, so no kernel divides.
    fn of(d: u32) -> Self {
        if d == 0 {
            return Divisor::default();
        }
        let shift = 32 - (d - 1).leading_zeros();
        let magic = ((1u64 << 32) * ((1u64 << shift) - u64::from(d))) / u64::from(d) + 1;
        Divisor {
            d,
            magic: magic as u32,
            shift,
        }
    }
}

/// A strided view as the kernels read it (`StridedLayout` in `common.cuh`, field for field;
/// `Pod`, so it has no padding and its bytes are what a launch hands the driver).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StridedLayout {
    rank: u32,
    contiguous: u32,
    shape: [Divisor; MAX_DIMS],
    strides: [i64; MAX_DIMS],
    offset: i64,
}

// SAFETY: `repr(C)` plain data with the field order, types and alignment of the C struct.
unsafe impl DeviceRepr for StridedLayout {}

impl StridedLayout {
    /// The layout of `shape` with `strides` (in elements) starting at `offset`; an error when
    /// it has more than [`MAX_DIMS`] dimensions or a size beyond 32 bits.
    pub fn new(shape: &[usize], strides: &[usize], offset: usize) -> Result<Self> {
        if shape.len() > MAX_DIMS || strides.len() != shape.len() {
            return Err(Error::Invalid(format!(
                "a strided kernel takes at most {MAX_DIMS} dimensions with one stride each, got shape {shape:?} and strides {strides:?}"
            )));
        }
        let mut l = StridedLayout {
            rank: shape.len() as u32,
            offset: offset as i64,
            ..Default::default()
        };
        for (d, (&n, &s)) in shape.iter().zip(strides).enumerate() {
            l.shape[d] =
                Divisor::of(u32::try_from(n).map_err(|_| {
                    Error::Invalid(format!("dimension {d} of {shape:?} exceeds 2^32"))
                })?);
            l.strides[d] = s as i64;
        }
        let dense = crate::launch::contiguous_strides(shape);
        l.contiguous = u32::from(
            shape
                .iter()
                .zip(strides.iter().zip(&dense))
                .all(|(&n, (&s, &c))| n == 1 || s == c),
        );
        Ok(l)
    }

    /// The view's sizes.
    pub fn shape(&self) -> Vec<usize> {
        self.shape[..self.rank as usize]
            .iter()
            .map(|n| n.d as usize)
            .collect()
    }

    /// The view's strides, in elements.
    pub fn strides(&self) -> Vec<usize> {
        self.strides[..self.rank as usize]
            .iter()
            .map(|&s| s as usize)
            .collect()
    }

    /// Where the view's first element is.
    pub fn offset(&self) -> usize {
        self.offset as usize
    }

    /// Number of elements the view selects.
    pub fn elem_count(&self) -> u64 {
        self.shape[..self.rank as usize]
            .iter()
            .map(|n| u64::from(n.d))
            .product()
    }

    /// True when a dimension of more than one element has stride 0 (a broadcast view).
    pub fn broadcasts(&self) -> bool {
        (0..self.rank as usize).any(|d| self.shape[d].d > 1 && self.strides[d] == 0)
    }

    /// One past the largest element offset the view reads (0 when it selects nothing).
    pub fn span(&self) -> u64 {
        if self.elem_count() == 0 {
            return 0;
        }
        let last: i64 = (0..self.rank as usize)
            .map(|d| (i64::from(self.shape[d].d) - 1) * self.strides[d])
            .sum();
        (self.offset + last) as u64 + 1
    }
}

/// Row-major strides of `shape`.
pub(crate) fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// Threads per block of the element-wise kernels.
const THREADS: u32 = 256;

/// A grid for a grid-stride loop over `n` items: enough blocks of 256 threads to cover them,
/// capped (the loop takes the rest), at least one.
pub(crate) fn cfg_elems(n: u64) -> LaunchConfig {
    let blocks = n.div_ceil(THREADS as u64).clamp(1, 1 << 20) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Launches `b` with one block of `threads` (a multiple of 32, at most 1024) per item: the
/// reductions, batch norm's channels, the sorted segments. No items, no launch: such a
/// kernel's block 0 would read and write item 0, which is not there (a sum over the rows of
/// an empty batch would read a row past the end of its input).
///
/// # Safety
/// As [`cudarc::driver::LaunchArgs::launch`]: `b`'s arguments match the kernel's parameters,
/// and every buffer holds what `blocks` blocks read and write.
pub(crate) unsafe fn launch_blocks(
    b: &mut LaunchArgs<'_>,
    blocks: usize,
    threads: u32,
) -> Result<()> {
    if blocks == 0 {
        return Ok(());
    }
    // A grid holds at most 2^31 - 1 blocks along x.
    let grid = i32::try_from(blocks)
        .map_err(|_| Error::Invalid(format!("{blocks} blocks exceed a grid's 2^31 - 1")))?
        as u32;
    let cfg = LaunchConfig {
        grid_dim: (grid, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: the caller's promise, for a grid of at least one block.
    unsafe { b.launch(cfg) }?;
    Ok(())
}

/// Checks that a view `l` has the `n` elements a launch needs and reads inside a buffer of
/// `len`.
pub(crate) fn check_view(what: &str, l: &StridedLayout, len: usize, n: u64) -> Result<()> {
    if l.elem_count() != n {
        return Err(Error::Invalid(format!(
            "{what}: a view of {} elements where {n} are needed",
            l.elem_count()
        )));
    }
    fits(what, len, l.span())
}

/// Checks that a buffer of `len` elements holds at least `need`.
pub(crate) fn fits(what: &str, len: usize, need: u64) -> Result<()> {
    if (len as u64) < need {
        return Err(Error::Invalid(format!(
            "{what}: a buffer of {len} elements is too small for {need}"
        )));
    }
    Ok(())
}

/// A size as the `unsigned int` the kernels take.
pub(crate) fn u32_of(what: &str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::Invalid(format!("{what} = {n} exceeds 2^32")))
}

/// Several sizes as the `unsigned int`s the kernels take.
pub(crate) fn u32s<const N: usize>(what: &str, v: [usize; N]) -> Result<[u32; N]> {
    let mut out = [0u32; N];
    for (o, &n) in out.iter_mut().zip(&v) {
        *o = u32_of(what, n)?;
    }
    Ok(out)
}

/// A null device pointer, for a kernel's optional argument.
pub(crate) const NULL: u64 = 0;

#[cfg(test)]
mod tests {
    use super::Divisor;

    /// `divide` in `common.cuh` below 2^32, with the sum in 64 bits as there.
    fn divide(n: u32, v: Divisor) -> u32 {
        ((((u64::from(n) * u64::from(v.magic)) >> 32) + u64::from(n)) >> v.shift) as u32
    }

    #[test]
    fn magic_divisors_divide_exactly_across_the_32_bit_range() {
        let mut divisors: Vec<u32> = (1..=2050).collect();
        for p in 1..32 {
            let two = 1u32 << p;
            divisors.extend([two - 1, two, two + 1]);
        }
        divisors.extend([
            3 * 3 * 56 * 56,
            1116 * 81,
            1_000_003,
            u32::MAX - 1,
            u32::MAX,
        ]);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for &d in &divisors {
            let v = Divisor::of(d);
            let mut numerators = vec![0, 1, d - 1, d, d.wrapping_add(1), u32::MAX, u32::MAX - 1];
            numerators.extend((1..8).map(|k| d.saturating_mul(k)));
            numerators.extend((1..8).map(|k| d.saturating_mul(k).saturating_sub(1)));
            for _ in 0..64 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                numerators.push(state as u32);
            }
            for n in numerators {
                assert_eq!(divide(n, v), n / d, "{n} / {d} with {v:?}");
            }
        }
    }
}
