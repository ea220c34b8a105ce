//! The activation explorer, after the lesson's demonstration of platform.ai: a model's
//! penultimate activations of a folder of images, projected to two dimensions by PCA
//! (`nn::projection`, the tensor crate's own ops), drawn as a web page where each image sits
//! at its coordinates, so that a person can label whole regions at once.
//!
//! The page (`index.html` in `--out`, self-contained: thumbnails inside, nothing fetched)
//! colours each image by its label (from its file name, `Name_123.jpg` as the pets) or by the
//! model's prediction, pans (drag) and zooms (wheel), shows the file under the pointer, and
//! selects a rectangle (shift-drag): name the selection, and download the names as a CSV
//! (`file,label`, the files relative to the folder), which the pets example reads with
//! `--labels`.
//!
//! The model: with `--model`, an exported pets learner (`export.safetensors`), whose head's
//! input to its last linear layer is the penultimate activation (512 values); without, the
//! small CNN of `nn::models::small_cnn`, trained here for `--steps` SGD steps on the folder
//! at 32 x 32 (its 64 pooled channels).
//!
//! `cargo run --release --example explore [-- --data DIR --model FILE --out out/explore]`
//! (with no `--data`, the embedded shapes are drawn into `--out`'s `images/` first).
mod inputs;
mod report;

use base64::Engine;
use clap::builder::RangedU64ValueParser;
use clap::Parser;
use lesson6::autograd::{Tape, Var};
use lesson6::datasets::image_folder::{ImageFolder, PETS_PATTERN};
use lesson6::datasets::shapes::write_shapes;
use lesson6::nn::export::load_learner;
use lesson6::nn::layers::{Linear, Sequential};
use lesson6::nn::loss::cross_entropy;
use lesson6::nn::models::{features, small_cnn};
use lesson6::nn::optim::Sgd;
use lesson6::nn::projection::pca;
use lesson6::nn::run_dir::RunDir;
use lesson6::nn::vision::{load_image, tensor_rgb, Augment, Padding};
use lesson6::nn::{Mode, Module, Param, Vars};
use lesson6::tensor::random::Philox;
use lesson6::tensor::{Device, Tensor};
use std::any::Any;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "A model's activations of a folder of images, projected and drawn as a web page")]
struct Args {
    /// A folder of images named `Class_123.jpg` (the embedded shapes when left out).
    #[arg(long)]
    data: Option<PathBuf>,
    /// An exported pets learner (`export.safetensors`); without, a small CNN is trained here.
    #[arg(long)]
    model: Option<PathBuf>,
    /// SGD steps of the small CNN (without `--model`), from 1 to 100,000.
    #[arg(long, default_value_t = 200, value_parser = RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    steps: usize,
    /// Images drawn per shape when there is no `--data`, from 2 to 1,000.
    #[arg(long, default_value_t = 40, value_parser = RangedU64ValueParser::<usize>::new().range(2..=1000))]
    per_class: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where index.html goes (and, with no `--data`, the drawn images).
    #[arg(long, default_value = "out/explore")]
    out: PathBuf,
}

/// Side of the small CNN's input, and of the thumbnails on the page.
const SIZE: usize = 32;
const THUMB: usize = 40;
/// Images per batch, training and reading activations.
const BS: usize = 64;

fn main() -> ExitCode {
    report::exit(run(&Args::parse()))
}

/// The images (centre crops of `size`), normalised per channel by `stats`, as `[n, 3, size,
/// size]`.
fn batch(
    images: &[Tensor],
    size: usize,
    (mean, std): ([f32; 3], [f32; 3]),
) -> Result<Tensor, Box<dyn Error>> {
    let mut pixels = Vec::with_capacity(images.len() * 3 * size * size);
    for img in images {
        let crop = Augment::centre()
            .apply(img, size, Padding::Reflection)?
            .to_vec::<f32>()?;
        for (c, plane) in crop.chunks_exact(size * size).enumerate() {
            pixels.extend(plane.iter().map(|v| (v - mean[c]) / std[c]));
        }
    }
    Ok(Tensor::from_vec(pixels, &[images.len(), 3, size, size])?)
}

/// Each channel's mean and standard deviation over the images' centre crops.
fn stats(images: &[Tensor], size: usize) -> Result<([f32; 3], [f32; 3]), Box<dyn Error>> {
    let x = batch(images, size, ([0.0; 3], [1.0; 3]))?;
    let per_channel = x
        .permute(&[1, 0, 2, 3])?
        .reshape(&[3, images.len() * size * size])?;
    let mean = per_channel.mean(&[1], false)?.to_vec::<f32>()?;
    let var = per_channel.var(&[1], false, false)?.to_vec::<f32>()?;
    let std = var.iter().map(|v| v.sqrt().max(1e-6)).collect::<Vec<_>>();
    Ok(([mean[0], mean[1], mean[2]], [std[0], std[1], std[2]]))
}

/// Runs `f` over `x` a batch at a time, on a tape that records nothing, and stacks the rows.
fn in_batches(
    x: &Tensor,
    f: impl Fn(Var) -> lesson6::autograd::Result<Var>,
) -> Result<Tensor, Box<dyn Error>> {
    let n = x.shape()[0];
    let mut parts = Vec::new();
    for start in (0..n).step_by(BS) {
        let tape = Tape::new();
        let xb = x.narrow(0, start, BS.min(n - start))?.contiguous()?;
        parts.push(tape.no_grad(|| f(tape.input(xb)))?.tensor().clone());
    }
    let refs: Vec<&Tensor> = parts.iter().collect();
    Ok(Tensor::cat(&refs, 0)?)
}

/// The small CNN trained on `x` (`[n, 3, SIZE, SIZE]`) and `labels` by SGD with momentum,
/// each batch drawn at random from all the images.
fn train(
    x: &Tensor,
    labels: &[i64],
    classes: usize,
    args: &Args,
) -> Result<Sequential, Box<dyn Error>> {
    let vars = Vars::new(args.seed);
    let model = small_cnn(vars.root(), classes, true)?;
    let params = vars.params();
    let params: Vec<&Param> = params.iter().map(|(_, p)| p.as_ref()).collect();
    let mut sgd = Sgd::new(0.9, 1e-4);
    let n = labels.len();
    let bs = BS.min(n);
    let rng = Philox::new(args.seed, 11);
    let mut last = f32::NAN;
    for step in 0..args.steps {
        let pick: Vec<usize> = (0..bs)
            .map(|i| ((rng.uniform_at((step * bs + i) as u64) * n as f32) as usize).min(n - 1))
            .collect();
        let idx: Vec<i64> = pick.iter().map(|&i| i as i64).collect();
        let xb = x.index_select(0, &Tensor::from_indices(&idx, &[bs])?)?;
        let yb: Vec<i64> = pick.iter().map(|&i| labels[i]).collect();
        let tape = Tape::new();
        let loss = cross_entropy(
            &model.forward(tape.input(xb), Mode::Train)?,
            &Tensor::from_indices(&yb, &[bs])?,
        )?;
        last = loss.tensor().to_vec::<f32>()?[0];
        if !last.is_finite() {
            return Err(format!(
                "training the small CNN diverged: its loss is {last} at step {step}"
            )
            .into());
        }
        sgd.step(&params, &loss.backward()?, 0.05)?;
    }
    println!(
        "trained the small CNN for {} steps on {n} images (last batch's loss {last:.3})",
        args.steps
    );
    Ok(model)
}

/// A thumbnail of `img` as a PNG data URI.
fn thumbnail(img: &Tensor) -> Result<String, Box<dyn Error>> {
    let rgb = tensor_rgb(&Augment::centre().apply(img, THUMB, Padding::Reflection)?)?;
    let mut png = Vec::new();
    rgb.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    ))
}

/// What a model says of the images: its penultimate activations `[n, d]`, its predictions,
/// and its class names.
type Reading = (Tensor, Vec<usize>, Vec<String>);

/// The [`Reading`] of the images by the exported pets learner at `path`.
fn pets_activations(path: &Path, images: &[Tensor]) -> Result<Reading, Box<dyn Error>> {
    let (learn, recipe) = load_learner(path, Device::Cpu)?.into_cnn(path)?;
    let model = learn.model();
    let (body, head) = (&model.layers[0], &model.layers[1]);
    let head: &Sequential = (head.as_ref() as &dyn Any)
        .downcast_ref()
        .ok_or("--model: the exported model has no head of layers")?;
    let last_linear = head
        .layers
        .iter()
        .rposition(|l| (l.as_ref() as &dyn Any).is::<Linear>())
        .ok_or("--model: the exported head has no linear layer")?;
    let x = batch(images, recipe.size, recipe.stats)?;
    let acts = in_batches(&x, |v| {
        let v = body.forward(v, Mode::Eval)?;
        head.layers[..last_linear]
            .iter()
            .try_fold(v, |v, l| l.forward(v, Mode::Eval))
    })?;
    let logits = in_batches(&x, |v| model.forward(v, Mode::Eval))?;
    let preds = logits.argmax(1, false)?.to_vec::<i64>()?;
    Ok((
        acts,
        preds.iter().map(|&p| p as usize).collect(),
        recipe.classes,
    ))
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    // The model file is checked before anything is drawn or trained.
    if let Some(path) = &args.model {
        inputs::regular_file(path, "--model")?;
    }
    let dir = RunDir::open(&args.out, "explore")?;
    let folder = match &args.data {
        Some(d) => d.clone(),
        None => {
            let d = dir.join("images");
            let n = write_shapes(&d, args.per_class, args.seed)?;
            println!("no --data: drew the embedded default ({n} images of 6 shapes)");
            d
        }
    };
    let found = ImageFolder::from_folder(&folder, PETS_PATTERN, 0.2, args.seed)?.images;
    let images: Vec<Tensor> = found
        .items
        .iter()
        .map(|(p, _)| load_image(p))
        .collect::<Result<_, _>>()?;
    let labels: Vec<usize> = found.items.iter().map(|(_, c)| *c).collect();
    let (acts, labels, preds, classes) = match &args.model {
        Some(path) => {
            let (acts, preds, mut classes) = pets_activations(path, &images)?;
            // Labels by name among the model's classes; a folder class it lacks is added.
            let labels = labels
                .iter()
                .map(|&c| {
                    let name = &found.classes[c];
                    classes.iter().position(|k| k == name).unwrap_or_else(|| {
                        classes.push(name.clone());
                        classes.len() - 1
                    })
                })
                .collect();
            (acts, labels, preds, classes)
        }
        None => {
            let x = batch(&images, SIZE, stats(&images, SIZE)?)?;
            let y: Vec<i64> = labels.iter().map(|&c| c as i64).collect();
            let model = train(&x, &y, found.classes.len(), args)?;
            let acts = in_batches(&x, |v| features(&model, v, Mode::Eval))?;
            let logits = in_batches(&x, |v| model.forward(v, Mode::Eval))?;
            let preds = logits.argmax(1, false)?.to_vec::<i64>()?;
            let preds = preds.iter().map(|&p| p as usize).collect();
            (acts, labels, preds, found.classes.clone())
        }
    };
    let p = pca(&acts, 2)?;
    let coords = p.coords.to_vec::<f32>()?;
    let shown = p.variance.iter().sum::<f64>() / p.total_variance.max(f64::MIN_POSITIVE);
    let mut items = Vec::with_capacity(images.len());
    for (k, ((path, _), img)) in found.items.iter().zip(&images).enumerate() {
        let file = path
            .strip_prefix(&folder)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        items.push(serde_json::json!({
            "file": file,
            "label": labels[k],
            "pred": preds[k],
            "x": coords[2 * k],
            // Screen y points down: the second component up.
            "y": -coords[2 * k + 1],
            "src": thumbnail(img)?,
        }));
    }
    let title = format!(
        "{} images, {} activations, PCA: {:.0}% of the variance shown",
        images.len(),
        acts.shape()[1],
        100.0 * shown
    );
    let data =
        serde_json::json!({ "title": title, "classes": classes, "thumb": THUMB, "items": items });
    // `<` escaped, so that no file name can close the script element.
    let json = serde_json::to_string(&data)?.replace('<', "\\u003c");
    let page = include_str!("explore.html").replace("__DATA__", &json);
    std::fs::write(dir.join("index.html"), page)?;
    dir.commit()?;
    println!("{title}");
    println!("wrote {}", args.out.join("index.html").display());
    Ok(())
}
