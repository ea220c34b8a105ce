//! Where a tensor's elements live: the host, or one CUDA GPU.
use crate::{Error, Result};

/// Where a tensor's data lives: the host, or the CUDA GPU of an ordinal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    Cpu,
    Cuda(usize),
}

impl Device {
    /// The CUDA GPU `ordinal` (PyTorch's `torch.device("cuda", 0)`).
    pub fn cuda(ordinal: usize) -> Device {
        Device::Cuda(ordinal)
    }

    /// Reads `cpu`, `cuda` (GPU 0) or `cuda:N`, as the examples' `--device` takes it.
    pub fn parse(s: &str) -> Result<Device> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| Error::DeviceName {
                    name: s.to_string(),
                }),
        }
    }

    /// Whether a CUDA GPU with this ordinal can be used here (the libraries load and the
    /// driver sees it); the host always can. Opens the GPU on first use.
    pub fn is_available(self) -> bool {
        match self {
            Device::Cpu => true,
            Device::Cuda(i) => kernels::Gpu::get(i).is_ok(),
        }
    }
}

impl std::str::FromStr for Device {
    type Err = Error;
    fn from_str(s: &str) -> Result<Device> {
        Device::parse(s)
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}
