//! Where the pets model looks, the lesson's last notebook cells: hook the body's output
//! (`hook_output(m[0])`: 512 x 11 x 11 for a 352 x 352 image), average it over channels,
//! upsample bilinearly, colour with magma and lay it over the image at alpha 0.6; then
//! Grad-CAM (the gradient of a class score with respect to the same activations, its
//! spatial mean as each channel's weight, the weighted activations averaged over channels)
//! for the predicted class and for a class you name.
//!
//! `cargo run --release --example heatmap [-- --weights out/pets/model.safetensors --image
//! cat.jpg --class Bombay]`, or `-- --learner out/pets/export.safetensors` for a learner the
//! pets example exported (its classes and statistics from the file). With no `--weights`
//! and no `--learner` it uses the pets example's checkpoint
//! (`out/pets/model.safetensors`, classes from the `metrics.json` beside it) when there is
//! one, and otherwise trains a model on the embedded default briefly (about 2 minutes;
//! `--per-class` and `--epochs` make it briefer) so that the map means something. With no `--image` it draws a crescent of the embedded set
//! (one the training never saw). A model trained on the embedded set at 32-50 px sees the
//! shapes many times larger at 352: its maps show where its features fire, but its
//! predictions at that size are less sure than at its own.
mod inputs;
mod report;

use clap::builder::RangedU64ValueParser;
use clap::Parser;
use lesson6::autograd::Var;
use lesson6::datasets::image_folder::{ImageFolder, PETS_PATTERN};
use lesson6::datasets::shapes::{draw_shape, write_shapes, SHAPES};
use lesson6::nn::export::load_learner;
use lesson6::nn::hooks::hook_output;
use lesson6::nn::layers::Sequential;
use lesson6::nn::learner::{Learner, Lr};
use lesson6::nn::loss::cross_entropy;
use lesson6::nn::metrics::error_rate;
use lesson6::nn::models::{cnn_model, resnet34, Ps};
use lesson6::nn::run_dir::RunDir;
use lesson6::nn::vision::{
    activation_map, grad_cam_of, load_image, overlay, save_png, Augment, ImageData, Padding,
    Transforms, IMAGENET_STATS,
};
use lesson6::nn::{state_dict, Mode, Module, Vars};
use lesson6::tensor::{Device, Tensor};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Activation heat map and Grad-CAM of a pets model")]
struct Args {
    /// A checkpoint of the pets model (`model.safetensors` from the pets example).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// A learner the pets example exported (`export.safetensors`), in place of `--weights`
    /// and `--classes`.
    #[arg(long, conflicts_with_all = ["weights", "classes"])]
    learner: Option<PathBuf>,
    /// Class names, comma-separated, in the model's order (default: from the `metrics.json`
    /// beside the checkpoint).
    #[arg(long, value_delimiter = ',')]
    classes: Vec<String>,
    /// The image to explain (JPEG or PNG).
    #[arg(long)]
    image: Option<PathBuf>,
    /// A class to explain besides the predicted one.
    #[arg(long)]
    class: Option<String>,
    /// Side of the (centre-cropped) image, from 32 to 1024: 352 gives the lesson's 11 x 11
    /// activations.
    #[arg(long, default_value_t = 352, value_parser = RangedU64ValueParser::<usize>::new().range(32..=1024))]
    size: usize,
    #[arg(long, default_value = "out/heatmap")]
    out: PathBuf,
    /// Without a checkpoint: images of each class the brief training draws (4 to 1000).
    #[arg(long, default_value_t = 120, value_parser = RangedU64ValueParser::<usize>::new().range(4..=1000))]
    per_class: usize,
    /// Without a checkpoint: epochs of the brief training (1 to 1000).
    #[arg(long, default_value_t = 20, value_parser = RangedU64ValueParser::<usize>::new().range(1..=1000))]
    epochs: usize,
    /// Where to run (and, without --weights, train): cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: Device,
}

type Res<T> = Result<T, Box<dyn Error>>;

/// Class names from the pets example's `metrics.json` beside `weights`.
fn classes_beside(weights: &Path) -> Res<Vec<String>> {
    let path = weights.with_file_name("metrics.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e} (pass --classes)", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let names = json["classes"]
        .as_array()
        .ok_or_else(|| format!("{}: no \"classes\" list (pass --classes)", path.display()))?;
    Ok(names
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect())
}

/// The pets model for `classes`, with its parameters.
fn model(classes: usize) -> Res<(Sequential, Vars)> {
    let vars = Vars::new(0);
    Ok((
        cnn_model(resnet34(vars.root(), 1000)?, classes, Ps::default(), 0)?,
        vars,
    ))
}

/// Trains the embedded default briefly (from scratch, at 32 px, `--per-class` images of each
/// shape for `--epochs`) and saves it in `--out`.
fn train_briefly(args: &Args, out_dir: &RunDir) -> Res<((Sequential, Vars), Vec<String>)> {
    let (per_class, epochs) = (args.per_class, args.epochs);
    println!("no --weights and no out/pets/model.safetensors: training a model on the embedded default briefly ({per_class} images a class, {epochs} epochs at 32 px without augmentation, which learns fastest in so short a budget; about 2 minutes with the defaults) so that the map means something");
    let dir = out_dir.join("data");
    write_shapes(&dir, per_class, 2)?;
    let images = ImageFolder::from_folder(&dir, PETS_PATTERN, 0.2, 2)?.images;
    let data = ImageData::new(&images, Transforms::none(), 32, Padding::Reflection, 16, 2);
    let (model, vars) = model(images.classes.len())?;
    let mut learn = Learner::builder(model, vars.clone(), data, cross_entropy)
        .metric("error_rate", error_rate)
        .device(args.device)
        .build()?;
    learn.fit_one_cycle(epochs, Lr::Single(3e-3), None)?;
    learn.save(out_dir.join("model.safetensors"))?;
    Ok(((learn.into_model(), vars), images.classes))
}

/// The image as the model sees it: centre-cropped to `size`, then normalised with `stats`
/// (ImageNet's), as a batch of one.
fn prepare(image: &Tensor, size: usize, stats: ([f32; 3], [f32; 3])) -> Res<(Tensor, Tensor)> {
    let shown = Augment::centre().apply(image, size, Padding::Reflection)?;
    let (mean, std) = stats;
    let scale = Tensor::from_slice(&std.map(|s| 1.0 / s), &[3])?;
    let shift = Tensor::from_slice(&[0, 1, 2].map(|c| -mean[c] / std[c]), &[3])?;
    let x = shown.unsqueeze(0)?.channel_affine(&scale, &shift)?;
    Ok((shown, x))
}

fn main() -> ExitCode {
    report::exit(run(&Args::parse()))
}

fn run(args: &Args) -> Res<()> {
    // The files given are checked before a model is trained or loaded.
    if let Some(w) = &args.weights {
        inputs::regular_file(w, "--weights")?;
    }
    if let Some(l) = &args.learner {
        inputs::regular_file(l, "--learner")?;
    }
    if let Some(p) = &args.image {
        inputs::regular_file(p, "--image")?;
    }
    let out_dir = RunDir::open(&args.out, "heatmap")?;
    let default = PathBuf::from("out/pets/model.safetensors");
    let weights = args
        .weights
        .clone()
        .or_else(|| default.exists().then_some(default));
    let mut stats = IMAGENET_STATS;
    let ((model, vars), classes) = match (&args.learner, weights) {
        (Some(path), _) => {
            let (learn, recipe) = load_learner(path, args.device)?.into_cnn(path)?;
            println!(
                "the learner from {} ({} classes)",
                path.display(),
                recipe.classes.len()
            );
            stats = recipe.stats;
            let vars = learn.vars().clone();
            ((learn.into_model(), vars), recipe.classes)
        }
        (None, Some(w)) => {
            let classes = if args.classes.is_empty() {
                classes_beside(&w)?
            } else {
                args.classes.clone()
            };
            let m = model(classes.len())?;
            state_dict::load(&m.1, &w)?;
            println!(
                "the pets model from {} ({} classes)",
                w.display(),
                classes.len()
            );
            (m, classes)
        }
        (None, None) => train_briefly(args, &out_dir)?,
    };
    vars.to_device(args.device)?;
    let image = match &args.image {
        Some(p) => load_image(p)?,
        None => draw_shape(
            SHAPES.iter().position(|&s| s == "Crescent").unwrap_or(0),
            1000,
            7,
        ),
    };
    let (shown, x) = prepare(&image, args.size, stats)?;
    let x = x.to_device(args.device)?;
    println!(
        "image {:?} -> centre crop {:?} -> normalised batch x {:?}",
        image.shape(),
        shown.shape(),
        x.shape()
    );

    // Forward with the body hooked; eval mode (running statistics, no dropout).
    let hook = hook_output(model.layers[0].as_ref(), false);
    let out = model.forward(Var::constant(x.clone()), Mode::Eval)?;
    let acts = hook.stored().ok_or("the body did not run")?;
    let name = |k: usize| classes.get(k).cloned().unwrap_or_else(|| k.to_string());
    // Grad-CAM runs a forward of its own with the body's gradient kept: each backward
    // consumes its tape, so each class explained needs one.
    let grad_cam_png = |k: usize| -> Res<()> {
        let (weights, cam) = grad_cam_of(&model, &x, k)?;
        println!(
            "Grad-CAM for {}: d(score)/d(acts) {:?} -> channel weights {:?} -> map {:?}",
            name(k),
            &acts.shape()[1..],
            weights.shape(),
            cam.shape()
        );
        let file = format!("gradcam_{}.png", name(k));
        save_png(&overlay(&shown, &cam, 0.6)?, out_dir.join(&file))?;
        println!("wrote {}", args.out.join(&file).display());
        Ok(())
    };

    let probs = out.tensor().softmax(1)?.to_vec::<f32>()?;
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    println!(
        "body output (hooked) {:?}; model output {:?}",
        &acts.shape()[1..],
        out.shape()
    );
    for &k in order.iter().take(3) {
        println!("  {:>12} {:.3}", name(k), probs[k]);
    }
    let map = activation_map(&acts.tensor().squeeze(0)?)?;
    println!(
        "heat map = acts.mean(0) {:?}, upsampled to {:?}",
        map.shape(),
        &shown.shape()[1..]
    );
    save_png(&overlay(&shown, &map, 0.6)?, out_dir.join("heatmap.png"))?;
    save_png(&shown, out_dir.join("image.png"))?;

    grad_cam_png(order[0])?;
    if let Some(wanted) = &args.class {
        let k = classes
            .iter()
            .position(|c| c == wanted)
            .ok_or_else(|| format!("no class {wanted:?}; the classes are {classes:?}"))?;
        if k != order[0] {
            grad_cam_png(k)?;
        }
    }
    out_dir.commit()?;
    println!(
        "wrote {} (and image.png)",
        args.out.join("heatmap.png").display()
    );
    Ok(())
}
