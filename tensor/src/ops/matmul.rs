//! Matrix products on tensors: `matmul` with PyTorch's rules (1-D operands are promoted,
//! batch dimensions broadcast). Transposed operands cost nothing: the GEMM reads any strides
//! while it packs, so `a.matmul(&b.t()?)` never copies `b`. f64 products (gradient checks)
//! take the plain loop of [`super::simple_gemm`], which reads any strides too.
use super::min_items_per_task;
use super::simple_gemm::{gemm_acc, Mat};
use crate::gemm::{self, MatMut, MatRef};
use crate::layout::broadcast_shape;
use crate::{CpuStorage, DType, Error, Float, Layout, Result, Storage, Tensor};
use rayon::prelude::*;
use std::sync::Arc;

const OP: &str = "matmul";

impl Tensor {
    /// Matrix product. `[.., m, k] x [.., k, n] -> [.., m, n]` with broadcast batch
    /// dimensions; a 1-D lhs is a row vector and a 1-D rhs a column vector, their added
    /// dimension removed from the result (as `torch.matmul`).
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
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
        let mut shape = batch.clone();
        if self.rank() > 1 {
            shape.push(m);
        }
        if rhs.rank() > 1 {
            shape.push(n);
        }
        if let Some(gpu) = crate::cuda::gpu_of(OP, &[self, rhs])? {
            return crate::cuda::matmul(&gpu, &a, &b, &shape);
        }
        let p = Batched {
            a: &a,
            b: &b,
            batch: &batch,
            m,
            k,
            n,
        };
        let out = match self.dtype() {
            DType::F32 => Storage::Cpu(CpuStorage::F32(p.gemm_f32()?)),
            DType::F64 => Storage::Cpu(CpuStorage::F64(p.simple::<f64>()?)),
            got => {
                return Err(Error::DType {
                    op: OP,
                    expected: DType::F32,
                    got,
                })
            }
        };
        Ok(Tensor::from_parts(
            Arc::new(out),
            Layout::contiguous(&shape),
        ))
    }
}

/// A batch of products `a[i] * b[i]`: `a` is `[batch.., m, k]` and `b` `[batch.., k, n]`, both
/// already expanded to the common batch shape (broadcast dimensions have stride 0).
struct Batched<'t> {
    a: &'t Tensor,
    b: &'t Tensor,
    batch: &'t [usize],
    m: usize,
    k: usize,
    n: usize,
}

impl Batched<'_> {
    /// Number of products.
    fn count(&self) -> usize {
        self.batch.iter().product()
    }

    /// Where matrix `i` of the batch starts in `t`'s storage.
    fn offset(&self, t: &Tensor, mut i: usize) -> usize {
        let mut o = t.layout().offset();
        for d in (0..self.batch.len()).rev() {
            o += (i % self.batch[d]) * t.strides()[d];
            i /= self.batch[d];
        }
        o
    }

    /// The f32 products, through the packed GEMM.
    fn gemm_f32(&self) -> Result<Vec<f32>> {
        let (a, b, m, k, n) = (self.a, self.b, self.m, self.k, self.n);
        let (da, db) = (a.storage_slice::<f32>(OP)?, b.storage_slice::<f32>(OP)?);
        let nb = self.count();
        let mut out = crate::buffer_cache::take(nb * m * n);
        let nbd = self.batch.len();
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

    /// The products in `T` (f64), through the plain loop of [`super::simple_gemm`]: products
    /// in parallel, and rows in parallel inside each.
    fn simple<T: Float>(&self) -> Result<Vec<T>> {
        let (a, b, m, k, n) = (self.a, self.b, self.m, self.k, self.n);
        let (da, db) = (a.storage_slice::<T>(OP)?, b.storage_slice::<T>(OP)?);
        let nbd = self.batch.len();
        let view = |data, t: &Tensor, i, rows, cols| Mat {
            data,
            offset: self.offset(t, i),
            rows,
            cols,
            rs: t.strides()[nbd],
            cs: t.strides()[nbd + 1],
        };
        let mut out = vec![T::ZERO; self.count() * m * n];
        if m * n > 0 {
            out.par_chunks_mut(m * n)
                .enumerate()
                .with_min_len(min_items_per_task(m * n * k))
                .for_each(|(i, c)| gemm_acc(view(da, a, i, m, k), view(db, b, i, k, n), c));
        }
        Ok(out)
    }
}
