//! Matrix products on the GPU through cuBLAS. An operand whose matrices are row-major or
//! transposed-dense, with one stride between the matrices of its batch (0 when broadcast),
//! is read in place; any other layout is copied to row-major first.
use super::{alloc, kernel_error, zeros};
use crate::{Result, Tensor};
use kernels::{Gemm, Gpu, Operand};
use std::sync::Arc;

const OP: &str = "matmul";

/// How to read one expanded operand `[batch.., rows, cols]`: the tensor to read (itself or a
/// row-major copy), whether its matrices are stored transposed, and the batch stride.
fn gemm_ready(t: &Tensor) -> Result<(Tensor, bool, usize)> {
    let r = t.rank();
    let (rows, cols) = (t.shape()[r - 2], t.shape()[r - 1]);
    let (sr, sc) = (t.strides()[r - 2], t.strides()[r - 1]);
    let transposed = if (sc == 1 || cols == 1) && (sr == cols || rows == 1) {
        Some(false)
    } else if (sr == 1 || rows == 1) && (sc == rows || cols == 1) {
        Some(true)
    } else {
        None
    };
    // One stride for the whole batch: every batch dimension of size > 1 steps by a
    // multiple that makes the batch one arithmetic sequence, or all are broadcast.
    let batch: Vec<(usize, usize)> = t.shape()[..r - 2]
        .iter()
        .zip(&t.strides()[..r - 2])
        .filter(|(&n, _)| n > 1)
        .map(|(&n, &s)| (n, s))
        .collect();
    let stride = match batch.last() {
        None => Some(0),
        Some(&(_, s)) => {
            let mut expect = s;
            let uniform = batch.iter().rev().all(|&(n, st)| {
                let ok = st == expect;
                expect = st * n;
                ok
            });
            let broadcast = batch.iter().all(|&(_, st)| st == 0);
            (uniform || broadcast).then_some(s)
        }
    };
    match (transposed, stride) {
        (Some(tr), Some(s)) => Ok((t.clone(), tr, s)),
        _ => Ok((t.contiguous()?, false, rows * cols)),
    }
}

/// `[batch.., m, k] x [batch.., k, n]`, both already expanded to the common batch shape.
pub(crate) fn matmul(
    gpu: &Arc<Gpu>,
    a: &Tensor,
    b: &Tensor,
    out_shape: &[usize],
) -> Result<Tensor> {
    let r = a.rank();
    let (m, k, n) = (a.shape()[r - 2], a.shape()[r - 1], b.shape()[r - 1]);
    let batch: usize = a.shape()[..r - 2].iter().product();
    let (ta, a_tr, a_stride) = gemm_ready(a)?;
    let (tb, b_tr, b_stride) = gemm_ready(b)?;
    if k == 0 {
        // An empty sum: zeros, as on the CPU.
        return Ok(Tensor::from_cuda_f32(
            gpu,
            zeros(OP, gpu, batch * m * n)?,
            out_shape,
        ));
    }
    let mut out = alloc(OP, gpu, batch * m * n)?;
    let (abuf, bbuf) = (ta.cuda_buffer(OP)?, tb.cuda_buffer(OP)?);
    let av = abuf.slice(ta.layout().offset()..);
    let bv = bbuf.slice(tb.layout().offset()..);
    gpu.gemm(
        Gemm { batch, m, n, k },
        Operand {
            data: &av,
            transposed: a_tr,
            batch_stride: a_stride,
        },
        Operand {
            data: &bv,
            transposed: b_tr,
            batch_stride: b_stride,
        },
        &mut out.as_view_mut(),
        0.0,
    )
    .map_err(kernel_error(OP))?;
    Ok(Tensor::from_cuda_f32(gpu, out, out_shape))
}
