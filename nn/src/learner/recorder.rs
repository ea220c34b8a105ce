//! What a training run leaves behind: the smoothed training loss fastai prints (an
//! exponential moving average with β = 0.98, debiased as in Adam: `avg / (1 - β^n)`), every
//! batch's loss, learning rate and momentum, and each epoch's validation results.

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
