//! Concatenation on the GPU: each input is read through its own layout into its block of the
//! output along `dim`, up to 16 inputs a launch (the Rossmann model concatenates 23
//! embeddings; a copy each would be a launch each).
use super::{alloc, alloc_i64, kernel_error, kernel_layout, CudaData, CudaStorage};
use crate::layout::around;
use crate::{DType, Layout, Result};
use kernels::{CopyElem, CudaSlice, Gpu};

const OP: &str = "cat";

/// The elements of `parts` (at least one; each a storage and the layout of an input in it,
/// all of one dtype) joined along `dim` into `shape`.
pub(crate) fn cat(
    parts: &[(&CudaStorage, &Layout)],
    dim: usize,
    shape: &[usize],
) -> Result<CudaStorage> {
    let gpu = parts[0].0.gpu();
    let n: usize = shape.iter().product();
    let [outer, _, inner] = around(shape, dim);
    // Empty inputs add nothing (and would not fit [outer, _, inner] when the output is empty).
    let inputs: Vec<_> = parts
        .iter()
        .copied()
        .filter(|(_, l)| l.elem_count() > 0)
        .collect();
    let data = if parts[0].0.dtype() == DType::I64 {
        let mut out = alloc_i64(OP, gpu, n)?;
        let bufs = inputs
            .iter()
            .map(|(s, _)| s.i64_buffer(OP))
            .collect::<Result<Vec<_>>>()?;
        cat_into(gpu, &inputs, &bufs, [outer, inner], &mut out)?;
        CudaData::I64(out)
    } else {
        let mut out = alloc(OP, gpu, n)?;
        let bufs = inputs
            .iter()
            .map(|(s, _)| s.f32_buffer(OP))
            .collect::<Result<Vec<_>>>()?;
        cat_into(gpu, &inputs, &bufs, [outer, inner], &mut out)?;
        CudaData::F32(out)
    };
    Ok(CudaStorage::new(gpu, data))
}

fn cat_into<T: CopyElem>(
    gpu: &Gpu,
    inputs: &[(&CudaStorage, &Layout)],
    bufs: &[&CudaSlice<T>],
    [outer, inner]: [usize; 2],
    out: &mut CudaSlice<T>,
) -> Result<()> {
    let layouts = inputs
        .iter()
        .map(|(_, l)| kernel_layout(OP, l))
        .collect::<Result<Vec<_>>>()?;
    let views: Vec<_> = layouts
        .iter()
        .zip(bufs)
        .map(|(l, b)| (l, b.as_view()))
        .collect();
    if views.is_empty() || outer * inner == 0 {
        return Ok(());
    }
    gpu.cat(&views, [outer, inner], out)
        .map_err(kernel_error(OP))
}
