//! The loop every element-wise op runs: walk an output shape in row-major order while reading
//! one or more strided inputs. Adjacent dimensions that are laid out back to back in *every*
//! operand are merged first (PyTorch's TensorIterator does the same), so a contiguous tensor is
//! one long row and a broadcast bias `[C]` over `[N, C]` is `N` rows of `C`. The innermost
//! loop then runs over a whole row with a fixed stride per operand, which the compiler
//! vectorises when the strides are 1.
use rayon::prelude::*;

/// Below this many elements an op runs on one thread: spawning costs more than it saves.
pub(crate) const PAR_THRESHOLD: usize = 1 << 15;

/// The smallest number of items (planes, rows) one rayon task should take when each item
/// costs about `work_per_item` element operations: enough that a task does about
/// `PAR_THRESHOLD` work, so a small tensor runs on the calling thread (rayon does not split
/// below this length) and a large one still spreads over every core.
pub(crate) fn min_items_per_task(work_per_item: usize) -> usize {
    (PAR_THRESHOLD / work_per_item.max(1)).max(1)
}

/// A loop nest over a shape for `N` operands, with mergeable dimensions merged.
pub(crate) struct StridedLoop<const N: usize> {
    outer_shape: Vec<usize>,
    outer_strides: [Vec<usize>; N],
    offsets: [usize; N],
    inner_len: usize,
    inner_strides: [usize; N],
}

impl<const N: usize> StridedLoop<N> {
    /// `operands[i]` is `(strides, offset)` of operand `i`, each stride list as long as `shape`.
    pub fn new(shape: &[usize], operands: [(&[usize], usize); N]) -> Self {
        // Drop size-1 dimensions: their strides never matter.
        let keep: Vec<usize> = (0..shape.len()).filter(|&d| shape[d] != 1).collect();
        let mut dims: Vec<usize> = keep.iter().map(|&d| shape[d]).collect();
        let mut strides: [Vec<usize>; N] =
            std::array::from_fn(|i| keep.iter().map(|&d| operands[i].0[d]).collect());
        // Merge dimension d into d + 1 when every operand steps over d exactly one d + 1 row.
        let mut d = dims.len().saturating_sub(1);
        while d > 0 {
            let mergeable = strides.iter().all(|s| s[d - 1] == s[d] * dims[d]);
            if mergeable {
                dims[d - 1] *= dims[d];
                dims.remove(d);
                for s in strides.iter_mut() {
                    s[d - 1] = s[d];
                    s.remove(d);
                }
            }
            d -= 1;
        }
        let inner_len = dims.pop().unwrap_or(1);
        let inner_strides = std::array::from_fn(|i| strides[i].pop().unwrap_or(0));
        StridedLoop {
            outer_shape: dims,
            outer_strides: strides,
            offsets: std::array::from_fn(|i| operands[i].1),
            inner_len,
            inner_strides,
        }
    }

    /// Length of the innermost (merged) dimension.
    pub fn inner_len(&self) -> usize {
        self.inner_len
    }

    /// Stride of each operand along the innermost dimension.
    pub fn inner_strides(&self) -> [usize; N] {
        self.inner_strides
    }

    /// The storage offset of each operand at the start of row `row`.
    pub fn row_offsets(&self, mut row: usize) -> [usize; N] {
        let mut offs = self.offsets;
        for d in (0..self.outer_shape.len()).rev() {
            let i = row % self.outer_shape[d];
            row /= self.outer_shape[d];
            for (o, s) in offs.iter_mut().zip(&self.outer_strides) {
                *o += i * s[d];
            }
        }
        offs
    }
}

/// Fills the contiguous `out` (of `shape`) row by row: `row(out_row, offsets, strides)` is
/// called for each innermost row with the operands' offsets and inner strides. Runs in
/// parallel over chunks of rows when the tensor is large.
pub(crate) fn fill_rows<T: Send, const N: usize>(
    out: &mut [T],
    shape: &[usize],
    operands: [(&[usize], usize); N],
    row: impl Fn(&mut [T], [usize; N], [usize; N]) + Sync,
) {
    if out.is_empty() {
        return;
    }
    let it = StridedLoop::new(shape, operands);
    let len = it.inner_len();
    let strides = it.inner_strides();
    let run = |first_row: usize, chunk: &mut [T]| {
        for (r, out_row) in chunk.chunks_mut(len).enumerate() {
            row(out_row, it.row_offsets(first_row + r), strides);
        }
    };
    if out.len() < PAR_THRESHOLD {
        run(0, out);
    } else {
        // About 16K elements per task, whole rows only.
        let rows_per_task = (PAR_THRESHOLD / 2 / len).max(1);
        out.par_chunks_mut(rows_per_task * len)
            .enumerate()
            .for_each(|(t, chunk)| run(t * rows_per_task, chunk));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_merges_into_one_row() {
        let it = StridedLoop::new(&[2, 3, 4], [(&[12, 4, 1], 0)]);
        assert_eq!(it.inner_len(), 24);
        assert!(it.outer_shape.is_empty());
    }

    #[test]
    fn broadcast_bias_keeps_rows() {
        // out [2, 3] contiguous, bias [3] broadcast with stride 0 on dim 0.
        let it = StridedLoop::new(&[2, 3], [(&[3, 1], 0), (&[0, 1], 5)]);
        assert_eq!(it.inner_len(), 3);
        assert_eq!(it.row_offsets(1), [3, 5]);
    }
}
