//! Losses as fastai v1 defines them for lesson 6.
use autograd::{Result, Var};
use tensor::Tensor;

/// `MSELossFlat`: the mean of the squared differences, both sides flattened (the Rossmann
/// model's loss on the log of sales).
pub fn mse_flat(pred: &Var, target: &Var) -> Result<Var> {
    let n = pred.tensor().elem_count();
    let p = pred.reshape(&[n])?;
    let t = target.reshape(&[target.tensor().elem_count()])?;
    p.sub(&t)?.sqr()?.mean_all()
}

/// Cross-entropy of `logits` `[N, classes]` against the i64 class `target` `[N]`:
/// `-mean(log_softmax(logits)[i, target[i]])`. Log-softmax first, so a confident right answer
/// costs log(1) = 0 exactly instead of log of a rounded 1.
pub fn cross_entropy(logits: &Var, target: &Tensor) -> Result<Var> {
    let n = target.elem_count();
    let picked = logits
        .log_softmax(1)?
        .gather(1, &target.reshape(&[n, 1])?)?;
    picked.mean_all()?.neg()
}
