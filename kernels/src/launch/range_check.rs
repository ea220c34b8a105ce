//! Reporting indices out of range without a wait where it can be spared.
//!
//! Every kernel that follows an index tests it first and skips it when it is out of range,
//! so nothing is ever read or written out of bounds. Reporting it is another matter: the
//! kernel notes the first bad position in a flag, and reading the flag back makes the host
//! wait for every kernel launched before. A launch whose indices are already known in range
//! (they came from the host, which looked at them, or a forward pass checked them) gives the
//! kernel a flag nobody reads instead.
use crate::{Error, Gpu, Result};
use cudarc::driver::CudaSlice;

/// Whether a launch must report indices out of range: `Known` when they already passed a
/// check against the size (they came from the host, or a forward pass checked them), which
/// saves the copy back to the host and the wait for every kernel before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeCheck {
    Report,
    Known,
}

impl Gpu {
    /// The flag a launch writes to and nobody reads: the kernels still test every index,
    /// but a launch whose indices are known in range neither zeroes a fresh flag nor reads
    /// one back.
    fn unread_flag(&self) -> Result<&CudaSlice<u64>> {
        if let Some(f) = self.unread_flag.get() {
            return Ok(f);
        }
        let f = self.stream().alloc_zeros::<u64>(1)?;
        Ok(self.unread_flag.get_or_init(|| f))
    }

    /// Runs `launch` with the flag `check` calls for and, under [`RangeCheck::Report`],
    /// reads it back: a fresh flag zeroed on the device (no copy from the host), and an
    /// error naming the first out-of-range position p (the kernels store `!p`, so that the
    /// first position is the largest value), if any.
    pub(crate) fn with_flag(
        &self,
        check: RangeCheck,
        launch: impl FnOnce(&CudaSlice<u64>) -> Result<()>,
    ) -> Result<()> {
        if check == RangeCheck::Known {
            return launch(self.unread_flag()?);
        }
        let flag = self.stream().alloc_zeros::<u64>(1)?;
        launch(&flag)?;
        match self.stream().clone_dtoh(&flag)?[0] {
            0 => Ok(()),
            flipped => Err(Error::IndexOutOfRange { position: !flipped }),
        }
    }
}
