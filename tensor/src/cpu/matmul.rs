//! Matrix products on the host: f32 through the packed GEMM of `crate::gemm`, f64 (gradient
//! checks) through the plain loop of [`super::simple_gemm`]. Both read any strides while
//! they pack or loop, so a transposed operand costs nothing.
use super::simple_gemm::{gemm_acc, Mat};
use super::CpuStorage;
use crate::gemm::{self, MatMut, MatRef};
use crate::strided::min_items_per_task;
use crate::{DType, Error, Float, Layout, Result};
use rayon::prelude::*;

const OP: &str = "matmul";

/// `[batch.., m, k] x [batch.., k, n]`: both layouts already expanded to the common batch
/// shape (broadcast dimensions have stride 0), the products row-major.
pub(crate) fn matmul(
    a: &CpuStorage,
    la: &Layout,
    b: &CpuStorage,
    lb: &Layout,
) -> Result<CpuStorage> {
    let p = Batched::new(la, lb);
    match (a, b) {
        (CpuStorage::F32(da), CpuStorage::F32(db)) => Ok(CpuStorage::F32(p.gemm_f32(da, db)?)),
        (CpuStorage::F64(da), CpuStorage::F64(db)) => Ok(CpuStorage::F64(p.simple(da, db))),
        _ => Err(Error::DType {
            op: OP,
            expected: DType::F32,
            got: a.dtype(),
        }),
    }
}

/// A batch of products `a[i] * b[i]`.
struct Batched<'l> {
    a: &'l Layout,
    b: &'l Layout,
    batch: &'l [usize],
    m: usize,
    k: usize,
    n: usize,
}

impl<'l> Batched<'l> {
    fn new(a: &'l Layout, b: &'l Layout) -> Self {
        let r = a.rank();
        Batched {
            a,
            b,
            batch: &a.shape()[..r - 2],
            m: a.shape()[r - 2],
            k: a.shape()[r - 1],
            n: b.shape()[r - 1],
        }
    }

    /// Number of products.
    fn count(&self) -> usize {
        self.batch.iter().product()
    }

    /// Where matrix `i` of the batch starts in the storage `l` describes.
    fn offset(&self, l: &Layout, mut i: usize) -> usize {
        let mut o = l.offset();
        for d in (0..self.batch.len()).rev() {
            o += (i % self.batch[d]) * l.strides()[d];
            i /= self.batch[d];
        }
        o
    }

    /// The f32 products, through the packed GEMM.
    fn gemm_f32(&self, da: &[f32], db: &[f32]) -> Result<Vec<f32>> {
        let (a, b, m, k, n) = (self.a, self.b, self.m, self.k, self.n);
        let nb = self.count();
        let mut out = crate::buffer_cache::take(nb * m * n);
        let nbd = self.batch.len();
        fn mat<'d>(
            data: &'d [f32],
            start: usize,
            l: &Layout,
            nbd: usize,
            rows: usize,
            cols: usize,
        ) -> Result<MatRef<'d>> {
            let s = l.strides();
            MatRef::new(&data[start..], rows, cols, s[nbd], s[nbd + 1])
        }
        let one = |(i, c): (usize, &mut [f32]), parallel: bool| -> Result<()> {
            let am = mat(da, self.offset(a, i), a, nbd, m, k)?;
            let bm = mat(db, self.offset(b, i), b, nbd, k, n)?;
            let cm = MatMut::new(c, m, n, n)?;
            if parallel {
                gemm::gemm(1.0, am, bm, 0.0, cm)
            } else {
                gemm::gemm_serial(1.0, am, bm, 0.0, cm)
            }
        };
        if m * n > 0 {
            // Many small products: one per task. Few large ones: parallel inside each.
            if nb > 1 && m * n * k < (1 << 21) {
                out.par_chunks_mut(m * n)
                    .enumerate()
                    .try_for_each(|x| one(x, false))?;
            } else {
                out.chunks_mut(m * n)
                    .enumerate()
                    .try_for_each(|x| one(x, true))?;
            }
        }
        Ok(out)
    }

    /// The products in `T` (f64) through the plain loop: products in parallel, and rows in
    /// parallel inside each.
    fn simple<T: Float>(&self, da: &[T], db: &[T]) -> Vec<T> {
        let (a, b, m, k, n) = (self.a, self.b, self.m, self.k, self.n);
        let nbd = self.batch.len();
        let view = |data, l: &Layout, i, rows, cols| Mat {
            data,
            offset: self.offset(l, i),
            rows,
            cols,
            rs: l.strides()[nbd],
            cs: l.strides()[nbd + 1],
        };
        let mut out = vec![T::ZERO; self.count() * m * n];
        if m * n > 0 {
            out.par_chunks_mut(m * n)
                .enumerate()
                .with_min_len(min_items_per_task(m * n * k))
                .for_each(|(i, c)| gemm_acc(view(da, a, i, m, k), view(db, b, i, k, n), c));
        }
        out
    }
}
