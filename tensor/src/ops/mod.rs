//! Every op's CPU implementation, one concept per file. Ops are methods on [`crate::Tensor`].

/// Runs `$body` with `$T` bound to the Rust element type of `$dtype`, for ops that only move
/// elements (select, gather, cat, pad) and so work on every dtype alike.
macro_rules! with_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::DType::F16 => {
                type $T = half::f16;
                $body
            }
            $crate::DType::BF16 => {
                type $T = half::bf16;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
        }
    };
}

/// Runs `$body` with `$T` bound to `f32` or `f64` (a [`crate::Float`]) as `$dtype` says, for
/// ops that compute; any other dtype is an [`crate::Error::DType`] naming `$op` (`f32` is
/// what it expects: the dtype a model computes in). `$body` is a `Result`.
macro_rules! with_float {
    ($op:expr, $dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            got => Err($crate::Error::DType {
                op: $op,
                expected: $crate::DType::F32,
                got,
            }),
        }
    };
}

mod batch_norm;
mod binary;
mod cat;
mod compare;
mod conv;
mod conv_explicit;
mod conv_matrix;
mod dropout;
#[cfg(target_arch = "x86_64")]
mod dropout_avx512;
mod embeddings_cat;
mod index;
mod matmul;
mod optim;
mod pad;
mod pool;
mod reduce;
mod simple_gemm;
mod softmax;
mod unary;

pub use batch_norm::RunningStats;
pub use conv::Conv2dParams;
pub(crate) use conv::Geometry;
pub use optim::{adamw_steps, AdamStep, AdamUpdate, SgdStep};
pub use pad::PadMode;
pub use unary::sigmoid_f32;

/// The smallest number of items (planes, rows) one rayon task should take when each item
/// costs about `work_per_item` element operations: enough that a task does about
/// `PAR_THRESHOLD` work, so a small tensor runs on the calling thread (rayon does not split
/// below this length) and a large one still spreads over every core.
pub(crate) fn min_items_per_task(work_per_item: usize) -> usize {
    (crate::strided::PAR_THRESHOLD / work_per_item.max(1)).max(1)
}
