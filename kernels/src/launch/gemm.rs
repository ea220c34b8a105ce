//! Row-major matrix products on cuBLAS (column-major): C = A B is computed as
//! Cᵀ = Bᵀ Aᵀ, which a column-major library reads straight from row-major buffers, with no
//! copy. TF32 stays off unless [`Gpu::set_tf32`] turns it on.
use super::fits;
use crate::{Error, Gpu, Result};
use cudarc::cublas::sys::cublasOperation_t::{CUBLAS_OP_N, CUBLAS_OP_T};
use cudarc::cublas::{Gemm as _, GemmConfig, StridedBatchedConfig};
use cudarc::driver::{CudaView, CudaViewMut};

/// One operand of a product: a row-major matrix (or a batch of them), possibly stored
/// transposed (as `[cols, rows]`, the lesson's `t()` of a contiguous matrix).
#[derive(Debug)]
pub struct Operand<'a, 'b> {
    pub data: &'a CudaView<'b, f32>,
    pub transposed: bool,
    /// Elements from one matrix of the batch to the next; 0 repeats one matrix (a
    /// convolution's weight) for every product of the batch.
    pub batch_stride: usize,
}

/// The sizes of a batch of products `C[b] (m x n) = A[b] (m x k) B[b] (k x n)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gemm {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
}

fn int(what: &str, v: usize) -> Result<i32> {
    i32::try_from(v).map_err(|_| Error::Invalid(format!("gemm: {what} = {v} exceeds 2^31")))
}

impl Gpu {
    /// `C[b] = A[b] B[b] + beta C[b]` for every b (C's matrices are dense, `m * n` apart).
    pub fn gemm(
        &self,
        g: Gemm,
        a: Operand<'_, '_>,
        b: Operand<'_, '_>,
        c: &mut CudaViewMut<'_, f32>,
        beta: f32,
    ) -> Result<()> {
        let Gemm { batch, m, n, k } = g;
        if batch == 0 || m == 0 || n == 0 {
            return Ok(());
        }
        if k == 0 {
            // An empty sum: the caller fills C (tensor's matmul returns zeros).
            return Err(Error::Invalid("gemm with an inner dimension of 0".into()));
        }
        let last = |o: &Operand, size: usize| (batch - 1) * o.batch_stride + size;
        fits("gemm lhs", a.data.len(), last(&a, m * k) as u64)?;
        fits("gemm rhs", b.data.len(), last(&b, k * n) as u64)?;
        fits("gemm output", c.len(), (batch * m * n) as u64)?;
        // Column-major: C^T (n x m) = op(B_mem) (n x k) * op(A_mem) (k x m).
        let (transa, lda) = if b.transposed {
            (CUBLAS_OP_T, k)
        } else {
            (CUBLAS_OP_N, n)
        };
        let (transb, ldb) = if a.transposed {
            (CUBLAS_OP_T, m)
        } else {
            (CUBLAS_OP_N, k)
        };
        let cfg = GemmConfig {
            transa,
            transb,
            m: int("n", n)?,
            n: int("m", m)?,
            k: int("k", k)?,
            alpha: 1.0f32,
            lda: int("lda", lda)?,
            ldb: int("ldb", ldb)?,
            beta,
            ldc: int("n", n)?,
        };
        // SAFETY: every buffer was checked to hold the matrices the sizes, leading
        // dimensions and batch strides address.
        unsafe {
            if batch == 1 {
                self.blas.gemm(cfg, b.data, a.data, c)?;
            } else {
                let batched = StridedBatchedConfig {
                    gemm: cfg,
                    batch_size: int("batch", batch)?,
                    stride_a: b.batch_stride as i64,
                    stride_b: a.batch_stride as i64,
                    stride_c: (m * n) as i64,
                };
                self.blas.gemm_strided_batched(batched, b.data, a.data, c)?;
            }
        }
        Ok(())
    }
}
