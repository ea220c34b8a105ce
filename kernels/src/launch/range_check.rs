//! Reporting indices out of range.
//!
//! Every kernel that follows an index tests it first and skips it when it is out of range,
//! so nothing is ever read or written out of bounds. The kernel notes the first bad position
//! in a flag, and the launcher reads the flag back to report it, which makes the host wait
//! for every kernel launched before.
use crate::{Error, Gpu, Result};
use cudarc::driver::CudaSlice;

impl Gpu {
    /// Runs `launch` with a fresh flag, zeroed on the device (no copy from the host), and
    /// reads it back: an error naming the first out-of-range position p (the kernels store
    /// `!p`, so that the first position is the largest value), if any.
    pub(crate) fn with_flag(
        &self,
        launch: impl FnOnce(&CudaSlice<u64>) -> Result<()>,
    ) -> Result<()> {
        let flag = self.stream().alloc_zeros::<u64>(1)?;
        launch(&flag)?;
        match self.stream().clone_dtoh(&flag)?[0] {
            0 => Ok(()),
            flipped => Err(Error::IndexOutOfRange { position: !flipped }),
        }
    }
}
