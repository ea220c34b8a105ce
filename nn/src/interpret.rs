//! fastai v1's `ClassificationInterpretation`, lesson 6's "look at the mistakes": the model's
//! predictions on the validation set with each item's loss, the confusion matrix, the most
//! confused pairs of classes and the items the model got most wrong (what `plot_top_losses`
//! shows).
use crate::learner::{Inputs, Learner};
use crate::module::Module;
use crate::{Error, Result};
use autograd::Var;
use tensor::Tensor;

/// Predictions on a validation set, ready to be looked at.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationInterpretation {
    /// Class names, by class index.
    pub classes: Vec<String>,
    /// Softmax probabilities, one row of `classes.len()` per item.
    pub probs: Vec<Vec<f32>>,
    /// Each item's actual class.
    pub targets: Vec<usize>,
    /// Each item's predicted class: the first largest output (as torch's argmax).
    pub pred_class: Vec<usize>,
    /// Each item's cross-entropy, `-log_softmax(logits)[target]`.
    pub losses: Vec<f32>,
}

/// One item of [`ClassificationInterpretation::top_losses`]: what fastai's `plot_top_losses`
/// writes over each image ("prediction/actual/loss/probability").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopLoss {
    /// The item's index in the validation set.
    pub index: usize,
    pub predicted: usize,
    pub actual: usize,
    pub loss: f32,
    /// The probability the model gave the actual class.
    pub prob_actual: f32,
}

impl ClassificationInterpretation {
    /// The interpretation of `learn`'s model on its validation set (fastai's
    /// `ClassificationInterpretation.from_learner`): the model's outputs in evaluation mode
    /// are taken as logits. Data without class names is an error.
    pub fn from_learner<M, I>(learn: &Learner<M, I>) -> Result<Self>
    where
        M: Module<I, Output = Var> + 'static,
        I: Inputs,
    {
        let classes = learn.data().classes().ok_or_else(|| {
            Error::Invalid("the learner's data has no class names to interpret with".into())
        })?;
        let classes = classes.to_vec();
        let (logits, targets) = learn.get_preds(learn.data().valid())?;
        Self::from_logits(&logits, &targets, classes)
    }

    /// The interpretation of `logits` `[N, C]` (f32) against the i64 class `targets` `[N]`,
    /// for the C `classes`. Shapes that disagree, a target outside the classes or no item
    /// at all is an error.
    pub fn from_logits(logits: &Tensor, targets: &Tensor, classes: Vec<String>) -> Result<Self> {
        let c = classes.len();
        let shape = logits.shape();
        let n = targets.elem_count();
        if shape != [n, c] || n == 0 {
            return Err(Error::Invalid(format!(
                "an interpretation needs logits [N, {c}] for {c} classes and N > 0 targets; \
                 got logits {shape:?} and {n} targets"
            )));
        }
        let values = logits.to_vec::<f32>()?;
        let mut targets_out = Vec::with_capacity(n);
        for t in targets.to_vec::<i64>()? {
            match usize::try_from(t).ok().filter(|&t| t < c) {
                Some(t) => targets_out.push(t),
                None => {
                    return Err(Error::Invalid(format!(
                        "target {t} is not one of the {c} classes"
                    )))
                }
            }
        }
        let (mut probs, mut pred_class, mut losses) = (vec![], vec![], vec![]);
        for (row, &t) in values.chunks_exact(c).zip(&targets_out) {
            // log-sum-exp from the row's maximum, in f64.
            let max = row.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x as f64));
            let lse = max
                + row
                    .iter()
                    .map(|&x| (x as f64 - max).exp())
                    .sum::<f64>()
                    .ln();
            probs.push(row.iter().map(|&x| (x as f64 - lse).exp() as f32).collect());
            losses.push((lse - row[t] as f64) as f32);
            let first_max = (0..c).fold(0, |best, j| if row[j] > row[best] { j } else { best });
            pred_class.push(first_max);
        }
        Ok(ClassificationInterpretation {
            classes,
            probs,
            targets: targets_out,
            pred_class,
            losses,
        })
    }

    /// Counts of (actual, predicted) pairs: row `i` is actual class `i`, column `j` the
    /// predicted class `j`.
    pub fn confusion_matrix(&self) -> Vec<Vec<usize>> {
        let c = self.classes.len();
        let mut cm = vec![vec![0; c]; c];
        for (&a, &p) in self.targets.iter().zip(&self.pred_class) {
            cm[a][p] += 1;
        }
        cm
    }

    /// The pairs (actual, predicted, count) off the diagonal with `count >= min_val`, the
    /// largest counts first and equal counts in row-major order (fastai's stable
    /// `sorted(..., key=itemgetter(2), reverse=True)` over `np.where`). Unlike fastai, the
    /// diagonal is never listed (fastai lists its entries, zeroed, when `min_val` is 0).
    pub fn most_confused(&self, min_val: usize) -> Vec<(String, String, usize)> {
        let mut res: Vec<(String, String, usize)> = Vec::new();
        for (i, row) in self.confusion_matrix().iter().enumerate() {
            for (j, &count) in row.iter().enumerate() {
                if i != j && count >= min_val {
                    res.push((self.classes[i].clone(), self.classes[j].clone(), count));
                }
            }
        }
        // `sort_by_key` is stable: equal counts keep their row-major order.
        res.sort_by_key(|r| std::cmp::Reverse(r.2));
        res
    }

    /// The `k` items with the largest losses, largest first; equal losses by index.
    pub fn top_losses(&self, k: usize) -> Vec<TopLoss> {
        let mut order: Vec<usize> = (0..self.losses.len()).collect();
        order.sort_by(|&a, &b| self.losses[b].total_cmp(&self.losses[a]));
        order
            .into_iter()
            .take(k)
            .map(|i| TopLoss {
                index: i,
                predicted: self.pred_class[i],
                actual: self.targets[i],
                loss: self.losses[i],
                prob_actual: self.probs[i][self.targets[i]],
            })
            .collect()
    }

    /// The fraction of items predicted wrong: `1 - trace / N` of the confusion matrix.
    pub fn error_rate(&self) -> f64 {
        let trace: usize = (self.confusion_matrix().iter().enumerate())
            .map(|(i, row)| row[i])
            .sum();
        1.0 - trace as f64 / self.targets.len() as f64
    }

    /// fastai's `interp.plot_confusion_matrix()`: the matrix as a heat map with its counts,
    /// rows actual and columns predicted, as a PNG at `path`.
    pub fn plot_confusion_matrix(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        crate::plot::confusion_png(path, &self.classes, &self.confusion_matrix())
    }

    /// `{"classes": [...], "confusion": [[...]], "most_confused": [[actual, predicted,
    /// count], ...]}`, the last with `min_val` 1.
    pub fn to_json(&self) -> serde_json::Value {
        let confused: Vec<serde_json::Value> = (self.most_confused(1).into_iter())
            .map(|(a, p, n)| serde_json::json!([a, p, n]))
            .collect();
        serde_json::json!({
            "classes": self.classes,
            "confusion": self.confusion_matrix(),
            "most_confused": confused,
        })
    }
}
