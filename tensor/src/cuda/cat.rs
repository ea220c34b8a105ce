//! Concatenation on the GPU: each input is copied, through its own layout, into its slab of
//! the output (the output's layout narrowed along `dim`), one strided copy per input.
use super::{alloc, alloc_i64, kernel_error, kernel_layout, CudaData};
use crate::{DType, Layout, Result, Tensor};
use kernels::Gpu;
use std::sync::Arc;

pub(crate) fn cat(
    gpu: &Arc<Gpu>,
    tensors: &[&Tensor],
    dim: usize,
    shape: &[usize],
) -> Result<Tensor> {
    const OP: &str = "cat";
    let n: usize = shape.iter().product();
    let out_layout = Layout::contiguous(shape);
    let mut at = 0;
    let mut slabs = Vec::with_capacity(tensors.len());
    for t in tensors {
        let len = t.shape()[dim];
        slabs.push(kernel_layout(OP, &out_layout.narrow(dim, at, len)?)?);
        at += len;
    }
    let data = if tensors[0].dtype() == DType::I64 {
        let mut out = alloc_i64(OP, gpu, n)?;
        for (t, slab) in tensors.iter().zip(&slabs) {
            let src = kernel_layout(OP, t.layout())?;
            gpu.copy_strided(
                (&src, &t.cuda_index_buffer(OP)?.as_view()),
                (slab, &mut out),
            )
            .map_err(kernel_error(OP))?;
        }
        CudaData::I64(out)
    } else {
        let mut out = alloc(OP, gpu, n)?;
        for (t, slab) in tensors.iter().zip(&slabs) {
            let src = kernel_layout(OP, t.layout())?;
            gpu.copy_strided((&src, &t.cuda_buffer(OP)?.as_view()), (slab, &mut out))
                .map_err(kernel_error(OP))?;
        }
        CudaData::F32(out)
    };
    Ok(Tensor::from_cuda(gpu, data, shape))
}
