//! Metrics as fastai computes them: each is evaluated per batch, and an epoch's value is the
//! batch-size-weighted average of the batch values ([`Average`], fastai's `AverageMetric`) — so
//! `exp_rmspe` over an epoch is not a single global RMSPE (docs/lesson6.md, Loss and metric).
use tensor::{Result, Tensor};

/// `exp_rmspe(pred, targ) = sqrt(mean(((e^t - e^p) / e^t)^2))`, for predictions and targets
/// on the log scale (the Kaggle Rossmann metric).
pub fn exp_rmspe(pred: &Tensor, target: &Tensor) -> Result<f32> {
    let n = pred.elem_count();
    let p = pred.reshape(&[n])?.exp()?;
    let t = target.reshape(&[target.elem_count()])?.exp()?;
    t.sub(&p)?.div(&t)?.sqr()?.mean_all()?.sqrt()?.to_scalar()
}

/// Fraction of rows of `logits` `[N, classes]` whose largest entry is the i64 `target`.
pub fn accuracy(logits: &Tensor, target: &Tensor) -> Result<f32> {
    let pred = logits.argmax(1, false)?.to_vec::<i64>()?;
    let target = target.to_vec::<i64>()?;
    if pred.len() != target.len() {
        return Err(tensor::Error::Shape {
            op: "accuracy",
            shapes: vec![vec![pred.len()], vec![target.len()]],
            expected: "one prediction for each target",
        });
    }
    let hits = pred.iter().zip(&target).filter(|(p, t)| p == t).count();
    Ok(hits as f32 / pred.len().max(1) as f32)
}

/// `1 - accuracy`.
pub fn error_rate(logits: &Tensor, target: &Tensor) -> Result<f32> {
    Ok(1.0 - accuracy(logits, target)?)
}

/// A running batch-size-weighted average.
#[derive(Debug, Default, Clone, Copy)]
pub struct Average {
    total: f64,
    count: usize,
}

impl Average {
    /// Adds a batch's value, weighted by its size.
    pub fn add(&mut self, value: f32, batch_size: usize) {
        self.total += value as f64 * batch_size as f64;
        self.count += batch_size;
    }
    /// The average so far (NaN before any batch).
    pub fn value(&self) -> f32 {
        (self.total / self.count as f64) as f32
    }
}
