//! The kernel sources, embedded in the binary, and their compilation by NVRTC.
//!
//! Each `.cu` file is one family of kernels; `common.cuh` (the strided layout, the grid-stride
//! loop, Philox 4x32-10 and a block reduction) is prepended to each before it is compiled.
use crate::{Error, Result};
use cudarc::nvrtc::{CompileOptions, Ptx};

/// One kernel source file.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub name: &'static str,
    pub code: &'static str,
}

/// What every source starts with (prepended before compilation).
pub const COMMON: &str = include_str!("cu/common.cuh");

pub const ELEMENTWISE: Source = Source {
    name: "elementwise",
    code: include_str!("cu/elementwise.cu"),
};
pub const REDUCE: Source = Source {
    name: "reduce",
    code: include_str!("cu/reduce.cu"),
};
pub const CONV: Source = Source {
    name: "conv",
    code: include_str!("cu/conv.cu"),
};
pub const BATCH_NORM: Source = Source {
    name: "batch_norm",
    code: include_str!("cu/batch_norm.cu"),
};
pub const DROPOUT: Source = Source {
    name: "dropout",
    code: include_str!("cu/dropout.cu"),
};
pub const EMBEDDING: Source = Source {
    name: "embedding",
    code: include_str!("cu/embedding.cu"),
};
pub const POOL: Source = Source {
    name: "pool",
    code: include_str!("cu/pool.cu"),
};
pub const OPTIM: Source = Source {
    name: "optim",
    code: include_str!("cu/optim.cu"),
};

/// Every kernel source, for [`compile_all`].
pub const ALL: [Source; 8] = [
    ELEMENTWISE,
    REDUCE,
    CONV,
    BATCH_NORM,
    DROPOUT,
    EMBEDDING,
    POOL,
    OPTIM,
];

/// True when the NVRTC library can be opened (it is all [`compile`] needs: no GPU, no driver).
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to open the library; calls nothing in it.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Compiles one source to PTX for `arch` (e.g. "compute_90"; NVRTC's default when `None`).
/// `--fmad=false` keeps `a * b + c` two roundings, as on the CPU, so that element-wise results
/// agree with the CPU path bit for bit where the maths is the same.
pub fn compile(source: Source, arch: Option<&'static str>) -> Result<Ptx> {
    if !nvrtc_present() {
        return Err(Error::Unavailable(
            "the NVRTC library (libnvrtc) was not found".into(),
        ));
    }
    let opts = CompileOptions {
        fmad: Some(false),
        arch,
        name: Some(format!("{}.cu", source.name)),
        ..Default::default()
    };
    cudarc::nvrtc::compile_ptx_with_opts(format!("{COMMON}\n{}", source.code), opts).map_err(|e| {
        Error::Compile {
            source: source.name,
            log: match e {
                cudarc::nvrtc::CompileError::CompileError { log, .. } => {
                    log.to_string_lossy().into_owned()
                }
                other => format!("{other:?}"),
            },
        }
    })
}

/// Compiles every source, returning the first refusal with NVRTC's log.
pub fn compile_all(arch: Option<&'static str>) -> Result<Vec<(&'static str, Ptx)>> {
    ALL.iter()
        .map(|&s| compile(s, arch).map(|ptx| (s.name, ptx)))
        .collect()
}
