//! Dropout as the lesson reads it from PyTorch's source (`torch/nn/functional.py` leads to
//! three lines of C++):
//!
//! ```text
//! noise.bernoulli_(1 - p);   // 1 with probability 1 - p, else 0
//! noise.div_(1 - p);         // the survivors scaled up by 1 / (1 - p)
//! return input * noise;
//! ```
//!
//! This program writes those three lines with tensor ops, checks that they give the
//! built-in `dropout` bit for bit for the same random stream, then shows what dropout does:
//! how many activations it zeroes, that the mean is kept at training time (the reason for
//! the division), and that at inference it is the identity.
//!
//! Two pictures of the first 400 activations (20 x 20 cells) go to `--out`: `mask.png`, the
//! mask (white kept, black dropped), and `activations.png`, the activations before and after
//! dropout on one grey scale, where the survivors come out brighter by 1 / (1 - p).
//!
//! `cargo run --release --example dropout [-- --p 0.5 --seed 1 --out out/dropout]`
mod report;

use clap::Parser;
use image::{Rgb, RgbImage};
use lesson6::autograd::Tape;
use lesson6::nn::layers::Dropout;
use lesson6::nn::plot::image_grid;
use lesson6::nn::run_dir::RunDir;
use lesson6::nn::{Mode, Module};
use lesson6::tensor::random::Philox;
use lesson6::tensor::{Result, Tensor};
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Dropout in three lines, checked against the built-in")]
struct Args {
    /// Drop probability.
    #[arg(long, default_value_t = 0.5)]
    p: f32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where mask.png and activations.png go.
    #[arg(long, default_value = "out/dropout")]
    out: PathBuf,
}

/// The side of the square of activations drawn: the first 20 x 20 = 400.
const SIDE: u32 = 20;

/// The first `SIDE * SIDE` of `values` as a grey picture, 0 black and `white` white.
fn picture(values: &[f32], white: f32) -> RgbImage {
    RgbImage::from_fn(SIDE, SIDE, |x, y| {
        let v = values[(y * SIDE + x) as usize] / white;
        let grey = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        Rgb([grey; 3])
    })
}

/// The lesson's three lines: a Bernoulli(1 - p) mask, divided by 1 - p, times the input.
fn dropout_by_hand(input: &Tensor, p: f32, rng: Philox) -> Result<Tensor> {
    let noise = rng.bernoulli(input.shape(), 1.0 - p)?;
    let noise = noise.mul_scalar(1.0 / (1.0 - p))?;
    input.mul(&noise)
}

fn main() -> ExitCode {
    report::exit(run(&Args::parse()))
}

fn run(args: &Args) -> std::result::Result<(), Box<dyn Error>> {
    let p = args.p;
    if !(0.0..1.0).contains(&p) {
        return Err(format!(
            "--p must be in [0, 1), got {p} (p = 1 drops everything and 1 / (1 - p) is infinite)"
        )
        .into());
    }
    let x = Philox::new(args.seed, 0).uniform(&[4, 1000], 0.0, 2.0)?;
    println!(
        "activations x: {:?}, mean {:.4}",
        x.shape(),
        x.mean_all()?.to_scalar()?
    );

    let rng = Philox::new(args.seed, 1);
    let mask = rng.bernoulli(x.shape(), 1.0 - p)?;
    println!(
        "noise.bernoulli_(1 - p = {}): {:?}, first row starts {:?}",
        1.0 - p,
        mask.shape(),
        &mask.to_vec::<f32>()?[..8]
    );
    let by_hand = dropout_by_hand(&x, p, rng)?;
    let built_in = x.dropout(p, rng)?;
    let same = by_hand
        .to_vec::<f32>()?
        .iter()
        .zip(built_in.to_vec::<f32>()?)
        .all(|(a, b)| a.to_bits() == b.to_bits());
    println!("the three lines and the built-in dropout agree bit for bit: {same}");

    let dropped = mask.to_vec::<f32>()?.iter().filter(|&&m| m == 0.0).count();
    println!(
        "dropped {dropped} of {} activations ({:.1}%, p = {p})",
        mask.elem_count(),
        100.0 * dropped as f64 / mask.elem_count() as f64
    );
    println!(
        "mean after dropout {:.4} (kept by the 1 / (1 - p) = {:.2} scaling); without the division it would be {:.4}",
        built_in.mean_all()?.to_scalar()?,
        1.0 / (1.0 - p),
        x.mul(&mask)?.mean_all()?.to_scalar()?
    );

    // The layer: Mode::Train drops, Mode::Eval is the identity (nothing to undo at inference,
    // because training already scaled up).
    let layer = Dropout::new(p, args.seed);
    let tape = Tape::new();
    let train = layer.forward(tape.input(x.clone()), Mode::Train)?;
    let eval = layer.forward(tape.input(x.clone()), Mode::Eval)?;
    let zeros = train
        .tensor()
        .to_vec::<f32>()?
        .iter()
        .filter(|&&v| v == 0.0)
        .count();
    println!(
        "Dropout(p={p}) in Mode::Train: {zeros} zeros; in Mode::Eval equal to its input: {}",
        eval.tensor().to_vec::<f32>()? == x.to_vec::<f32>()?
    );

    // The pictures: the mask, and x before and after on one scale (the largest survivor
    // white), so that the kept activations show brighter by 1 / (1 - p).
    let out = RunDir::open(&args.out, "dropout")?;
    let (mask, before, after) = (
        mask.to_vec::<f32>()?,
        x.to_vec::<f32>()?,
        built_in.to_vec::<f32>()?,
    );
    let n = (SIDE * SIDE) as usize;
    let kept = mask[..n].iter().filter(|&&m| m != 0.0).count();
    let caption = vec![
        format!("mask of the first {n}: {kept} kept (white)"),
        format!("{} dropped (black), p = {p}", n - kept),
    ];
    image_grid(out.join("mask.png"), &[(picture(&mask, 1.0), caption)], 1)?;
    let white = after[..n]
        .iter()
        .chain(&before[..n])
        .fold(0f32, |a, &b| a.max(b));
    let mean = |v: &[f32]| v[..n].iter().sum::<f32>() / n as f32;
    let pictures = [
        (
            picture(&before, white),
            vec!["x".to_string(), format!("mean {:.3}", mean(&before))],
        ),
        (
            picture(&after, white),
            vec![
                format!("dropout(x, p = {p})"),
                format!("mean {:.3}", mean(&after)),
            ],
        ),
    ];
    image_grid(out.join("activations.png"), &pictures, 2)?;
    out.commit()?;
    println!(
        "wrote mask.png and activations.png ({n} activations as {SIDE} x {SIDE}) to {}",
        args.out.display()
    );
    Ok(())
}
