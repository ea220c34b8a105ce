//! Matrix products on the GPU through cuBLAS. An operand whose matrices are row-major or
//! transposed-dense, with one stride between the matrices of its batch (0 when broadcast),
//! is read in place; any other layout is copied to row-major first.
use super::{alloc, kernel_error, zeros, CudaStorage, DeviceData};
use crate::{Layout, Result};
use kernels::{Gemm, Operand};

const OP: &str = "matmul";

/// How to read one expanded operand `[batch.., rows, cols]`: its elements from the first
/// one on (in place, or a row-major copy), whether its matrices are stored transposed, and
/// the batch stride.
fn gemm_ready<'a>(s: &'a CudaStorage, l: &Layout) -> Result<(DeviceData<'a, f32>, bool, usize)> {
    let r = l.rank();
    let (rows, cols) = (l.shape()[r - 2], l.shape()[r - 1]);
    let (sr, sc) = (l.strides()[r - 2], l.strides()[r - 1]);
    let transposed = if (sc == 1 || cols == 1) && (sr == cols || rows == 1) {
        Some(false)
    } else if (sr == 1 || rows == 1) && (sc == rows || cols == 1) {
        Some(true)
    } else {
        None
    };
    // One stride for the whole batch: every batch dimension of size > 1 steps by a
    // multiple that makes the batch one arithmetic sequence, or all are broadcast.
    let batch: Vec<(usize, usize)> = l.shape()[..r - 2]
        .iter()
        .zip(&l.strides()[..r - 2])
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
        (Some(tr), Some(stride)) => {
            let from = s.f32_buffer(OP)?.slice(l.offset()..);
            Ok((DeviceData::Borrowed(from), tr, stride))
        }
        _ => Ok((s.f32_rows(OP, l)?, false, rows * cols)),
    }
}

/// `[batch.., m, k] x [batch.., k, n]`: both layouts already expanded to the common batch
/// shape, the products row-major.
pub(crate) fn matmul(
    a: &CudaStorage,
    la: &Layout,
    b: &CudaStorage,
    lb: &Layout,
) -> Result<CudaStorage> {
    let gpu = a.gpu();
    let r = la.rank();
    let (m, k, n) = (la.shape()[r - 2], la.shape()[r - 1], lb.shape()[r - 1]);
    let batch: usize = la.shape()[..r - 2].iter().product();
    if k == 0 {
        // An empty sum: zeros, as on the CPU.
        return Ok(CudaStorage::f32(gpu, zeros(OP, gpu, batch * m * n)?));
    }
    let (av, a_tr, a_stride) = gemm_ready(a, la)?;
    let (bv, b_tr, b_stride) = gemm_ready(b, lb)?;
    let mut out = alloc(OP, gpu, batch * m * n)?;
    gpu.gemm(
        Gemm { batch, m, n, k },
        Operand {
            data: &av.view(),
            transposed: a_tr,
            batch_stride: a_stride,
        },
        Operand {
            data: &bv.view(),
            transposed: b_tr,
            batch_stride: b_stride,
        },
        &mut out.as_view_mut(),
        0.0,
    )
    .map_err(kernel_error(OP))?;
    Ok(CudaStorage::f32(gpu, out))
}
