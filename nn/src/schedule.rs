//! The one-cycle policy (Smith, "Super-convergence", 2018), exactly as fastai v1's
//! `OneCycleScheduler` (docs/lesson6.md, One-cycle schedule): over n = batches × epochs
//! iterations, the first a1 = int(n · pct_start) go from max_lr / div to max_lr while momentum
//! goes from 0.95 down to 0.85, the rest from max_lr down to max_lr / (div · 1e4) while
//! momentum climbs back, each along a cosine:
//! `cos(s, e, q) = e + (s - e) / 2 · (1 + cos(π q))`.
use std::f64::consts::PI;

/// The settings of a one-cycle run, with fastai's defaults.
#[derive(Debug, Clone, Copy)]
pub struct OneCycle {
    pub max_lr: f64,
    pub div: f64,
    pub pct_start: f64,
    pub moms: (f64, f64),
    /// The final learning rate is max_lr / (div * final_div_extra).
    pub final_div_extra: f64,
}

impl OneCycle {
    pub fn new(max_lr: f64) -> Self {
        OneCycle {
            max_lr,
            div: 25.0,
            pct_start: 0.3,
            moms: (0.95, 0.85),
            final_div_extra: 1e4,
        }
    }

    /// (learning rate, momentum) at iteration `t` (0-based) of `n`.
    pub fn at(&self, t: usize, n: usize) -> (f64, f64) {
        let a1 = (n as f64 * self.pct_start) as usize;
        let a2 = n - a1;
        let anneal = |s: f64, e: f64, q: f64| e + (s - e) / 2.0 * (1.0 + (PI * q).cos());
        let (m0, m1) = self.moms;
        if t <= a1 && a1 > 0 {
            let q = t as f64 / a1 as f64;
            (
                anneal(self.max_lr / self.div, self.max_lr, q),
                anneal(m0, m1, q),
            )
        } else {
            let q = (t - a1.min(t)) as f64 / a2.max(1) as f64;
            let end = self.max_lr / (self.div * self.final_div_extra);
            (anneal(self.max_lr, end, q), anneal(m1, m0, q))
        }
    }
}
