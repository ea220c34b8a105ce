//! Initialisation as PyTorch and fastai do it, from a seeded, reproducible source.
//!
//! - `Linear` and `Conv2d` weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's
//!   default, kaiming_uniform with a = sqrt(5), which works out to this bound);
//! - the fastai CNN head's linear layers: kaiming normal, N(0, 2/fan_in), bias 0;
//! - embeddings: fastai's `trunc_normal_`: N(0, 1) with values beyond ±2 wrapped by fmod,
//!   times 0.01 (docs/lesson6.md, Initialisation).
use std::cell::Cell;
use tensor::random::Philox;
use tensor::{Result, Tensor};

/// A source of independent random streams: stream k is Philox (seed, k). Every layer built
/// from the same `Init` with the same seed gets the same values, in construction order.
#[derive(Debug)]
pub struct Init {
    seed: u64,
    next: Cell<u64>,
}

impl Init {
    pub fn new(seed: u64) -> Self {
        Init {
            seed,
            next: Cell::new(0),
        }
    }

    /// The next unused stream.
    pub fn stream(&self) -> Philox {
        let k = self.next.get();
        self.next.set(k + 1);
        Philox::new(self.seed, k)
    }

    /// U(-bound, bound).
    pub fn uniform(&self, shape: &[usize], bound: f32) -> Result<Tensor> {
        if bound == 0.0 {
            return Ok(Tensor::zeros(shape));
        }
        self.stream().uniform(shape, -bound, bound)
    }

    /// PyTorch's default for a layer with `fan_in` inputs per output: U(±1/sqrt(fan_in)).
    pub fn fan_in_uniform(&self, shape: &[usize], fan_in: usize) -> Result<Tensor> {
        self.uniform(shape, 1.0 / (fan_in.max(1) as f32).sqrt())
    }

    /// Kaiming (He) normal for ReLU networks: N(0, 2 / fan_in).
    pub fn kaiming_normal(&self, shape: &[usize], fan_in: usize) -> Result<Tensor> {
        self.stream()
            .normal(shape, 0.0, (2.0 / fan_in.max(1) as f32).sqrt())
    }

    /// fastai's truncated normal for embeddings: N(0, 1) fmod 2, times 0.01.
    pub fn trunc_normal(&self, shape: &[usize]) -> Result<Tensor> {
        let n = self.stream().normal(shape, 0.0, 1.0)?.to_vec::<f32>()?;
        let v = n.into_iter().map(|x| (x % 2.0) * 0.01).collect();
        Tensor::from_vec(v, shape)
    }
}
