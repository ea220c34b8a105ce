//! Why batch norm helps, measured the way Santurkar, Tsipras, Ilyas and Madry measure it
//! ("How Does Batch Normalization Help Optimization?", NeurIPS 2018). The lesson's practical
//! claim is that batch norm lets a network train at higher learning rates; the paper's
//! explanation is not the original paper's "internal covariate shift" but a smoother loss
//! landscape: along the gradient the loss changes less and more predictably, so a larger step
//! in that direction is still a good step.
//!
//! The same small CNN (three 3x3 stride-2 convolutions of 16, 32 and 64 channels, each
//! followed by a ReLU; average pooling; a linear layer to the six classes) is trained with and
//! without a `BatchNorm2d` after each convolution, by plain SGD (no momentum, no weight decay)
//! at three learning rates, on the embedded shapes (`datasets::shapes`) at 32 x 32, with the
//! same batches in the same order (PyTorch's initialisation from the same seed; the plain
//! network's convolution biases take random streams of their own, so its weights differ).
//! At every step it records:
//!
//! - the loss of the batch (`losses.png`);
//! - the paper's "variation of the loss" along the gradient (`smoothness.png`): the loss of the
//!   same batch at `w - k * lr * g` for `k` in 0.25, 0.5, 1, 2 and 4 (and at `w`), before the
//!   step is taken; plotted is its range, the largest minus the smallest. A small range means
//!   the gradient's direction stays a good one over several step lengths.
//!
//! A run whose loss stops being finite has diverged: its curves end there and the summary
//! says at which step. The summary table gives, per model and learning rate, the mean loss
//! of the last tenth of the steps and the median variation.
//!
//! `cargo run --release --example why_batchnorm [-- --steps 300 --lrs 0.05,0.2,0.8]`
mod report;

use clap::builder::RangedU64ValueParser;
use clap::Parser;
use lesson6::autograd::{Gradients, Tape};
use lesson6::datasets::shapes::{draw_shape, SHAPES};
use lesson6::nn::layers::Sequential;
use lesson6::nn::learner::permutation;
use lesson6::nn::loss::cross_entropy;
use lesson6::nn::models::small_cnn;
use lesson6::nn::optim::Sgd;
use lesson6::nn::plot::{line_chart, Chart, Mark, Series};
use lesson6::nn::run_dir::RunDir;
use lesson6::nn::vision::{batch_stats, normalize_batch, Augment, Padding};
use lesson6::nn::{Mode, Module, Param, Vars};
use lesson6::tensor::Tensor;
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

#[derive(Parser)]
#[command(about = "The same CNN with and without batch norm: losses and loss smoothness")]
struct Args {
    /// SGD steps of each of the six runs, from 1 to 100,000.
    #[arg(long, default_value_t = 300, value_parser = RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    steps: usize,
    /// The three learning rates, comma separated, each a finite number above 0.
    #[arg(long, default_value = "0.05,0.2,0.8", value_parser = three_rates)]
    lrs: Rates,
    /// Images drawn per class, from 2 to 10,000.
    #[arg(long, default_value_t = 100, value_parser = RangedU64ValueParser::<usize>::new().range(2..=10_000))]
    per_class: usize,
    /// Images per batch, from 2 to 4,096 (batch norm needs more than one).
    #[arg(long, default_value_t = 64, value_parser = RangedU64ValueParser::<usize>::new().range(2..=4096))]
    bs: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where losses.png and smoothness.png go.
    #[arg(long, default_value = "out/why_batchnorm")]
    out: PathBuf,
}

/// The three learning rates of `--lrs`.
#[derive(Clone, Copy, Debug)]
struct Rates([f32; 3]);

fn three_rates(s: &str) -> Result<Rates, String> {
    let rates: Vec<f32> = s
        .split(',')
        .map(|r| {
            r.trim()
                .parse::<f32>()
                .ok()
                .filter(|r| r.is_finite() && *r > 0.0)
        })
        .collect::<Option<_>>()
        .ok_or("expected finite learning rates above 0, as 0.05,0.2,0.8")?;
    let rates: [f32; 3] = rates
        .try_into()
        .map_err(|r: Vec<f32>| format!("expected three learning rates, got {}", r.len()))?;
    Ok(Rates(rates))
}

/// Side of the images the network sees.
const SIZE: usize = 32;
/// The step lengths, in multiples of the learning rate, at which the loss is measured along
/// the gradient.
const ALONG: [f32; 5] = [0.25, 0.5, 1.0, 2.0, 4.0];

/// The embedded shapes at `SIZE` x `SIZE` (centre crops), each channel normalised by the set's
/// own mean and standard deviation: images `[n, 3, SIZE, SIZE]` (flat) and i64 labels `[n]`.
fn shapes(per_class: usize, seed: u64) -> Result<(Vec<f32>, Vec<i64>), Box<dyn Error>> {
    let mut crops = Vec::new();
    let mut labels = Vec::new();
    for k in 0..SHAPES.len() {
        for i in 0..per_class {
            let img = draw_shape(k, i, seed);
            crops.push(
                Augment::centre()
                    .apply(&img, SIZE, Padding::Reflection)?
                    .unsqueeze(0)?,
            );
            labels.push(k as i64);
        }
    }
    let refs: Vec<&Tensor> = crops.iter().collect();
    let x = Tensor::cat(&refs, 0)?;
    Ok((normalize_batch(&x, batch_stats(&x)?)?.to_vec()?, labels))
}

/// What one run recorded: the loss and the variation along the gradient at each step, up to
/// the step where it diverged, if it did.
struct Curves {
    loss: Vec<f64>,
    variation: Vec<f64>,
    diverged_at: Option<usize>,
}

/// The loss of the batch `(x, y)` under the model's current weights (train mode: batch
/// statistics, as the step itself sees them), recording nothing. (Batch norm's running
/// statistics take these batches too; nothing here evaluates with them.)
fn loss_of(model: &Sequential, x: &Tensor, y: &Tensor) -> Result<f64, Box<dyn Error>> {
    let tape = Tape::new();
    let loss =
        tape.no_grad(|| cross_entropy(&model.forward(tape.input(x.clone()), Mode::Train)?, y))?;
    Ok(loss.tensor().to_vec::<f32>()?[0] as f64)
}

/// The loss at `w - k * lr * g` for each `k` of [`ALONG`], the weights restored afterwards.
fn along_gradient(
    model: &Sequential,
    params: &[Rc<Param>],
    grads: &Gradients,
    lr: f32,
    (x, y): (&Tensor, &Tensor),
) -> Result<Vec<f64>, Box<dyn Error>> {
    let start: Vec<Tensor> = params.iter().map(|p| p.value()).collect();
    let mut losses = Vec::with_capacity(ALONG.len());
    for k in ALONG {
        for (p, w) in params.iter().zip(&start) {
            if let Some(g) = grads.get(p.id()) {
                p.set(w.sub(&g.affine(k * lr, 0.0)?)?);
            }
        }
        losses.push(loss_of(model, x, y)?);
    }
    for (p, w) in params.iter().zip(start) {
        p.set(w);
    }
    Ok(losses)
}

/// Trains the model (batch norm or not) at `lr` for `args.steps` steps on the shuffled
/// `data`, measuring the loss along the gradient before each step.
fn train(
    args: &Args,
    bn: bool,
    lr: f32,
    data: &(Vec<f32>, Vec<i64>),
) -> Result<Curves, Box<dyn Error>> {
    let vars = Vars::new(args.seed);
    let model = small_cnn(vars.root(), SHAPES.len(), bn)?;
    let params: Vec<Rc<Param>> = vars.params().into_iter().map(|(_, p)| p).collect();
    let mut sgd = Sgd::new(0.0, 0.0);
    let (pixels, labels) = data;
    let n = labels.len();
    let bs = args.bs.min(n);
    let image = 3 * SIZE * SIZE;
    // The same order of batches for every run: epoch e shuffles with stream e.
    let order = |e: usize| -> Vec<usize> {
        let order = permutation(n, args.seed, 1000 + e as u64);
        order.into_iter().map(|i| i as usize).collect()
    };
    let per_epoch = n / bs;
    let mut curves = Curves {
        loss: Vec::new(),
        variation: Vec::new(),
        diverged_at: None,
    };
    let mut idx = Vec::new();
    for step in 0..args.steps {
        if step % per_epoch == 0 {
            idx = order(step / per_epoch);
        }
        let batch = &idx[step % per_epoch * bs..][..bs];
        let x: Vec<f32> = batch
            .iter()
            .flat_map(|&i| &pixels[i * image..][..image])
            .copied()
            .collect();
        let y: Vec<i64> = batch.iter().map(|&i| labels[i]).collect();
        let (x, y) = (
            Tensor::from_vec(x, &[bs, 3, SIZE, SIZE])?,
            Tensor::from_indices(&y, &[bs])?,
        );
        let tape = Tape::new();
        let logits = model.forward(tape.input(x.clone()), Mode::Train)?;
        let loss = cross_entropy(&logits, &y)?;
        let value = loss.tensor().to_vec::<f32>()?[0] as f64;
        if !value.is_finite() {
            curves.diverged_at = Some(step);
            break;
        }
        let grads = loss.backward()?;
        let mut along = along_gradient(&model, &params, &grads, lr, (&x, &y))?;
        along.push(value);
        let (lo, hi) = along
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        curves.loss.push(value);
        // A step length at which the loss is no longer finite: the variation is unbounded.
        curves.variation.push(if hi.is_finite() {
            hi - lo
        } else {
            f64::INFINITY
        });
        let params: Vec<&Param> = params.iter().map(|p| p.as_ref()).collect();
        sgd.step(&params, &grads, lr)?;
    }
    Ok(curves)
}

/// The median of the finite values, if any.
fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    (!v.is_empty()).then(|| v[v.len() / 2])
}

fn main() -> ExitCode {
    report::exit(run(&Args::parse()))
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let dir = RunDir::open(&args.out, "why_batchnorm")?;
    let data = shapes(args.per_class, args.seed)?;
    println!(
        "{} images of {} shapes at {SIZE} x {SIZE}, batches of {}, {} SGD steps per run",
        data.1.len(),
        SHAPES.len(),
        args.bs.min(data.1.len()),
        args.steps
    );
    println!(
        "{:<14} {:>8} {:>16} {:>18}  diverged",
        "model", "lr", "last-tenth loss", "median variation"
    );
    let (mut losses, mut variations) = (Vec::new(), Vec::new());
    for (bn, name, colours) in [
        (
            false,
            "plain",
            [[250, 160, 120], [230, 85, 40], [150, 30, 10]],
        ),
        (
            true,
            "batch norm",
            [[140, 180, 240], [50, 110, 210], [10, 40, 120]],
        ),
    ] {
        for (lr, colour) in args.lrs.0.into_iter().zip(colours) {
            let c = train(args, bn, lr, &data)?;
            let tail = &c.loss[c.loss.len() - c.loss.len().div_ceil(10).min(c.loss.len())..];
            let last = (!tail.is_empty()).then(|| tail.iter().sum::<f64>() / tail.len() as f64);
            let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
            println!(
                "{name:<14} {lr:>8} {:>16} {:>18}  {}",
                show(last),
                show(median(&c.variation)),
                c.diverged_at
                    .map_or("no".to_string(), |s| format!("at step {s}"))
            );
            let label = format!("{name}, lr {lr}");
            let points = |v: &[f64]| -> Vec<(f64, f64)> {
                v.iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite() && **v > 0.0)
                    .map(|(i, &v)| (i as f64, v))
                    .collect()
            };
            losses.push(Series {
                label: label.clone(),
                points: points(&c.loss),
                mark: Mark::Line,
                colour,
            });
            variations.push(Series {
                label,
                points: points(&c.variation),
                mark: Mark::Line,
                colour,
            });
        }
    }
    let chart = |title: &str, y_label: &str, series| Chart {
        title: title.to_string(),
        x_label: "step".to_string(),
        y_label: y_label.to_string(),
        series,
        log_x: false,
        log_y: true,
    };
    line_chart(
        dir.join("losses.png"),
        &chart(
            "Training loss, with and without batch norm",
            "cross-entropy of the batch",
            losses,
        ),
    )?;
    line_chart(
        dir.join("smoothness.png"),
        &chart(
            "Variation of the loss along the gradient (Santurkar et al. 2018)",
            "max - min loss at w - k lr g, k in 0.25..4",
            variations,
        ),
    )?;
    dir.commit()?;
    println!(
        "wrote losses.png and smoothness.png to {}",
        args.out.display()
    );
    Ok(())
}
