//! One GPU: its context, its stream, a cuBLAS handle and the kernels compiled for it.
//!
//! Every launch goes to the GPU's one stream, so kernels run in the order they are launched
//! and a copy back to the host waits for all of them; no other synchronisation is needed.
use crate::sources::{self, Source};
use crate::{Error, Result};
use cudarc::cublas::CudaBlas;
use cudarc::driver::sys::{self, CUmemPool_attribute};
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// A GPU ready to run lesson6's kernels. Shared: [`Gpu::get`] hands out one per ordinal.
pub struct Gpu {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    pub(crate) blas: CudaBlas,
    arch: Option<&'static str>,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    /// Kernels already looked up, by name: a launch costs a map lookup, not a driver call.
    functions: Mutex<HashMap<String, CudaFunction>>,
    tf32: AtomicBool,
    /// The most bytes of column matrices a convolution builds at once ([`Gpu::set_conv_columns`]).
    conv_columns: AtomicUsize,
    /// Pooling and padding geometries already uploaded, by content (`launch/pool.rs`).
    pub(crate) geometries: Mutex<HashMap<Vec<i32>, Arc<CudaSlice<i32>>>>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gpu(cuda:{})", self.ctx.ordinal())
    }
}

/// Which of the libraries the backend opens at run time are missing, if any: `Ok` when the
/// driver, NVRTC and cuBLAS can all be loaded. `cudarc` panics on a call into a library it
/// cannot open, so nothing may touch CUDA before this says yes.
pub fn libraries_present() -> Result<()> {
    // SAFETY: each check only tries to open a shared library; it calls nothing in it.
    let (driver, nvrtc, cublas) = unsafe {
        (
            sys::is_culib_present(),
            cudarc::nvrtc::sys::is_culib_present(),
            cudarc::cublas::sys::is_culib_present(),
        )
    };
    let missing: Vec<&str> = [
        (driver, "no CUDA driver found (libcuda)"),
        (nvrtc, "no NVRTC found (libnvrtc)"),
        (cublas, "no cuBLAS found (libcublas)"),
    ]
    .iter()
    .filter(|(present, _)| !present)
    .map(|(_, why)| *why)
    .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::Unavailable(missing.join("; ")))
    }
}

/// [`Gpu::conv_columns`] until set: 256 MiB, so that ResNet-34's layers at batch 64 take
/// their batch in two chunks or fewer.
const DEFAULT_CONV_COLUMNS: usize = 256 << 20;

/// The virtual architecture to compile for, from the device's compute capability.
fn arch_of(major: i32, minor: i32) -> Option<&'static str> {
    Some(match (major, minor) {
        (7, 5) => "compute_75",
        (8, 0) => "compute_80",
        (8, 6) => "compute_86",
        (8, 9) => "compute_89",
        (9, 0) => "compute_90",
        (10, 0) => "compute_100",
        (12, 0) => "compute_120",
        _ => return None,
    })
}

impl Gpu {
    /// Opens GPU `ordinal`, or says why it cannot: a missing library, no device, or a
    /// driver error. Kernels are compiled later, each source the first time one of its
    /// kernels is launched.
    pub fn new(ordinal: usize) -> Result<Gpu> {
        libraries_present()?;
        let count = CudaContext::device_count()
            .map_err(|e| Error::Unavailable(format!("the CUDA driver found no device ({e})")))?;
        if ordinal >= count.max(0) as usize {
            return Err(Error::Unavailable(format!(
                "no CUDA device {ordinal}: the driver sees {count}"
            )));
        }
        let ctx = CudaContext::new(ordinal)?;
        // SAFETY: every buffer of this context is allocated, used and freed on its one
        // stream (below; cuBLAS runs on it too), whose order already orders all uses.
        // cudarc's per-buffer events exist for contexts with several streams; here they
        // would only cost two event creations and two destructions per tensor.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.default_stream();
        let blas = CudaBlas::new(stream.clone())?;
        let (major, minor) = ctx.compute_capability()?;
        let gpu = Gpu {
            arch: arch_of(major, minor),
            ctx,
            stream,
            blas,
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            tf32: AtomicBool::new(false),
            conv_columns: AtomicUsize::new(DEFAULT_CONV_COLUMNS),
            geometries: Mutex::new(HashMap::new()),
        };
        gpu.set_tf32(false)?;
        gpu.keep_freed_memory()?;
        Ok(gpu)
    }

    /// The device's default memory pool, which stream-ordered allocations (`cuMemAllocAsync`)
    /// draw from; `None` where the device has none (outputs then come from `cuMemAlloc`).
    fn memory_pool(&self) -> Result<Option<sys::CUmemoryPool>> {
        if !self.ctx.has_async_alloc() {
            return Ok(None);
        }
        self.ctx.bind_to_thread()?;
        let mut pool = std::ptr::null_mut();
        // SAFETY: FFI call on this context's device with a valid out-pointer.
        unsafe { sys::cuDeviceGetDefaultMemPool(&mut pool, self.ctx.cu_device()) }.result()?;
        Ok(Some(pool))
    }

    /// Sets a u64 attribute of the default memory pool, where there is one.
    fn set_pool_attribute(&self, attribute: CUmemPool_attribute, mut value: u64) -> Result<()> {
        if let Some(pool) = self.memory_pool()? {
            // SAFETY: FFI call on the device's own pool; the attributes set here take a u64
            // (cuuint64_t) by pointer.
            unsafe { sys::cuMemPoolSetAttribute(pool, attribute, (&mut value as *mut u64).cast()) }
                .result()?;
        }
        Ok(())
    }

    /// Lets the device's memory pool keep what is freed instead of returning it to the driver
    /// at every synchronisation (its default threshold is 0). Outputs are allocated
    /// stream-ordered from this pool (`cuMemAllocAsync`), so a training step reuses the
    /// previous step's memory, as PyTorch's caching allocator does, instead of mapping fresh
    /// pages after each loss is read back.
    fn keep_freed_memory(&self) -> Result<()> {
        self.set_pool_attribute(
            CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
            u64::MAX,
        )
    }

    /// The most bytes of device memory in use at once since the last
    /// [`Gpu::reset_memory_high_water`] (or since the GPU was opened): live tensors and the
    /// freed buffers the tensor crate keeps for reuse, the counterpart of PyTorch's
    /// `torch.cuda.max_memory_reserved`. `None` where the device has no memory pool.
    pub fn memory_high_water(&self) -> Result<Option<u64>> {
        let Some(pool) = self.memory_pool()? else {
            return Ok(None);
        };
        let mut bytes = 0u64;
        // SAFETY: FFI call on the device's own pool; this attribute is a u64 read by pointer.
        unsafe {
            sys::cuMemPoolGetAttribute(
                pool,
                CUmemPool_attribute::CU_MEMPOOL_ATTR_USED_MEM_HIGH,
                (&mut bytes as *mut u64).cast(),
            )
        }
        .result()?;
        Ok(Some(bytes))
    }

    /// Starts [`Gpu::memory_high_water`] again from the memory in use now.
    pub fn reset_memory_high_water(&self) -> Result<()> {
        // The driver takes only 0 here, meaning "from now".
        self.set_pool_attribute(CUmemPool_attribute::CU_MEMPOOL_ATTR_USED_MEM_HIGH, 0)
    }

    /// The shared [`Gpu`] for `ordinal`, opened on first use. A failure is not cached, so a
    /// later call tries again.
    pub fn get(ordinal: usize) -> Result<Arc<Gpu>> {
        static GPUS: OnceLock<Mutex<HashMap<usize, Arc<Gpu>>>> = OnceLock::new();
        let mut gpus = GPUS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(g) = gpus.get(&ordinal) {
            return Ok(g.clone());
        }
        let g = Arc::new(Gpu::new(ordinal)?);
        gpus.insert(ordinal, g.clone());
        Ok(g)
    }

    pub fn ordinal(&self) -> usize {
        self.ctx.ordinal()
    }

    /// The device's name, as the driver reports it ("NVIDIA H100 80GB HBM3").
    pub fn name(&self) -> Result<String> {
        Ok(self.ctx.name()?)
    }

    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// The device's memory, in bytes.
    pub fn total_memory(&self) -> Result<usize> {
        Ok(self.ctx.total_mem()?)
    }

    /// Waits for every launched kernel (timing needs it; copies to the host wait anyway).
    pub fn synchronize(&self) -> Result<()> {
        Ok(self.stream.synchronize()?)
    }

    /// Lets cuBLAS multiply f32 matrices on tensor cores in TF32 (10-bit mantissa inputs,
    /// f32 accumulation): several times faster, about 1e-3 relative error. Off by default,
    /// so that GPU results match the CPU's to 1e-5.
    pub fn set_tf32(&self, on: bool) -> Result<()> {
        use cudarc::cublas::sys::{cublasMath_t, cublasSetMathMode};
        let mode = if on {
            cublasMath_t::CUBLAS_TF32_TENSOR_OP_MATH
        } else {
            cublasMath_t::CUBLAS_DEFAULT_MATH
        };
        // SAFETY: FFI call on the handle this Gpu owns, with a valid enum value.
        unsafe { cublasSetMathMode(*self.blas.handle(), mode) }.result()?;
        self.tf32.store(on, Ordering::Relaxed);
        Ok(())
    }

    pub fn tf32(&self) -> bool {
        self.tf32.load(Ordering::Relaxed)
    }

    /// Sets the most bytes of column matrices (im2col's output, or the input gradient's
    /// columns before col2im) a convolution builds at once: the batch is cut into chunks of
    /// whole images below it, one image at least, and each chunk is one im2col and one
    /// product. Large chunks make large products, which cuBLAS runs nearest its peak; chunks
    /// that fit in the L2 cache (50 MB on an H100, 60 MB on an H200) could spare the columns'
    /// round trip through DRAM between the kernel that writes them and the product that reads
    /// them, at the price of smaller products (`benches/gpu.rs` times both). The result is
    /// the same up to the order of the weight gradient's sums (one product per chunk, added).
    pub fn set_conv_columns(&self, bytes: usize) {
        self.conv_columns.store(bytes, Ordering::Relaxed);
    }

    /// The most bytes of column matrices a convolution builds at once
    /// (256 MiB unless [`Gpu::set_conv_columns`] changed it).
    pub fn conv_columns(&self) -> usize {
        self.conv_columns.load(Ordering::Relaxed)
    }

    /// Kernel `name` of `source`, compiling and loading the source on first use.
    pub(crate) fn function(&self, source: Source, name: &str) -> Result<CudaFunction> {
        let mut functions = self.functions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = functions.get(name) {
            return Ok(f.clone());
        }
        let module = {
            let mut modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
            match modules.get(source.name) {
                Some(m) => m.clone(),
                None => {
                    let ptx = sources::compile(source, self.arch)?;
                    let m = self.ctx.load_module(ptx)?;
                    modules.insert(source.name, m.clone());
                    m
                }
            }
        };
        let f = module.load_function(name)?;
        functions.insert(name.to_string(), f.clone());
        Ok(f)
    }
}
