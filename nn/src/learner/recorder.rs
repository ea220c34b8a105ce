//! What a training run leaves behind: the smoothed training loss fastai prints (an
//! exponential moving average with β = 0.98, debiased as in Adam: `avg / (1 - β^n)`), every
//! batch's loss, learning rate and momentum, and each epoch's validation results.
use crate::plot::{line_chart, Series};

/// fastai's `SmoothenValue`.
#[derive(Debug, Clone, Copy)]
pub struct Smoothed {
    beta: f64,
    avg: f64,
    n: i32,
}

impl Smoothed {
    pub fn new(beta: f64) -> Self {
        Smoothed {
            beta,
            avg: 0.0,
            n: 0,
        }
    }
    /// Adds a value and returns the debiased average.
    pub fn add(&mut self, v: f64) -> f64 {
        self.n += 1;
        self.avg = self.beta * self.avg + (1.0 - self.beta) * v;
        self.value()
    }
    pub fn value(&self) -> f64 {
        self.avg / (1.0 - self.beta.powi(self.n))
    }
}

/// One epoch's row of the results table.
#[derive(Debug, Clone)]
pub struct EpochResult {
    pub epoch: usize,
    pub train_loss: f64,
    pub valid_loss: f64,
    pub metrics: Vec<f64>,
    pub seconds: f64,
}

/// Everything recorded while training.
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    /// Raw training loss of every batch.
    pub losses: Vec<f64>,
    /// Smoothed training loss after every batch.
    pub smooth_losses: Vec<f64>,
    /// Learning rate (of the last group) and momentum of every batch.
    pub lrs: Vec<f64>,
    pub moms: Vec<f64>,
    pub epochs: Vec<EpochResult>,
}

impl Recorder {
    /// The training loss (smoothed, per batch) and the validation loss (per epoch, at the
    /// epoch's last batch) as a PNG line chart (fastai's `recorder.plot_losses()`).
    pub fn plot_losses(&self, path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
        let train = Series {
            label: "train (smoothed)".into(),
            points: self
                .smooth_losses
                .iter()
                .enumerate()
                .map(|(i, &l)| (i as f64, l))
                .collect(),
        };
        let per_epoch = self.losses.len() / self.epochs.len().max(1);
        let valid = Series {
            label: "valid".into(),
            points: self
                .epochs
                .iter()
                .enumerate()
                .map(|(e, r)| (((e + 1) * per_epoch) as f64 - 1.0, r.valid_loss))
                .collect(),
        };
        line_chart(path, "losses", "batch", "loss", &[train, valid], false)
    }
}

/// The lr_find curve (smoothed loss against learning rate, log scale) as a PNG
/// (fastai's `recorder.plot()` after `lr_find`).
pub fn plot_lr_find(
    sweep: &[(f64, f64)],
    path: impl AsRef<std::path::Path>,
) -> std::io::Result<()> {
    let s = Series {
        label: "smoothed loss".into(),
        points: sweep.to_vec(),
    };
    line_chart(path, "lr_find", "learning rate", "loss", &[s], true)
}

/// fastai's suggestion from the lr_find curve (`recorder.plot(suggestion=True)`, "Min
/// numerical gradient"): the rate where the smoothed loss falls fastest, by numpy's
/// `gradient` over the points (central differences, one-sided at the ends), leaving out the
/// first 10 and last 5 as `plot` does. `None` when fewer than two points remain.
pub fn lr_suggestion(sweep: &[(f64, f64)]) -> Option<f64> {
    let points = sweep.get(10..sweep.len().checked_sub(5)?)?;
    let loss = |i: usize| points[i].1;
    let last = points.len().checked_sub(1).filter(|&l| l > 0)?;
    let gradient = |i: usize| match i {
        0 => loss(1) - loss(0),
        i if i == last => loss(i) - loss(i - 1),
        i => (loss(i + 1) - loss(i - 1)) / 2.0,
    };
    // The first of equal minima, as numpy's argmin.
    (0..=last)
        .min_by(|&a, &b| gradient(a).total_cmp(&gradient(b)))
        .map(|i| points[i].0)
}
