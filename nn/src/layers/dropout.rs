//! `Dropout` as PyTorch does it and the lesson shows: at training time keep each activation
//! with probability 1 - p and divide the kept ones by 1 - p (so the expectation is kept); at
//! inference, the identity. The mask comes from the Philox stream (seed, k) for the k-th call,
//! in one fused pass, and is never stored (the backward redraws it).
use crate::module::{Entry, Mode, Module};
use autograd::{Result, Var};
use std::cell::Cell;
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

impl Module for Dropout {
    fn forward(&self, x: &Var, mode: Mode) -> Result<Var> {
        if mode == Mode::Eval || self.p == 0.0 {
            return Ok(x.clone());
        }
        let k = self.calls.get();
        self.calls.set(k + 1);
        x.dropout(self.p, Philox::new(self.seed, k))
    }

    fn visit<'a>(&'a self, _prefix: &str, _f: &mut dyn FnMut(&str, Entry<'a>)) {}

    fn describe(&self) -> String {
        format!("Dropout(p={})", self.p)
    }
}
