//! The front end: every op as a method on [`crate::Tensor`], one concept per file. A method
//! checks its operands' shapes and dtypes, builds the output's shape and calls the storage
//! once ([`crate::Storage`]), which runs the op on the operands' device.

mod batch_norm;
mod binary;
mod cat;
mod conv;
mod conv_matrix;
mod dropout;
mod embeddings_cat;
mod index;
mod matmul;
mod optim;
mod pad;
mod pool;
mod reduce;
mod unary;

pub use batch_norm::RunningStats;
pub use optim::{adamw_steps, AdamStep, AdamUpdate, SgdStep};
pub use pad::PadMode;

impl crate::Tensor {
    /// An error naming `op` unless this tensor holds f32 or f64, the dtypes ops compute in.
    pub(crate) fn check_float(&self, op: &'static str) -> crate::Result<()> {
        match self.dtype() {
            crate::DType::F32 | crate::DType::F64 => Ok(()),
            got => Err(crate::Error::DType {
                op,
                expected: crate::DType::F32,
                got,
            }),
        }
    }

    /// An error naming `op` unless `other` has this tensor's dtype (there is no promotion).
    pub(crate) fn check_same_dtype(
        &self,
        op: &'static str,
        other: &crate::Tensor,
    ) -> crate::Result<()> {
        if other.dtype() == self.dtype() {
            return Ok(());
        }
        Err(crate::Error::DType {
            op,
            expected: self.dtype(),
            got: other.dtype(),
        })
    }
}
