//! Classify images with ResNet-34: each image's shorter side is resized to `--size` and the
//! centre cropped (bilinear, as torchvision's `Resize` + `CenterCrop`), normalised with
//! ImageNet's statistics, and run through the network in eval mode; the top 5 classes are
//! printed with their probabilities (and names, given a labels file with one name per line).
//!
//! `cargo run --release --example classify -- --weights resnet34-b627a593.pth cat.jpg`
//! (`--weights` takes torchvision's `.pth` or a `.safetensors` file in its names;
//! `--logits-out FILE.safetensors` writes the raw logits `[images, classes]`).
use clap::Parser;
use lesson6::autograd::Var;
use lesson6::nn::init::Init;
use lesson6::nn::models::resnet34;
use lesson6::nn::module::to_device;
use lesson6::nn::state_dict;
use lesson6::nn::vision::{load_image, Augment, Padding, IMAGENET_STATS};
use lesson6::nn::{Mode, Module};
use lesson6::tensor::{Device, Tensor};
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Top-5 classes of images under ResNet-34")]
struct Args {
    /// ResNet-34 weights in torchvision's names (`.pth` or `.safetensors`).
    #[arg(long)]
    weights: PathBuf,
    /// Class names, one per line, in the order of the network's outputs.
    #[arg(long)]
    labels: Option<PathBuf>,
    #[arg(long, default_value_t = 224)]
    size: usize,
    /// Number of classes the weights were trained for.
    #[arg(long, default_value_t = 1000)]
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

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let model = resnet34(&Init::new(0), args.classes).map_err(|e| e.to_string())?;
    state_dict::load(&model, &args.weights).map_err(|e| e.to_string())?;
    to_device(&model, args.device).map_err(|e| e.to_string())?;
    let names: Option<Vec<String>> = match &args.labels {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .lines()
                .map(|l| l.trim().to_string())
                .collect(),
        ),
        None => None,
    };
    let (mean, std) = IMAGENET_STATS;
    let plane = args.size * args.size;
    let mut batch = Vec::with_capacity(args.images.len() * 3 * plane);
    for path in &args.images {
        let img = load_image(path)
            .and_then(|i| Augment::centre().apply(&i, args.size, Padding::Reflection))?;
        let v = img.to_vec::<f32>().map_err(|e| e.to_string())?;
        for (c, chunk) in v.chunks_exact(plane).enumerate() {
            batch.extend(chunk.iter().map(|&x| (x - mean[c]) / std[c]));
        }
    }
    let n = args.images.len();
    let x = Tensor::from_vec(batch, &[n, 3, args.size, args.size])
        .and_then(|x| x.to_device(args.device))
        .map_err(|e| e.to_string())?;
    let logits = model
        .forward(&Var::constant(x), Mode::Eval)
        .map_err(|e| e.to_string())?;
    let logits = logits.tensor().clone();
    let probs = logits
        .softmax(1)
        .map_err(|e| e.to_string())?
        .to_vec::<f32>()
        .map_err(|e| e.to_string())?;
    for (i, path) in args.images.iter().enumerate() {
        println!("{}:", path.display());
        let row = &probs[i * args.classes..(i + 1) * args.classes];
        let mut order: Vec<usize> = (0..args.classes).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
        for &k in order.iter().take(5) {
            let name = names
                .as_ref()
                .and_then(|n| n.get(k))
                .map_or(String::new(), |n| format!("  {n}"));
            println!("  {k:>4}  {:.4}{name}", row[k]);
        }
    }
    if let Some(out) = &args.logits_out {
        let bytes: Vec<u8> = logits
            .to_vec::<f32>()
            .map_err(|e| e.to_string())?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let view = safetensors::tensor::TensorView::new(
            safetensors::Dtype::F32,
            vec![n, args.classes],
            &bytes,
        )
        .map_err(|e| e.to_string())?;
        let file = safetensors::serialize([("logits", view)], &None).map_err(|e| e.to_string())?;
        lesson6::nn::atomic::write_atomic(out, &file)
            .map_err(|e| format!("{}: {e}", out.display()))?;
        println!("wrote the logits to {}", out.display());
    }
    Ok(())
}
