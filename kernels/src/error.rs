//! Errors of the CUDA backend: a missing library or device, a kernel NVRTC refused (with its
//! log), a failed launch or copy, and an index a kernel found out of range.
//!
//! A failed driver or cuBLAS call displays which library failed and returns cudarc's error
//! as its `source()`, so that an error chain printed one line per source repeats nothing
//! (the convention of every lesson6 crate).
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// No usable CUDA: a library is missing or no device has this ordinal.
    Unavailable(String),
    /// NVRTC refused a kernel source: its name and NVRTC's log.
    Compile { source: &'static str, log: String },
    /// A CUDA driver call failed (a launch, a copy, an allocation); its error is the source.
    Driver(cudarc::driver::DriverError),
    /// A cuBLAS call failed; its status is the source.
    Cublas(cudarc::cublas::result::CublasError),
    /// An index kernel met an index out of range; `position` is the first such position in
    /// the index tensor (row-major).
    IndexOutOfRange { position: u64 },
    /// A launcher was given buffers or sizes that do not fit together.
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unavailable(why) => write!(f, "CUDA is not available: {why}"),
            Error::Compile { source, log } => {
                write!(f, "NVRTC could not compile {source}.cu:\n{log}")
            }
            Error::Driver(_) => write!(f, "a CUDA driver call failed"),
            Error::Cublas(_) => write!(f, "a cuBLAS call failed"),
            Error::IndexOutOfRange { position } => {
                write!(f, "index at position {position} is out of range")
            }
            Error::Invalid(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Driver(e) => Some(e),
            Error::Cublas(e) => Some(e),
            _ => None,
        }
    }
}

impl From<cudarc::driver::DriverError> for Error {
    fn from(e: cudarc::driver::DriverError) -> Self {
        Error::Driver(e)
    }
}

impl From<cudarc::cublas::result::CublasError> for Error {
    fn from(e: cudarc::cublas::result::CublasError) -> Self {
        Error::Cublas(e)
    }
}
