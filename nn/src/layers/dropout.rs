//! `Dropout` as PyTorch does it and the lesson shows: at training time keep each activation
//! with probability 1 - p and divide the kept ones by 1 - p (so the expectation is kept); at
//! inference, the identity. The mask comes from the Philox stream (seed, k) for the k-th call,
//! in one fused pass, and is never stored (the backward redraws it).
use crate::module::{Mode, Module};
use autograd::{Result, Var};
use std::cell::Cell;
use std::fmt;
use tensor::random::Philox;

pub struct Dropout {
    pub p: f32,
    seed: u64,
    calls: Cell<u64>,
}

impl Dropout {
    /// Drop probability `p`; the masks of successive calls are streams 0, 1, 2, ... of `seed`.
    pub fn new(p: f32, seed: u64) -> Self {
        Dropout {
            p,
            seed,
            calls: Cell::new(0),
        }
    }
}

impl Module<Var> for Dropout {
    type Output = Var;
    fn forward(&self, x: Var, mode: Mode) -> Result<Var> {
        if mode == Mode::Eval || self.p == 0.0 {
            return Ok(x);
        }
        let k = self.calls.get();
        self.calls.set(k + 1);
        x.dropout(self.p, Philox::new(self.seed, k))
    }
}

impl fmt::Display for Dropout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dropout(p={})", self.p)
    }
}
