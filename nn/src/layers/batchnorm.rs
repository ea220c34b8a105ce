//! Batch normalisation with PyTorch's semantics (Ioffe & Szegedy, 2015):
//!
//! - training: normalise with the batch's mean and *biased* variance over every axis but the
//!   channel one, `y = (x - mean) / sqrt(var + eps) * weight + bias`, then move the running
//!   statistics towards the batch's with `momentum` as the weight of the new batch, storing
//!   the *unbiased* variance (`var * n / (n - 1)`);
//! - inference: normalise with the running statistics.
//!
//! `BatchNorm1d` takes `[N, C]` (or `[N, C, L]`), `BatchNorm2d` takes `[N, C, H, W]`; the
//! state dict holds `weight`, `bias`, `running_mean`, `running_var`, `num_batches_tracked`.
use crate::module::{Buffer, Mode, Module, Param};
use crate::vars::Path;
use autograd::{Error, Result, Var};
use std::fmt;
use std::rc::Rc;
use tensor::{RunningStats, Tensor};

pub struct BatchNorm {
    pub weight: Rc<Param>,
    pub bias: Rc<Param>,
    pub running_mean: Rc<Buffer>,
    pub running_var: Rc<Buffer>,
    pub num_batches_tracked: Rc<Buffer>,
    pub momentum: f32,
    pub eps: f32,
    /// 2 for BatchNorm1d on `[N, C]`, 4 for BatchNorm2d.
    rank: usize,
}

impl BatchNorm {
    /// PyTorch's BatchNorm1d: weight 1, bias 0, momentum 0.1, eps 1e-5, its state named
    /// `p.weight`, `p.bias`, `p.running_mean`, ...
    pub fn new_1d(p: Path, channels: usize) -> crate::Result<Self> {
        Self::new(p, channels, 2)
    }

    /// PyTorch's BatchNorm2d.
    pub fn new_2d(p: Path, channels: usize) -> crate::Result<Self> {
        Self::new(p, channels, 4)
    }

    fn new(p: Path, channels: usize, rank: usize) -> crate::Result<Self> {
        Ok(BatchNorm {
            weight: p.param("weight", Tensor::ones(&[channels]))?,
            bias: p.param("bias", Tensor::zeros(&[channels]))?,
            running_mean: p.buffer("running_mean", Tensor::zeros(&[channels]))?,
            running_var: p.buffer("running_var", Tensor::ones(&[channels]))?,
            num_batches_tracked: p
                .buffer("num_batches_tracked", Tensor::from_vec(vec![0i64], &[])?)?,
            momentum: 0.1,
            eps: 1e-5,
            rank,
        })
    }

    /// Sets the momentum (fastai's `bn_final` uses 0.01).
    pub fn with_momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }

    fn channels(&self) -> usize {
        self.weight.value().elem_count()
    }

    /// Refuses an input of the wrong rank or channel count, naming the layer's kind.
    fn check_input(&self, x: &Var) -> Result<()> {
        let c = self.channels();
        let ok = match self.rank {
            2 => (x.rank() == 2 || x.rank() == 3) && x.shape()[1] == c,
            _ => x.rank() == 4 && x.shape()[1] == c,
        };
        if !ok {
            return Err(Error::Tensor(tensor::Error::Shape {
                op: "batch_norm",
                shapes: vec![x.shape().to_vec(), vec![c]],
                expected: if self.rank == 2 {
                    "BatchNorm1d's [N, C] or [N, C, L], C the layer's (the second)"
                } else {
                    "BatchNorm2d's [N, C, H, W], C the layer's (the second)"
                },
            }));
        }
        Ok(())
    }

    /// Counts one more training batch (`num_batches_tracked`, kept for PyTorch's state dict).
    fn count_batch(&self) -> tensor::Result<()> {
        let seen = self.num_batches_tracked.value().to_vec::<i64>()?[0];
        self.num_batches_tracked
            .set(Tensor::from_vec(vec![seen + 1], &[])?);
        Ok(())
    }
}

impl Module<Var> for BatchNorm {
    type Output = Var;
    fn forward(&self, x: Var, mode: Mode) -> Result<Var> {
        self.check_input(&x)?;
        match mode {
            // One fused op with its closed-form backward (see tensor's `batch_norm`).
            Mode::Train => {
                let (w, b) = (self.weight.var_for(&x), self.bias.var_for(&x));
                // The running statistics are taken out of their buffers (so that a GPU can
                // update them in place, in the forward's own launch) and put back.
                let (mut mean, mut var) = (self.running_mean.take(), self.running_var.take());
                let running = RunningStats {
                    mean: &mut mean,
                    var: &mut var,
                    momentum: self.momentum,
                };
                let out = x.batch_norm(&w, &b, self.eps, Some(running));
                self.running_mean.set(mean);
                self.running_var.set(var);
                let (y, _, _) = out?;
                self.count_batch()?;
                Ok(y)
            }
            // The running statistics and the affine weights as one scale and shift per
            // channel (still differentiable in γ and β), then one pass.
            Mode::Eval => {
                let (w, b) = (self.weight.var_for(&x), self.bias.var_for(&x));
                let stats = (self.running_mean.value(), self.running_var.value());
                x.batch_norm_eval(&w, &b, (&stats.0, &stats.1), self.eps)
            }
        }
    }
}

impl fmt::Display for BatchNorm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.rank == 2 {
            "BatchNorm1d"
        } else {
            "BatchNorm2d"
        };
        write!(
            f,
            "{kind}({}, eps={}, momentum={})",
            self.channels(),
            self.eps,
            self.momentum
        )
    }
}
