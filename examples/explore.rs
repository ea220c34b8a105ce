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
use lesson6::nn::vision::{batch_stats, load_image, normalize_batch, tensor_rgb, Augment, Padding};
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

/// Reads every image once, `BS` at a time, so that only a batch of full-size images is ever
/// held: its thumbnail (returned, in order), and its centre crop of `size` (the pixels as
/// read), handed to `each` as a batch `[b, 3, size, size]`.
fn read_images(
    paths: &[&Path],
    size: usize,
    mut each: impl FnMut(Tensor) -> Result<(), Box<dyn Error>>,
) -> Result<Vec<String>, Box<dyn Error>> {
    let mut thumbs = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(BS) {
        let mut crops = Vec::with_capacity(chunk.len());
        for path in chunk {
            let img = load_image(path)?;
            thumbs.push(thumbnail(&img)?);
            crops.push(
                Augment::centre()
                    .apply(&img, size, Padding::Reflection)?
                    .unsqueeze(0)?,
            );
        }
        let refs: Vec<&Tensor> = crops.iter().collect();
        each(Tensor::cat(&refs, 0)?)?;
    }
    Ok(thumbs)
}

/// `f` of `x` on a tape that records nothing.
fn eval<T>(
    x: &Tensor,
    f: impl FnOnce(Var) -> lesson6::autograd::Result<T>,
) -> lesson6::autograd::Result<T> {
    let tape = Tape::new();
    tape.no_grad(|| f(tape.input(x.clone())))
}

/// Runs `f` over `x` a batch at a time, recording nothing, and stacks the rows.
fn in_batches(
    x: &Tensor,
    f: impl Fn(Var) -> lesson6::autograd::Result<Var>,
) -> Result<Tensor, Box<dyn Error>> {
    let n = x.shape()[0];
    let mut parts = Vec::new();
    for start in (0..n).step_by(BS) {
        let xb = x.narrow(0, start, BS.min(n - start))?.contiguous()?;
        parts.push(eval(&xb, &f)?.tensor().clone());
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

/// The [`Reading`] of the images at `paths` by the exported pets learner at `path`, and their
/// thumbnails.
fn pets_activations(
    path: &Path,
    paths: &[&Path],
) -> Result<(Reading, Vec<String>), Box<dyn Error>> {
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
    let (mut acts, mut preds) = (Vec::new(), Vec::new());
    let thumbs = read_images(paths, recipe.size, |crops| {
        let (a, logits) = eval(&normalize_batch(&crops, recipe.stats)?, |v| {
            let v = body.forward(v, Mode::Eval)?;
            let (inner, last) = head.layers.split_at(last_linear);
            let a = inner.iter().try_fold(v, |v, l| l.forward(v, Mode::Eval))?;
            let logits = last
                .iter()
                .try_fold(a.clone(), |v, l| l.forward(v, Mode::Eval))?;
            Ok((a.tensor().clone(), logits.tensor().clone()))
        })?;
        acts.push(a);
        preds.extend(
            logits
                .argmax(1, false)?
                .to_vec::<i64>()?
                .iter()
                .map(|&p| p as usize),
        );
        Ok(())
    })?;
    let refs: Vec<&Tensor> = acts.iter().collect();
    Ok(((Tensor::cat(&refs, 0)?, preds, recipe.classes), thumbs))
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
    let paths: Vec<&Path> = found.items.iter().map(|(p, _)| p.as_path()).collect();
    let labels: Vec<usize> = found.items.iter().map(|(_, c)| *c).collect();
    let (acts, labels, preds, classes, thumbs) = match &args.model {
        Some(path) => {
            let ((acts, preds, mut classes), thumbs) = pets_activations(path, &paths)?;
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
            (acts, labels, preds, classes, thumbs)
        }
        None => {
            let mut crops = Vec::new();
            let thumbs = read_images(&paths, SIZE, |c| {
                crops.push(c);
                Ok(())
            })?;
            let refs: Vec<&Tensor> = crops.iter().collect();
            let x = Tensor::cat(&refs, 0)?;
            let x = normalize_batch(&x, batch_stats(&x)?)?;
            let y: Vec<i64> = labels.iter().map(|&c| c as i64).collect();
            let model = train(&x, &y, found.classes.len(), args)?;
            let acts = in_batches(&x, |v| features(&model, v, Mode::Eval))?;
            // The last layer on the activations: the network runs once.
            let last = model.layers.last().ok_or("the small CNN has no layers")?;
            let logits = in_batches(&acts, |v| last.forward(v, Mode::Eval))?;
            let preds = logits.argmax(1, false)?.to_vec::<i64>()?;
            let preds = preds.iter().map(|&p| p as usize).collect();
            (acts, labels, preds, found.classes.clone(), thumbs)
        }
    };
    let p = pca(&acts, 2)?;
    let coords = p.coords.to_vec::<f32>()?;
    let shown = p.variance.iter().sum::<f64>() / p.total_variance.max(f64::MIN_POSITIVE);
    let mut items = Vec::with_capacity(paths.len());
    for (k, (path, src)) in paths.iter().zip(thumbs).enumerate() {
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
            "src": src,
        }));
    }
    let title = format!(
        "{} images, {} activations, PCA: {:.0}% of the variance shown",
        paths.len(),
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
