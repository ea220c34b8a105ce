//! What the training examples share on the command line: where to train, and how a GPU may
//! multiply (`#[command(flatten)]` puts these flags into an example's own); the checks that
//! refuse a count, rate or size that cannot train, when the line is parsed; parsing itself,
//! which exits with 1 on a mistake, as every other error of the examples does; and `--lr-find`.
use clap::Parser;
use lesson6::autograd::Var;
use lesson6::nn::learner::{lr_suggestion, Inputs, Learner};
use lesson6::nn::Module;
use lesson6::tensor::{Device, Gpu};
use std::error::Error;

/// The command line as `A` reads it. A mistake prints clap's message (`error: ...`) and exits
/// with 1; `--help` and `--version` print and exit with 0.
pub fn parse_args<A: Parser>() -> A {
    A::try_parse().unwrap_or_else(|e| {
        if e.use_stderr() {
            let _ = e.print();
            std::process::exit(1);
        }
        e.exit()
    })
}

/// A value parser for a whole number from `min` to `max` (a batch size, a count of epochs,
/// an image side).
pub fn whole(
    min: usize,
    max: usize,
) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    move |s| {
        s.parse()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| match max {
                usize::MAX => format!("expected a whole number of at least {min}"),
                _ => format!("expected a whole number from {min} to {max}"),
            })
    }
}

/// A learning rate: a finite number above 0 (`NaN`, `inf`, 0 and negatives would not train).
pub fn rate(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|r| r.is_finite() && *r > 0.0)
        .ok_or_else(|| "expected a finite learning rate above 0, as 1e-3".to_string())
}

/// A weight decay: a finite number, 0 or more.
pub fn decay(s: &str) -> Result<f32, String> {
    s.parse::<f32>()
        .ok()
        .filter(|w| w.is_finite() && *w >= 0.0)
        .ok_or_else(|| "expected a finite weight decay of 0 or more, as 0.01".to_string())
}

/// `--lr-find`: the lesson's `learn.lr_find()` from 1e-7 to 10 (the weights restored
/// afterwards), printing fastai's suggested rate; the (rate, smoothed loss) curve.
pub fn lr_find<M: Module<I, Output = Var> + 'static, I: Inputs>(
    learn: &mut Learner<M, I>,
) -> Result<Vec<(f64, f64)>, Box<dyn Error>> {
    println!("lr_find: learning rates from 1e-7 to 10, weights restored afterwards");
    let sweep = learn.lr_find(1e-7, 10.0, 100)?;
    match lr_suggestion(&sweep) {
        Some(lr) => println!("lr_find suggests {lr:.2e} (min numerical gradient)"),
        None => println!("lr_find: too few points for a suggestion"),
    }
    Ok(sweep)
}

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
    pub fn open(&self) -> Result<Device, Box<dyn Error>> {
        match self.device {
            Device::Cuda(ordinal) => {
                let gpu =
                    Gpu::get(ordinal).map_err(|e| format!("--device {}: {e}", self.device))?;
                gpu.set_tf32(self.tf32)?;
                println!(
                    "training on {} ({}), TF32 {}",
                    self.device,
                    gpu.name()?,
                    if self.tf32 { "on" } else { "off" }
                );
            }
            Device::Cpu if self.tf32 => return Err("--tf32 is for a GPU: add --device cuda".into()),
            Device::Cpu => {}
        }
        Ok(self.device)
    }
}
