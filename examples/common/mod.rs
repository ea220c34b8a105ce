//! What the training examples share on the command line: where to train, and how a GPU may
//! multiply. `#[command(flatten)]` puts these flags into an example's own.
use lesson6::tensor::{Device, Gpu};

#[derive(clap::Args, Debug)]
pub struct DeviceArgs {
    /// Where to train: cpu, cuda or cuda:N (a GPU needs the CUDA driver, NVRTC and cuBLAS).
    #[arg(long, default_value = "cpu")]
    pub device: Device,
    /// Let cuBLAS multiply f32 matrices on tensor cores in TF32 (GPU only): several times
    /// faster products with about 1e-3 relative error, as PyTorch's
    /// `torch.backends.cuda.matmul.allow_tf32`. Off by default, so a GPU matches the CPU.
    #[arg(long)]
    pub tf32: bool,
}

impl DeviceArgs {
    /// The device, opened and set up as the flags say; an error names what is missing.
    pub fn open(&self) -> Result<Device, String> {
        match self.device {
            Device::Cuda(ordinal) => {
                let gpu =
                    Gpu::get(ordinal).map_err(|e| format!("--device {}: {e}", self.device))?;
                gpu.set_tf32(self.tf32).map_err(|e| e.to_string())?;
                println!(
                    "training on {} ({}), TF32 {}",
                    self.device,
                    gpu.name().map_err(|e| e.to_string())?,
                    if self.tf32 { "on" } else { "off" }
                );
            }
            Device::Cpu if self.tf32 => {
                return Err("--tf32 is for a GPU: add --device cuda".to_string())
            }
            Device::Cpu => {}
        }
        Ok(self.device)
    }
}
