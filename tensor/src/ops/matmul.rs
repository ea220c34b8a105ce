//! Matrix products on tensors: `matmul` with PyTorch's rules (1-D operands are promoted,
//! batch dimensions broadcast). Transposed operands cost nothing: the GEMM reads any strides
//! while it packs, so `a.matmul(&b.t()?)` never copies `b`.
use crate::gemm::{self, MatMut, MatRef};
use crate::layout::broadcast_shape;
use crate::{Error, Result, Tensor};
use rayon::prelude::*;

impl Tensor {
    /// Matrix product. `[.., m, k] x [.., k, n] -> [.., m, n]` with broadcast batch
    /// dimensions; a 1-D lhs is a row vector and a 1-D rhs a column vector, their added
    /// dimension removed from the result (as `torch.matmul`).
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        const OP: &str = "matmul";
        if self.rank() == 0 || rhs.rank() == 0 {
            return Err(Error::shape(
                OP,
                format!(
                    "operands must have at least 1 dimension, got lhs {:?} and rhs {:?}",
                    self.shape(),
                    rhs.shape()
                ),
            ));
        }
        let lhs = if self.rank() == 1 {
            self.unsqueeze(0)?
        } else {
            self.clone()
        };
        let rhs2 = if rhs.rank() == 1 {
            rhs.unsqueeze(1)?
        } else {
            rhs.clone()
        };
        let (lr, rr) = (lhs.rank(), rhs2.rank());
        let (m, k) = (lhs.shape()[lr - 2], lhs.shape()[lr - 1]);
        let (k2, n) = (rhs2.shape()[rr - 2], rhs2.shape()[rr - 1]);
        if k != k2 {
            return Err(Error::shape(
                OP,
                format!(
                    "lhs {:?} and rhs {:?} do not agree on the inner dimension",
                    self.shape(),
                    rhs.shape()
                ),
            ));
        }
        let batch = broadcast_shape(OP, &lhs.shape()[..lr - 2], &rhs2.shape()[..rr - 2])?;
        let expand = |t: &Tensor, rows: usize, cols: usize| {
            let mut s = batch.clone();
            s.extend([rows, cols]);
            t.expand(&s)
        };
        let (a, b) = (expand(&lhs, m, k)?, expand(&rhs2, k, n)?);
        let (da, db) = (a.storage_slice::<f32>(OP)?, b.storage_slice::<f32>(OP)?);
        let nb: usize = batch.iter().product();
        let mut out = crate::buffer_cache::take(nb * m * n);
        let nbd = batch.len();
        let offset = |t: &Tensor, mut i: usize| {
            let mut o = t.layout().offset();
            for d in (0..nbd).rev() {
                o += (i % batch[d]) * t.strides()[d];
                i /= batch[d];
            }
            o
        };
        fn mat<'d>(
            data: &'d [f32],
            start: usize,
            t: &Tensor,
            nbd: usize,
            rows: usize,
            cols: usize,
        ) -> Result<MatRef<'d>> {
            let s = t.strides();
            MatRef::new(&data[start..], rows, cols, s[nbd], s[nbd + 1])
        }
        let one = |(i, c): (usize, &mut [f32]), parallel: bool| -> Result<()> {
            let am = mat(da, offset(&a, i), &a, nbd, m, k)?;
            let bm = mat(db, offset(&b, i), &b, nbd, k, n)?;
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
        let mut shape = batch;
        if self.rank() > 1 {
            shape.push(m);
        }
        if rhs.rank() > 1 {
            shape.push(n);
        }
        Ok(Tensor::from_op(out, &shape))
    }
}
