//! Moving tensors between the host and a GPU, and GPU copies and conversions.
use super::{alloc, alloc_i64, kernel_error, upload, CudaData, DeviceData};
use crate::{DType, Device, Error, Result, Tensor};
use kernels::Gpu;

impl Tensor {
    /// A copy of this tensor on `device` (itself, shared, when it is there already). The GPU
    /// holds f32 and i64 tensors; convert others with `to_dtype` first.
    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        const OP: &str = "to_device";
        if device == self.device() {
            return Ok(self.clone());
        }
        match (self.device(), device) {
            (Device::Cpu, Device::Cuda(ordinal)) => {
                let gpu = Gpu::get(ordinal).map_err(kernel_error(OP))?;
                if self.elem_count() == 0 {
                    let data = empty(OP, &gpu, self.dtype())?;
                    return Ok(Tensor::from_cuda(&gpu, data, self.shape()));
                }
                match self.dtype() {
                    DType::F32 => {
                        let data = upload(OP, &gpu, &self.contiguous_data::<f32>(OP)?)?;
                        Ok(Tensor::from_cuda_f32(&gpu, data, self.shape()))
                    }
                    DType::I64 => {
                        // The values pass through the host's hands here: noting their bounds
                        // (bounds.rs) and keeping them spares the GPU's index ops copies back.
                        let values = self.contiguous_data::<i64>(OP)?;
                        let data = upload(OP, &gpu, &values)?;
                        Ok(Tensor::from_cuda_uploaded(&gpu, data, &values, self.shape()))
                    }
                    other => Err(Error::device(
                        OP,
                        format!("the GPU holds f32 and i64 tensors, not {other}: convert with to_dtype first"),
                    )),
                }
            }
            (Device::Cuda(_), Device::Cpu) => self.cuda_to_host(OP),
            (Device::Cuda(_), Device::Cuda(_)) => self.cuda_to_host(OP)?.to_device(device),
            (Device::Cpu, Device::Cpu) => Ok(self.clone()),
        }
    }

    /// The elements of a GPU tensor copied into a host tensor of the same shape.
    fn cuda_to_host(&self, op: &'static str) -> Result<Tensor> {
        let storage = self.gpu_storage(op)?;
        let stream = storage.gpu().stream();
        let n = self.elem_count();
        let to_err = |e: kernels::cudarc::driver::DriverError| Error::device(op, e.to_string());
        match self.dtype() {
            DType::I64 => {
                let d = self.cuda_i64(op)?;
                let mut v = stream.clone_dtoh(&d.view()).map_err(to_err)?;
                v.truncate(n);
                Tensor::from_vec(v, self.shape())
            }
            _ => {
                let d = self.cuda_f32(op)?;
                let mut v = stream.clone_dtoh(&d.view()).map_err(to_err)?;
                v.truncate(n);
                Tensor::from_vec(v, self.shape())
            }
        }
    }

    /// A contiguous copy of a GPU tensor (shared when it is contiguous already).
    pub(crate) fn cuda_contiguous(&self, op: &'static str) -> Result<Tensor> {
        let gpu = self.gpu_storage(op)?.gpu().clone();
        let data = match self.dtype() {
            DType::I64 => match self.cuda_i64(op)? {
                DeviceData::Owned(s) => CudaData::I64(s),
                DeviceData::Borrowed(_) => return Ok(self.clone()),
            },
            _ => match self.cuda_f32(op)? {
                DeviceData::Owned(s) => CudaData::F32(s),
                DeviceData::Borrowed(_) => return Ok(self.clone()),
            },
        };
        Ok(Tensor::from_cuda_bounded(
            &gpu,
            data,
            self.shape(),
            self.index_bounds(),
        ))
    }

    /// A device-to-device copy of a GPU tensor's elements.
    pub(crate) fn cuda_copy(&self, op: &'static str) -> Result<Tensor> {
        let gpu = self.gpu_storage(op)?.gpu().clone();
        let to_err = |e: kernels::cudarc::driver::DriverError| Error::device(op, e.to_string());
        let data = match self.dtype() {
            DType::I64 => CudaData::I64(
                gpu.stream()
                    .clone_dtod(&self.cuda_i64(op)?.view())
                    .map_err(to_err)?,
            ),
            _ => CudaData::F32(
                gpu.stream()
                    .clone_dtod(&self.cuda_f32(op)?.view())
                    .map_err(to_err)?,
            ),
        };
        Ok(Tensor::from_cuda_bounded(
            &gpu,
            data,
            self.shape(),
            self.index_bounds(),
        ))
    }

    /// f32 <-> i64 on the GPU (the dtypes it holds).
    pub(crate) fn cuda_to_dtype(&self, dtype: DType) -> Result<Tensor> {
        const OP: &str = "to_dtype";
        let gpu = self.gpu_storage(OP)?.gpu().clone();
        let n = self.elem_count();
        match (self.dtype(), dtype) {
            (DType::I64, DType::F32) => {
                let mut out = alloc(OP, &gpu, n)?;
                gpu.i64_to_f32(&self.cuda_i64(OP)?.view(), &mut out)
                    .map_err(kernel_error(OP))?;
                Ok(Tensor::from_cuda_f32(&gpu, out, self.shape()))
            }
            (DType::F32, DType::I64) => {
                let mut out = alloc_i64(OP, &gpu, n)?;
                gpu.f32_to_i64(&self.cuda_f32(OP)?.view(), &mut out)
                    .map_err(kernel_error(OP))?;
                Ok(Tensor::from_cuda(&gpu, CudaData::I64(out), self.shape()))
            }
            (from, to) => Err(Error::device(
                OP,
                format!("the GPU holds f32 and i64 tensors; {from} to {to} needs the host (to_device(Device::Cpu))"),
            )),
        }
    }
}

/// A buffer for a tensor with no elements, of a dtype the GPU holds.
fn empty(op: &'static str, gpu: &Gpu, dtype: DType) -> Result<CudaData> {
    match dtype {
        DType::I64 => Ok(CudaData::I64(alloc_i64(op, gpu, 0)?)),
        DType::F32 => Ok(CudaData::F32(alloc(op, gpu, 0)?)),
        other => Err(Error::device(
            op,
            format!("the GPU holds f32 and i64 tensors, not {other}"),
        )),
    }
}
