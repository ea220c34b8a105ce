//! Classify images with ResNet-34: each image's shorter side is resized to `--size` and the
//! centre cropped (bilinear, as torchvision's `Resize` + `CenterCrop`), normalised with
//! ImageNet's statistics, and run through the network in eval mode; the top 5 classes are
//! printed with their probabilities (and names, given a labels file with one name per line).
//!
//! `cargo run --release --example classify -- --weights resnet34-b627a593.pth cat.jpg`
//! (`--weights` takes torchvision's `.pth` or a `.safetensors` file in its names;
//! `--logits-out FILE.safetensors` writes the raw logits `[images, classes]`). Or, with a
//! learner the pets example exported, `-- --learner out/pets/export.safetensors cat.jpg`
//! (fastai's `load_learner` and `learn.predict`): the classes, the size and the statistics
//! come from the file. The images go through the network a few at a time, and every input is
//! checked before the network is built: `--size` from 32 to 1024, regular files only, one
//! label for each class.
mod inputs;
mod report;

use clap::builder::RangedU64ValueParser;
use clap::{ArgGroup, Parser};
use inputs::regular_file;
use lesson6::autograd::Var;
use lesson6::nn::export::load_learner;
use lesson6::nn::models::resnet34;
use lesson6::nn::state_dict;
use lesson6::nn::vision::{load_image, normalize, Augment, Padding, IMAGENET_STATS};
use lesson6::nn::{Mode, Module, Vars};
use lesson6::tensor::{Device, Tensor};
use std::error::Error;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Top-5 classes of images under ResNet-34")]
#[command(group(ArgGroup::new("model").required(true).args(["weights", "learner"])))]
struct Args {
    /// ResNet-34 weights in torchvision's names (`.pth` or `.safetensors`).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// A learner exported by the pets example (`export.safetensors`): its classes, image
    /// size and statistics come from the file.
    #[arg(long, conflicts_with_all = ["labels", "classes", "size", "logits_out"])]
    learner: Option<PathBuf>,
    /// Class names, one per line, in the order of the network's outputs (as many as
    /// `--classes`; a regular file of at most 1 MiB).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Side of the centre crop the network sees, from 32 to 1024 pixels (ResNet-34 halves it
    /// five times; 224 is ImageNet's).
    #[arg(long, default_value_t = 224, value_parser = RangedU64ValueParser::<usize>::new().range(32..=1024))]
    size: usize,
    /// Number of classes the weights were trained for, from 1 to 100,000.
    #[arg(long, default_value_t = 1000, value_parser = RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    classes: usize,
    /// Write the raw logits here as safetensors (`logits`, `[images, classes]`).
    #[arg(long)]
    logits_out: Option<PathBuf>,
    /// Where to run: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// The images (JPEG or PNG).
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

/// Images that go through the network together: memory stays that of a few images however
/// many are given.
const BATCH: usize = 8;

/// The largest labels file read (ImageNet's 1,000 names take 21 KB).
const MAX_LABELS_BYTES: u64 = 1 << 20;

fn main() -> ExitCode {
    report::exit(run(&Args::parse()))
}

/// The class names in `path`, one a line; there must be one for each of the `classes` outputs.
fn read_labels(path: &Path, classes: usize) -> Result<Vec<String>, String> {
    regular_file(path, "--labels")?;
    let shown = path.display();
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_LABELS_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| format!("--labels {shown}: {e}"))?;
    if text.len() as u64 > MAX_LABELS_BYTES {
        return Err(format!(
            "--labels {shown}: larger than {MAX_LABELS_BYTES} bytes, too large for a list of class names"
        ));
    }
    let names: Vec<String> = text
        .trim_end()
        .lines()
        .map(|l| l.trim().to_string())
        .collect();
    if names.len() != classes {
        return Err(format!(
            "--labels {shown}: {} names for {classes} classes (one name a line, in the order of the network's outputs; --classes sets their number)",
            names.len()
        ));
    }
    Ok(names)
}

/// The images at `paths`, centre-cropped to `size` and ImageNet-normalised, as one batch
/// `[images, 3, size, size]`.
fn batch_of(paths: &[PathBuf], size: usize) -> Result<Tensor, Box<dyn Error>> {
    let mut batch = Vec::with_capacity(paths.len() * 3 * size * size);
    for path in paths {
        let img = Augment::centre().apply(&load_image(path)?, size, Padding::Reflection)?;
        batch.extend(normalize(&img, IMAGENET_STATS)?);
    }
    Ok(Tensor::from_vec(batch, &[paths.len(), 3, size, size])?)
}

/// Prints the five most probable of the classes in `probs` for the image at `path`, with
/// their names where there are `names`.
fn print_top5(path: &Path, probs: &[f32], names: Option<&[String]>) {
    println!("{}:", path.display());
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    for &k in order.iter().take(5) {
        let name = names.map_or(String::new(), |n| format!("  {}", n[k]));
        println!("  {k:>4}  {:.4}{name}", probs[k]);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    // Every input is checked before the network is built, so a bad path costs nothing.
    for path in &args.images {
        regular_file(path, "image")?;
    }
    match (&args.learner, &args.weights) {
        (Some(learner), _) => classify_with_learner(args, learner),
        (None, Some(weights)) => classify_with_weights(args, weights),
        (None, None) => Err("give --weights or --learner".into()),
    }
}

/// The top 5 of each image under the learner exported to `path`.
fn classify_with_learner(args: &Args, path: &Path) -> Result<(), Box<dyn Error>> {
    regular_file(path, "--learner")?;
    let (learn, recipe) = load_learner(path, args.device)?.into_cnn(path)?;
    println!(
        "the learner from {} ({} classes, {} px)",
        path.display(),
        recipe.classes.len(),
        recipe.size
    );
    for paths in args.images.chunks(BATCH) {
        let images: Vec<Tensor> = paths.iter().map(load_image).collect::<Result<_, _>>()?;
        for (path, p) in paths.iter().zip(recipe.predict_batch(&learn, &images)?) {
            print_top5(path, &p.probs, Some(&recipe.classes));
        }
    }
    Ok(())
}

/// The top 5 of each image under ResNet-34 with the weights at `weights`.
fn classify_with_weights(args: &Args, weights: &Path) -> Result<(), Box<dyn Error>> {
    regular_file(weights, "--weights")?;
    let names = match &args.labels {
        Some(p) => Some(read_labels(p, args.classes)?),
        None => None,
    };
    let vars = Vars::new(0);
    let model = resnet34(vars.root(), args.classes)?;
    state_dict::load(&vars, weights)?;
    vars.to_device(args.device)?;
    let (mut logits, mut probs) = (Vec::new(), Vec::new());
    for paths in args.images.chunks(BATCH) {
        let x = batch_of(paths, args.size)?.to_device(args.device)?;
        let out = model.forward(Var::constant(x), Mode::Eval)?;
        let out = out.tensor();
        logits.extend(out.to_vec::<f32>()?);
        probs.extend(out.softmax(1).and_then(|p| p.to_vec::<f32>())?);
    }
    for (path, row) in args.images.iter().zip(probs.chunks_exact(args.classes)) {
        print_top5(path, row, names.as_deref());
    }
    if let Some(out) = &args.logits_out {
        let bytes: Vec<u8> = logits.iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = safetensors::tensor::TensorView::new(
            safetensors::Dtype::F32,
            vec![args.images.len(), args.classes],
            &bytes,
        )?;
        let file = safetensors::serialize([("logits", view)], &None)?;
        lesson6::nn::atomic::write_atomic(out, &file)
            .map_err(|e| format!("{}: {e}", out.display()))?;
        println!("wrote the logits to {}", out.display());
    }
    Ok(())
}
