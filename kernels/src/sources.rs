//! The kernel sources, embedded in the binary, and their compilation by NVRTC.
//!
//! Each `.cu` file is one family of kernels; `common.cuh` (the strided layout, the grid-stride
//! loop, Philox 4x32-10 and a block reduction) is prepended to each before it is compiled.
use crate::{Error, Result};
use cudarc::nvrtc::{CompileOptions, Ptx};

/// One kernel source file and the kernels it defines (its `extern "C" __global__`
/// functions, every one of which a launcher uses; `kernels/tests/compile.rs` checks that the
/// PTX has exactly these entries).
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub name: &'static str,
    pub code: &'static str,
    pub kernels: &'static [&'static str],
}

/// What every source starts with (prepended before compilation).
pub const COMMON: &str = include_str!("cu/common.cuh");

pub const ELEMENTWISE: Source = Source {
    name: "elementwise",
    code: include_str!("cu/elementwise.cu"),
    kernels: &[
        "copy_strided_f32",
        "copy_strided_i64",
        "cat_f32",
        "cat_i64",
        "fill_f32",
        "i64_to_f32",
        "f32_to_i64",
        "add_f32",
        "sub_f32",
        "mul_f32",
        "div_f32",
        "pow_f32",
        "maximum_f32",
        "minimum_f32",
        "relu_backward_f32",
        "eq_f32",
        "ne_f32",
        "lt_f32",
        "le_f32",
        "gt_f32",
        "ge_f32",
        "where_f32",
        "exp_f32",
        "log_f32",
        "sigmoid_f32",
        "tanh_f32",
        "relu_f32",
        "sqrt_f32",
        "neg_f32",
        "abs_f32",
        "sqr_f32",
        "recip_f32",
        "powf_f32",
        "affine_f32",
        "add_scalar_f32",
        "mul_scalar_f32",
        "clamp_f32",
    ],
};
pub const REDUCE: Source = Source {
    name: "reduce",
    code: include_str!("cu/reduce.cu"),
    kernels: &[
        "sum_rows_f32",
        "sum_cols_f32",
        "max_mid_f32",
        "min_mid_f32",
        "softmax_rows_f32",
    ],
};
pub const CONV: Source = Source {
    name: "conv",
    code: include_str!("cu/conv.cu"),
    kernels: &[
        "im2col_f32",
        "im2col_wide_f32",
        "col2im_f32",
        "add_channel_bias_f32",
    ],
};
pub const BATCH_NORM: Source = Source {
    name: "batch_norm",
    code: include_str!("cu/batch_norm.cu"),
    kernels: &[
        "batch_norm_forward_f32",
        "batch_norm_backward_f32",
        "channel_affine_f32",
        "batch_norm_fold_f32",
        "channel_sums_f32",
    ],
};
pub const DROPOUT: Source = Source {
    name: "dropout",
    code: include_str!("cu/dropout.cu"),
    kernels: &["dropout_f32"],
};
pub const EMBEDDING: Source = Source {
    name: "embedding",
    code: include_str!("cu/embedding.cu"),
    kernels: &[
        "index_select_f32",
        "index_add_atomic_f32",
        "index_add_sorted_f32",
        "gather_f32",
        "scatter_add_f32",
        "embeddings_cat_f32",
        "embeddings_cat_backward_f32",
        "embeddings_cat_backward_sorted_f32",
    ],
};
pub const POOL: Source = Source {
    name: "pool",
    code: include_str!("cu/pool.cu"),
    kernels: &[
        "max_pool_f32",
        "max_pool_backward_f32",
        "avg_pool_f32",
        "avg_pool_backward_f32",
        "pad_f32",
        "pad_backward_f32",
    ],
};
pub const OPTIM: Source = Source {
    name: "optim",
    code: include_str!("cu/optim.cu"),
    kernels: &["adamw_f32", "sgd_f32"],
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
