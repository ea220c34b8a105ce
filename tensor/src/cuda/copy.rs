//! Moving elements between the host and a GPU, and GPU copies and conversions. The GPU holds
//! f32 and i64; other dtypes are converted on the host first.
use super::{alloc, alloc_i64, kernel_error, upload_slice, CudaData, CudaStorage, DeviceData};
use crate::cpu::{layout_data, CpuStorage};
use crate::{DType, Device, Error, Layout, Result};
use kernels::Gpu;

/// The elements `l` selects from host storage, copied to the GPU `ordinal` in row-major order.
pub(crate) fn upload(s: &CpuStorage, l: &Layout, ordinal: usize) -> Result<CudaStorage> {
    const OP: &str = "to_device";
    let gpu = Gpu::get(ordinal).map_err(kernel_error(OP))?;
    // The driver allocates no empty buffers: an empty tensor gets one unwritten element.
    let empty = l.elem_count() == 0;
    let data = match s {
        CpuStorage::F32(_) if empty => CudaData::F32(alloc(OP, &gpu, 0)?),
        CpuStorage::I64(_) if empty => CudaData::I64(alloc_i64(OP, &gpu, 0)?),
        CpuStorage::F32(v) => CudaData::F32(upload_slice(OP, &gpu, &layout_data(v, l))?),
        CpuStorage::I64(v) => CudaData::I64(upload_slice(OP, &gpu, &layout_data(v, l))?),
        other => {
            return Err(Error::Unsupported {
                op: OP,
                device: Device::Cuda(ordinal),
                dtype: Some(other.dtype()),
            })
        }
    };
    Ok(CudaStorage::new(&gpu, data))
}

/// The elements `l` selects, copied to the host in row-major order.
pub(crate) fn download(s: &CudaStorage, l: &Layout) -> Result<CpuStorage> {
    const OP: &str = "to_device";
    let stream = s.gpu().stream();
    let to_err = kernel_error::<kernels::cudarc::driver::DriverError>(OP);
    let n = l.elem_count();
    Ok(match s.dtype() {
        DType::I64 => {
            let mut v = stream
                .clone_dtoh(&s.i64_rows(OP, l)?.view())
                .map_err(to_err)?;
            v.truncate(n);
            CpuStorage::I64(v)
        }
        _ => {
            let mut v = stream
                .clone_dtoh(&s.f32_rows(OP, l)?.view())
                .map_err(to_err)?;
            v.truncate(n);
            CpuStorage::F32(v)
        }
    })
}

/// A row-major device-to-device copy of the elements `l` selects.
pub(crate) fn contiguous(op: &'static str, s: &CudaStorage, l: &Layout) -> Result<CudaStorage> {
    let stream = s.gpu().stream();
    let to_err = kernel_error::<kernels::cudarc::driver::DriverError>(op);
    let data = match s.dtype() {
        DType::I64 => CudaData::I64(match s.i64_rows(op, l)? {
            DeviceData::Owned(o) => o,
            DeviceData::Borrowed(v) => stream.clone_dtod(&v).map_err(to_err)?,
        }),
        _ => CudaData::F32(match s.f32_rows(op, l)? {
            DeviceData::Owned(o) => o,
            DeviceData::Borrowed(v) => stream.clone_dtod(&v).map_err(to_err)?,
        }),
    };
    Ok(CudaStorage::new(s.gpu(), data))
}

/// f32 <-> i64 on the GPU (the dtypes it holds).
pub(crate) fn to_dtype(s: &CudaStorage, l: &Layout, dtype: DType) -> Result<CudaStorage> {
    const OP: &str = "to_dtype";
    let (gpu, n) = (s.gpu(), l.elem_count());
    match (s.dtype(), dtype) {
        (from, to) if from == to => contiguous(OP, s, l),
        (DType::I64, DType::F32) => {
            let mut out = alloc(OP, gpu, n)?;
            gpu.i64_to_f32(&s.i64_rows(OP, l)?.view(), &mut out)
                .map_err(kernel_error(OP))?;
            Ok(CudaStorage::f32(gpu, out))
        }
        (DType::F32, DType::I64) => {
            let mut out = alloc_i64(OP, gpu, n)?;
            gpu.f32_to_i64(&s.f32_rows(OP, l)?.view(), &mut out)
                .map_err(kernel_error(OP))?;
            Ok(CudaStorage::i64(gpu, out))
        }
        (_, to) => Err(Error::Unsupported {
            op: OP,
            device: Device::Cuda(gpu.ordinal()),
            dtype: Some(to),
        }),
    }
}
