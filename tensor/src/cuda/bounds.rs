//! What is known of the values of a GPU index storage without reading them back.
//!
//! An index op on a GPU (an embedding lookup, cross-entropy's gather) must refuse an index
//! out of range. Its kernel never reads out of bounds, but reporting a bad index means
//! copying a flag back to the host, and such a copy makes the host wait until the GPU has
//! run everything launched before it: with one per embedding, a Rossmann step would wait 23
//! times. Most indices come from the host, though (a batch of categorical codes), and there
//! their values are at hand: [`IndexBounds::from_host`] notes, as they are uploaded, a bound
//! for each column of their last dimension (the codes of one categorical variable), and an
//! op whose indices are known to lie below its size launches without the flag. A bound is
//! also noted when a kernel has checked the indices (the forward lookup), so that the
//! backward pass need not check them again. Index storages are never written after they are
//! made, so what is known stays true.
use crate::Layout;
use std::sync::atomic::{AtomicU64, Ordering};

/// `below[c]`: every index in column `c` (the elements at storage positions `c`, `c + cols`,
/// `c + 2 cols`, ...) lies in `[0, below[c])`; `u64::MAX` when nothing is known. Empty for
/// f32 data, which holds no indices (and so costs no allocation).
#[derive(Debug)]
pub(crate) struct IndexBounds {
    below: Box<[AtomicU64]>,
}

const UNKNOWN: u64 = u64::MAX;

/// The most columns given bounds of their own: a table of categorical codes has a few dozen;
/// wider index tensors get one bound for all rather than a bound per element.
const MAX_COLUMNS: usize = 256;

impl IndexBounds {
    /// For f32 data: no bounds, nothing to learn.
    pub(crate) fn none() -> Self {
        IndexBounds {
            below: Box::new([]),
        }
    }

    /// Nothing known yet (indices a kernel made).
    pub(crate) fn unknown() -> Self {
        Self::single(UNKNOWN)
    }

    /// One bound for the whole storage.
    pub(crate) fn single(below: u64) -> Self {
        IndexBounds {
            below: Box::new([AtomicU64::new(below)]),
        }
    }

    /// The bounds of `values` (row-major, of `shape`) in the columns of its last dimension
    /// (one column for a vector, or for more than [`MAX_COLUMNS`]): one past each column's
    /// largest value, or unknown for a column holding a negative one.
    pub(crate) fn from_host(values: &[i64], shape: &[usize]) -> Self {
        let cols = match shape {
            [_, .., last] if (1..=MAX_COLUMNS).contains(last) => *last,
            _ => 1,
        };
        let mut max = vec![0i64; cols];
        let mut negative = vec![false; cols];
        for row in values.chunks(cols) {
            for ((m, neg), &v) in max.iter_mut().zip(negative.iter_mut()).zip(row) {
                *m = (*m).max(v);
                *neg |= v < 0;
            }
        }
        IndexBounds {
            below: max
                .iter()
                .zip(&negative)
                .map(|(&m, &neg)| AtomicU64::new(if neg { UNKNOWN } else { m as u64 + 1 }))
                .collect(),
        }
    }

    /// The one column every element of the view `l` lies in, if there is one: its offset's,
    /// when each stride it moves by is a whole number of rows.
    fn column_of(&self, l: &Layout) -> Option<usize> {
        let cols = self.below.len().max(1);
        let whole_rows = l
            .shape()
            .iter()
            .zip(l.strides())
            .all(|(&n, &s)| n <= 1 || s % cols == 0);
        whole_rows.then_some(l.offset() % cols)
    }

    /// A bound on every element of the view `l`.
    pub(crate) fn of_view(&self, l: &Layout) -> u64 {
        match self.column_of(l) {
            Some(c) if c < self.below.len() => self.below[c].load(Ordering::Relaxed),
            Some(_) => UNKNOWN,
            None => self
                .below
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .max()
                .unwrap_or(UNKNOWN),
        }
    }

    /// Whether every element of the view `l` is known to lie in `[0, size)`.
    pub(crate) fn known_below(&self, l: &Layout, size: usize) -> bool {
        self.of_view(l) <= size as u64
    }

    /// Notes that a kernel found every element of the view `l` (of a storage of
    /// `storage_len` elements) in `[0, size)`: every column learns the bound when the view
    /// is the whole storage, one column when the view is all of that column (as many
    /// distinct elements as the column has, all in it). A part teaches nothing of the rest.
    pub(crate) fn mark(&self, l: &Layout, storage_len: usize, size: usize) {
        let cols = self.below.len();
        if cols == 0 {
            return; // f32 data
        }
        let whole = l.is_contiguous() && l.offset() == 0 && l.elem_count() == storage_len;
        let distinct = l
            .shape()
            .iter()
            .zip(l.strides())
            .all(|(&n, &s)| n <= 1 || s != 0);
        let marked = if whole {
            0..cols
        } else {
            match self.column_of(l) {
                Some(c) if distinct && l.elem_count() * cols == storage_len => c..c + 1,
                _ => return,
            }
        };
        for b in &self.below[marked] {
            b.fetch_min(size as u64, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_of_codes_have_their_own_bounds() {
        // Two categorical variables, 3 rows: codes below 5 and below 2.
        let b = IndexBounds::from_host(&[4, 0, 1, 1, 0, 0], &[3, 2]);
        let col = |c| Layout::contiguous(&[3, 2]).narrow(1, c, 1).unwrap();
        assert!(b.known_below(&col(0), 5));
        assert!(!b.known_below(&col(0), 4));
        assert!(b.known_below(&col(1), 2));
        // The whole table: the larger bound.
        assert!(b.known_below(&Layout::contiguous(&[3, 2]), 5));
        assert!(!b.known_below(&Layout::contiguous(&[3, 2]), 2));
        // A transposed view moves by 1 within a row: no single column.
        let t = Layout::contiguous(&[3, 2]).permute(&[1, 0]).unwrap();
        assert_eq!(b.of_view(&t), 5);
    }

    #[test]
    fn a_negative_index_leaves_its_column_unknown() {
        let b = IndexBounds::from_host(&[1, -1, 2, 0], &[2, 2]);
        let col = |c| Layout::contiguous(&[2, 2]).narrow(1, c, 1).unwrap();
        assert!(b.known_below(&col(0), 3));
        assert!(!b.known_below(&col(1), 1 << 40));
    }

    #[test]
    fn vectors_and_wide_tables_get_one_bound() {
        let v = IndexBounds::from_host(&[3, 7, 1], &[3]);
        assert_eq!(v.below.len(), 1);
        assert!(v.known_below(&Layout::contiguous(&[3]), 8));
        let wide: Vec<i64> = (0..2 * (MAX_COLUMNS as i64 + 1)).collect();
        let w = IndexBounds::from_host(&wide, &[2, MAX_COLUMNS + 1]);
        assert_eq!(w.below.len(), 1);
        assert!(IndexBounds::none().of_view(&Layout::contiguous(&[2])) == UNKNOWN);
    }

    #[test]
    fn a_check_marks_the_view_it_covered() {
        let b = IndexBounds::unknown();
        let l = Layout::contiguous(&[4]);
        assert!(!b.known_below(&l, 10));
        b.mark(&l.narrow(0, 1, 2).unwrap(), 4, 10);
        assert!(!b.known_below(&l, 10), "a part says nothing of the rest");
        b.mark(&l, 4, 10);
        assert!(b.known_below(&l, 10));
        b.mark(&l, 4, 20);
        assert!(b.known_below(&l, 10), "bounds only tighten");
        // A whole column of a [3, 2] table teaches that column; half of it does not.
        let b = IndexBounds::from_host(&[4, 0, 1, 1, 0, 9], &[3, 2]);
        let table = Layout::contiguous(&[3, 2]);
        let col1 = table.narrow(1, 1, 1).unwrap();
        b.mark(&col1.narrow(0, 0, 2).unwrap(), 6, 5);
        assert!(!b.known_below(&col1, 5));
        b.mark(&col1, 6, 10);
        assert!(b.known_below(&col1, 10));
        assert!(!b.known_below(&table.narrow(1, 0, 1).unwrap(), 4));
    }
}
