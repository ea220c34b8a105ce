//! A plain matrix product for f64 (written for any [`Float`]): clear rather than fast. f32
//! products go through the packed, cache-blocked GEMM of [`crate::gemm`]; f64 serves gradient
//! checks on small tensors, where a straightforward loop is fast enough and plainly right.
//!
//! Rows of C are independent, so they run in parallel; each row is computed in i-k-j order,
//! `c[i, :] += a[i, p] * b[p, :]` for `p` in `0..k`, so that the innermost loop walks a row of
//! B and of C (contiguous when B is row-major, and then vectorised by the compiler).
use crate::strided::min_items_per_task;
use crate::Float;
use rayon::prelude::*;

/// A strided matrix view: element `(i, j)` is `data[offset + i * rs + j * cs]`. Any strides,
/// 0 included (a broadcast operand), so transposes and expanded views cost nothing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mat<'a, T> {
    pub data: &'a [T],
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a, T> Mat<'a, T> {
    /// The row-major `[rows, cols]` matrix at the start of `data`.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        Mat {
            data,
            offset: 0,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose, as a view (strides swapped).
    pub fn t(self) -> Self {
        Mat {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }
}

/// `c += a * b`, where `c` is row-major `[a.rows, b.cols]` and `a.cols == b.rows` (the callers
/// check the shapes; the views must lie inside their data).
pub(crate) fn gemm_acc<T: Float>(a: Mat<T>, b: Mat<T>, c: &mut [T]) {
    debug_assert_eq!(a.cols, b.rows);
    debug_assert_eq!(c.len(), a.rows * b.cols);
    let (k, n) = (a.cols, b.cols);
    if n == 0 {
        return;
    }
    let row = |(i, c_row): (usize, &mut [T])| {
        let a_row = a.offset + i * a.rs;
        for p in 0..k {
            let aip = a.data[a_row + p * a.cs];
            let b_row = b.offset + p * b.rs;
            if b.cs == 1 {
                for (c, &bv) in c_row.iter_mut().zip(&b.data[b_row..b_row + n]) {
                    *c += aip * bv;
                }
            } else {
                for (j, c) in c_row.iter_mut().enumerate() {
                    *c += aip * b.data[b_row + j * b.cs];
                }
            }
        }
    };
    c.par_chunks_mut(n)
        .enumerate()
        .with_min_len(min_items_per_task(k * n))
        .for_each(row);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_of_strided_views() {
        // a = [[1, 2], [3, 4]], b^T where b = [[5, 6], [7, 8]]: a * b^T = [[17, 23], [39, 53]].
        let a = [1.0f64, 2.0, 3.0, 4.0];
        let b = [5.0f64, 6.0, 7.0, 8.0];
        let mut c = [1.0f64; 4];
        gemm_acc(
            Mat::row_major(&a, 2, 2),
            Mat::row_major(&b, 2, 2).t(),
            &mut c,
        );
        assert_eq!(c, [18.0, 24.0, 40.0, 54.0]);
    }
}
