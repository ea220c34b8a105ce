//! What a training run leaves behind: the smoothed training loss fastai prints (an
//! exponential moving average with β = 0.98, debiased as in Adam: `avg / (1 - β^n)`), every
//! batch's loss, learning rate and momentum, and each epoch's validation results.
use crate::plot::{line_chart, skip_start, spans_decade, Chart, Mark, Series};

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

/// The colours of the curves (matplotlib's blue and orange) and of a suggestion (red).
const BLUE: [u8; 3] = [31, 119, 180];
const ORANGE: [u8; 3] = [255, 127, 14];
const RED: [u8; 3] = [214, 39, 40];

impl Recorder {
    /// What fastai's `recorder.plot_losses()` draws: the smoothed training loss of every
    /// batch as a line and the validation loss of each epoch as a point at the epoch's last
    /// batch, against batches processed (from 1). The first [`skip_start`] batches, and the
    /// points among them, are left out (their loss, from the random start, would flatten the
    /// rest); the loss axis is logarithmic when what is left spans more than a decade
    /// ([`spans_decade`]).
    pub fn losses_chart(&self) -> Chart {
        let skip = skip_start(self.smooth_losses.len());
        let train: Vec<(f64, f64)> = (self.smooth_losses.iter().enumerate())
            .skip(skip)
            .map(|(i, &l)| ((i + 1) as f64, l))
            .collect();
        let per_epoch = self.losses.len() / self.epochs.len().max(1);
        let valid: Vec<(f64, f64)> = (self.epochs.iter().enumerate())
            .map(|(e, r)| (((e + 1) * per_epoch) as f64, r.valid_loss))
            .filter(|&(batches, _)| batches > skip as f64)
            .collect();
        let drawn: Vec<f64> = train.iter().chain(&valid).map(|p| p.1).collect();
        Chart {
            title: "Losses".into(),
            x_label: "batches processed".into(),
            y_label: "loss".into(),
            series: vec![
                Series {
                    label: "train (smoothed)".into(),
                    points: train,
                    mark: Mark::Line,
                    colour: BLUE,
                },
                Series {
                    label: "valid".into(),
                    points: valid,
                    mark: Mark::Points,
                    colour: ORANGE,
                },
            ],
            log_x: false,
            log_y: spans_decade(&drawn),
        }
    }

    /// [`Recorder::losses_chart`] written to `path` as a PNG of
    /// [`CHART_SIZE`](crate::plot::CHART_SIZE).
    pub fn plot_losses(&self, path: impl AsRef<std::path::Path>) -> crate::Result<()> {
        line_chart(path, &self.losses_chart())
    }
}

/// What fastai's `recorder.plot(suggestion=True)` draws after `lr_find`: the smoothed loss
/// against the learning rate on a log axis, without the first 10 and last 5 points (all of
/// them when fewer than 17 would leave less than two), and the rate of [`lr_suggestion`] as a
/// red point at its loss, its value in the title and the legend.
pub fn lr_find_chart(sweep: &[(f64, f64)]) -> Chart {
    let drawn = match sweep.len() {
        n if n >= 17 => &sweep[10..n - 5],
        _ => sweep,
    };
    let mut title = "lr_find".to_string();
    let mut series = vec![Series {
        label: "smoothed loss".into(),
        points: drawn.to_vec(),
        mark: Mark::Line,
        colour: BLUE,
    }];
    if let Some(lr) = lr_suggestion(sweep) {
        let at = sweep.iter().find(|p| p.0 == lr).map_or(f64::NAN, |p| p.1);
        title = format!("lr_find: suggestion {lr:.1e}");
        series.push(Series {
            label: format!("suggestion {lr:.1e}"),
            points: vec![(lr, at)],
            mark: Mark::Points,
            colour: RED,
        });
    }
    Chart {
        title,
        x_label: "learning rate".into(),
        y_label: "loss".into(),
        series,
        log_x: true,
        log_y: false,
    }
}

/// [`lr_find_chart`] written to `path` as a PNG of [`CHART_SIZE`](crate::plot::CHART_SIZE).
pub fn plot_lr_find(sweep: &[(f64, f64)], path: impl AsRef<std::path::Path>) -> crate::Result<()> {
    line_chart(path, &lr_find_chart(sweep))
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
