//! Layer groups and discriminative learning rates (fastai's `split`, `freeze_to` and
//! `slice(lo, hi)`): a model's parameters are cut into groups (for ResNet: the early body,
//! the late body, the head), each trained at its own learning rate, and groups can be frozen.
//! Batch-norm layers stay trainable when their group is frozen (fastai's `train_bn=True`):
//! their statistics must adapt to the new data even when the weights around them do not.

/// The learning rate(s) of a fit, as fastai accepts them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lr {
    /// The same rate for every group.
    Single(f64),
    /// `slice(hi)`: `hi / 10` for every group but the last, `hi` for the last.
    Top(f64),
    /// `slice(lo, hi)`: rates spread geometrically from `lo` (first group) to `hi` (last).
    Range(f64, f64),
}

impl Lr {
    /// One learning rate per group, for `groups` groups.
    pub fn per_group(self, groups: usize) -> Vec<f64> {
        let n = groups.max(1);
        match self {
            Lr::Single(lr) => vec![lr; n],
            Lr::Top(hi) => (0..n)
                .map(|i| if i + 1 == n { hi } else { hi / 10.0 })
                .collect(),
            Lr::Range(lo, hi) => even_mults(lo, hi, n),
        }
    }
}

/// `n` values from `start` to `stop` in geometric progression (fastai's `even_mults`).
pub fn even_mults(start: f64, stop: f64, n: usize) -> Vec<f64> {
    if n <= 1 {
        return vec![stop];
    }
    let step = (stop / start).powf(1.0 / (n - 1) as f64);
    (0..n).map(|i| start * step.powi(i as i32)).collect()
}
