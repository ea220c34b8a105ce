//! Concatenation on the GPU: each input is read through its own layout into its block of the
//! output along `dim`, up to 16 inputs a launch (the Rossmann model concatenates 23
//! embeddings; a copy each would be a launch each).
use super::{alloc, alloc_i64, kernel_error, kernel_layout, CudaData};
use crate::{DType, Result, Tensor};
use kernels::{CopyElem, CudaSlice, Gpu};
use std::sync::Arc;

const OP: &str = "cat";

pub(crate) fn cat(
    gpu: &Arc<Gpu>,
    tensors: &[&Tensor],
    dim: usize,
    shape: &[usize],
) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let around = [
        shape[..dim].iter().product(),
        shape[dim + 1..].iter().product(),
    ];
    // Empty inputs add nothing (and would not fit [outer, _, inner] when the output is empty).
    let inputs: Vec<&Tensor> = tensors
        .iter()
        .copied()
        .filter(|t| t.elem_count() > 0)
        .collect();
    let data = if tensors[0].dtype() == DType::I64 {
        let mut out = alloc_i64(OP, gpu, n)?;
        let bufs = inputs
            .iter()
            .map(|t| t.cuda_index_buffer(OP))
            .collect::<Result<Vec<_>>>()?;
        cat_into(gpu, &inputs, &bufs, around, &mut out)?;
        CudaData::I64(out)
    } else {
        let mut out = alloc(OP, gpu, n)?;
        let bufs = inputs
            .iter()
            .map(|t| t.cuda_buffer(OP))
            .collect::<Result<Vec<_>>>()?;
        cat_into(gpu, &inputs, &bufs, around, &mut out)?;
        CudaData::F32(out)
    };
    Ok(Tensor::from_cuda(gpu, data, shape))
}

fn cat_into<T: CopyElem>(
    gpu: &Gpu,
    inputs: &[&Tensor],
    bufs: &[&CudaSlice<T>],
    around: [usize; 2],
    out: &mut CudaSlice<T>,
) -> Result<()> {
    let layouts = inputs
        .iter()
        .map(|t| kernel_layout(OP, t.layout()))
        .collect::<Result<Vec<_>>>()?;
    let views: Vec<_> = layouts
        .iter()
        .zip(bufs)
        .map(|(l, b)| (l, b.as_view()))
        .collect();
    if views.is_empty() || around.contains(&0) {
        return Ok(());
    }
    gpu.cat(&views, around, out).map_err(kernel_error(OP))
}
