//! Batch normalisation step by step (Ioffe & Szegedy, 2015; the lesson's "it's just a mean and
//! a standard deviation, and two learnable parameters"): a mini-batch of activations goes
//! through `BatchNorm1d`, and every step is shown and checked by hand:
//!
//! 1. the batch's mean and (biased) variance per channel;
//! 2. normalise: `(x - mean) / sqrt(var + eps)`, so each channel has mean 0 and variance 1;
//! 3. scale and shift by the learnable `gamma` (`weight`) and `beta` (`bias`), so the network
//!    can move the activations where it wants them;
//! 4. the running statistics, an exponentially weighted average with `momentum` 0.1:
//!    `running = (1 - momentum) * running + momentum * batch` (the unbiased variance);
//! 5. inference (`Mode::Eval`) normalises with the running statistics, not the batch's.
//!
//! `distributions.png` in `--out` shows each channel's histogram at three stages: the batch
//! as it comes (three means, three spreads), normalised (all three on top of each other around
//! 0), and scaled and shifted by `gamma` and `beta` (the layer's output).
//!
//! `cargo run --release --example batchnorm [-- --out out/batchnorm]`
mod report;

use clap::Parser;
use lesson6::autograd::Tape;
use lesson6::nn::layers::BatchNorm;
use lesson6::nn::plot::{histograms, Histogram};
use lesson6::nn::run_dir::RunDir;
use lesson6::nn::{Mode, Module, Vars};
use lesson6::tensor::random::Philox;
use lesson6::tensor::Tensor;
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Batch normalisation step by step, checked against the layer")]
struct Args {
    /// Where distributions.png goes.
    #[arg(long, default_value = "out/batchnorm")]
    out: PathBuf,
}

fn show(name: &str, t: &Tensor) -> Result<(), Box<dyn Error>> {
    let v: Vec<String> = t
        .to_vec::<f32>()?
        .iter()
        .map(|x| format!("{x:8.4}"))
        .collect();
    println!("{name:<34} {:?}: [{}]", t.shape(), v.join(" "));
    Ok(())
}

/// A histogram panel of `t` (`[batch, channels]`): one series per channel.
fn channels(title: &str, t: &Tensor) -> Result<Histogram, Box<dyn Error>> {
    let c = t.shape()[1];
    let v = t.contiguous()?.to_vec::<f32>()?;
    let series = (0..c)
        .map(|k| {
            (
                format!("channel {k}"),
                v.iter().skip(k).step_by(c).copied().collect(),
            )
        })
        .collect();
    Ok(Histogram {
        title: title.to_string(),
        series,
    })
}

fn main() -> ExitCode {
    report::exit(run(&Args::parse()))
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    // 128 samples of 3 activations, each channel with its own mean and spread.
    let (n, c) = (128, 3);
    let z = Philox::new(1, 0).normal(&[n, c], 0.0, 1.0)?;
    let x = z
        .mul(&Tensor::from_slice(&[1.0f32, 5.0, 0.2], &[1, c])?)?
        .add(&Tensor::from_slice(&[3.0f32, -10.0, 0.5], &[1, c])?)?;
    println!("a mini-batch x: {:?} (batch, channels)", x.shape());

    let bn = BatchNorm::new_1d(Vars::new(0).root(), c)?;
    bn.weight
        .set(Tensor::from_slice(&[1.0f32, 2.0, 0.5], &[c])?);
    bn.bias.set(Tensor::from_slice(&[0.0f32, 1.0, -1.0], &[c])?);
    let (gamma, beta) = (
        bn.weight.value().reshape(&[1, c])?,
        bn.bias.value().reshape(&[1, c])?,
    );

    // 1-3 by hand.
    let mean = x.mean(&[0], true)?;
    let var = x.var(&[0], true, false)?;
    show("1. batch mean", &mean)?;
    show("1. batch variance (biased)", &var)?;
    let xhat = x.sub(&mean)?.div(&var.add_scalar(bn.eps)?.sqrt()?)?;
    show("2. normalised: mean", &xhat.mean(&[0], true)?)?;
    show("2. normalised: variance", &xhat.var(&[0], true, false)?)?;
    let by_hand = xhat.mul(&gamma)?.add(&beta)?;
    show("3. gamma * xhat + beta: mean", &by_hand.mean(&[0], true)?)?;

    let tape = Tape::new();
    let y = bn.forward(tape.input(x.clone()), Mode::Train)?;
    let err = y
        .tensor()
        .sub(&by_hand)?
        .abs()?
        .to_vec::<f32>()?
        .into_iter()
        .fold(0f32, f32::max);
    println!(
        "BatchNorm1d in Mode::Train equals the three steps by hand: largest difference {err:.2e}"
    );

    // 4. Running statistics after this one batch, from their initial 0 and 1.
    let m = bn.momentum;
    let unbiased = x.var(&[0], false, true)?;
    show("4. running_mean (layer)", &bn.running_mean.value())?;
    show(
        "4. 0.9 * 0 + 0.1 * batch mean",
        &mean.reshape(&[c])?.mul_scalar(m)?,
    )?;
    show("4. running_var (layer)", &bn.running_var.value())?;
    show(
        "4. 0.9 * 1 + 0.1 * unbiased var",
        &unbiased.mul_scalar(m)?.add_scalar(1.0 - m)?,
    )?;
    for _ in 0..49 {
        bn.forward(tape.input(x.clone()), Mode::Train)?;
    }
    show("   running_mean after 50 batches", &bn.running_mean.value())?;

    // 5. Inference uses the running statistics: a single sample is normalised the same way
    // whatever batch it comes in, and its output no longer depends on the others.
    let one = x.narrow(0, 0, 1)?;
    let eval = bn.forward(tape.input(one.clone()), Mode::Eval)?;
    let train = bn.forward(tape.input(x.clone()), Mode::Train)?;
    show("5. sample 0, Mode::Eval", eval.tensor())?;
    show(
        "5. sample 0 within its batch, Train",
        &train.tensor().narrow(0, 0, 1)?.contiguous()?,
    )?;

    let out = RunDir::open(&args.out, "batchnorm")?;
    let panels = [
        channels("x: the batch as it comes", &x)?,
        channels("normalised: (x - mean) / std", &xhat)?,
        channels("gamma * normalised + beta", &by_hand)?,
    ];
    histograms(out.join("distributions.png"), &panels, 24)?;
    out.commit()?;
    println!(
        "wrote distributions.png (each channel before and after normalisation) to {}",
        args.out.display()
    );
    Ok(())
}
