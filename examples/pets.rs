//! Lesson 6's pets model end to end: images labelled from their file names, fastai's data
//! augmentation, ResNet-34 with the fastai head, and the lesson's three stages of one-cycle
//! training with discriminative learning rates.
//!
//! `cargo run --release --example pets -- --data DIR --weights FILE` runs the lesson's
//! schedule on the Oxford-IIIT Pet images with ImageNet weights (torchvision's `.pth`, or a
//! `.safetensors` file in torchvision's names): 224 frozen `fit_one_cycle(3, slice(1e-2), pct_start=0.8)`, unfrozen
//! `fit_one_cycle(2, slice(1e-6, 1e-3), pct_start=0.8)`, then 352 `fit_one_cycle(2,
//! slice(1e-6, 1e-4))`. Without `--data` it draws the embedded default (60 images of each of
//! six shapes with their textures, `datasets::shapes::SHAPES`) and trains at 32 then 50 pixels,
//! 20 epochs a stage (a network learning from scratch on augmented images needs them: at 26
//! epochs in all it was still near chance); without `--weights` the
//! body starts from random initialisation and every stage trains it unfrozen, as it says on
//! screen. `--no-augment` trains without augmentation (a random crop only), to see what
//! augmentation buys; `--lr-find` runs the learning-rate finder before the first stage and
//! prints fastai's suggestion. It prints the model's summary (fastai's `learn.summary()`)
//! before training. After training it looks at the mistakes (fastai's
//! `ClassificationInterpretation`: prints `most_confused(min_val=2)`) and predicts the
//! validation set again with test-time augmentation (`learn.TTA()`). Outputs in `--out`
//! (default `out/pets`): metrics.json (`error_rate`, `tta_error_rate`, `stages`, `seconds`,
//! `classes`), interp.json (the classes, the confusion matrix and the most confused
//! pairs), batch.png (a training batch as the model sees it, fastai's `show_batch`),
//! confusion.png, top_losses.png (the nine worst mistakes with the Grad-CAM of their actual
//! class), losses.png, model.safetensors, export.safetensors (the weights with the classes,
//! size and statistics inference needs, fastai's `export.pkl`: see the classify and heatmap
//! examples' `--learner`), lr_find.png with
//! `--lr-find`, and the embedded default's data/. A run writes them into a staging folder beside `--out` and swaps it in whole when it
//! has finished (`nn::run_dir`), so a failed run leaves the previous one as it was.
mod common;
mod report;

use clap::Parser;
use common::DeviceArgs;
use lesson6::datasets::image_folder::{ImageFolder, PETS_PATTERN};
use lesson6::datasets::shapes::write_shapes;
use lesson6::nn::export::{CnnRecipe, Recipe};
use lesson6::nn::interpret::ClassificationInterpretation;
use lesson6::nn::learner::{plot_lr_find, Learner, Lr};
use lesson6::nn::loss::cross_entropy;
use lesson6::nn::metrics::error_rate;
use lesson6::nn::models::{cnn_model, resnet34, Ps, CNN_GROUPS};
use lesson6::nn::run_dir::RunDir;
use lesson6::nn::vision::{
    plot_batch, plot_top_losses, tta, ImageData, Padding, Transforms, IMAGENET_STATS,
};
use lesson6::nn::{state_dict, Vars};
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// The largest image side `--size` accepts. ImageNet models train at 224 and the lesson's last
/// stage at 352; at 1024 one batch of 64 already holds 800 MB of pixels (and the last stage
/// scales it by 352/224).
const MAX_SIZE: usize = 1024;

#[derive(Parser)]
#[command(about = "Lesson 6's pets model, on the Oxford-IIIT Pet images or the embedded default")]
struct Args {
    /// A folder of images named `Class_123.jpg` (the Oxford-IIIT Pet `images` folder).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Labels from a CSV `file,label` (the files relative to the data folder), as the
    /// explore example's page downloads them, instead of from the file names; images it
    /// does not name are left out.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// ImageNet weights for ResNet-34 in torchvision's names: a `.safetensors` file, or
    /// torchvision's own `.pth` checkpoint (`resnet34-b627a593.pth`).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// The output folder.
    #[arg(long, default_value = "out/pets")]
    out: PathBuf,
    /// Image size of the first two stages (224 with --data, 32 for the embedded default; at
    /// most 1024); the last stage uses 352/224 of it.
    #[arg(long, value_parser = common::whole(1, MAX_SIZE))]
    size: Option<usize>,
    /// Epochs of every stage (default: the lesson's 3, 2, 2; 20 each for the embedded default).
    #[arg(long, value_parser = common::whole(1, usize::MAX))]
    epochs: Option<usize>,
    #[arg(long, value_parser = common::whole(1, usize::MAX))]
    bs: Option<usize>,
    #[arg(long, default_value_t = 2)]
    seed: u64,
    /// Train without augmentation (a random crop only).
    #[arg(long)]
    no_augment: bool,
    /// Peak learning rate of the first stage (the lesson's 1e-2; 3e-3 from scratch); the later
    /// stages use the lesson's ratios to it.
    #[arg(long, value_parser = common::rate, allow_hyphen_values = true)]
    lr: Option<f64>,
    /// Weight decay (fastai's default).
    #[arg(long, default_value_t = 1e-2, value_parser = common::decay, allow_hyphen_values = true)]
    wd: f32,
    /// The head's dropout, fastai's `ps`: one value p gives the first dropout p/2 and the
    /// last p; two, as `0.1,0.2`, give each its own.
    #[arg(long, default_value = "0.5", value_parser = parse_ps)]
    ps: Ps,
    /// Run the learning-rate finder before the first stage, as the lesson does (weights
    /// restored after): print fastai's suggestion and plot the curve to lr_find.png.
    #[arg(long)]
    lr_find: bool,
    /// Images per class in the embedded default.
    #[arg(long, default_value_t = 60, value_parser = common::whole(1, usize::MAX))]
    per_class: usize,
    #[command(flatten)]
    device: DeviceArgs,
}

/// `--ps`: one probability or two, comma-separated, each from 0 up to (not including) 1.
fn parse_ps(s: &str) -> Result<Ps, String> {
    let ps: Vec<f32> = s
        .split(',')
        .map(|p| p.trim().parse().ok().filter(|p| (0.0..1.0).contains(p)))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("`{s}`: expected probabilities from 0 to below 1, as 0.5"))?;
    match ps[..] {
        [p] => Ok(Ps::One(p)),
        [a, b] => Ok(Ps::Each([a, b])),
        _ => Err(format!(
            "`{s}`: expected one probability or two, as 0.5 or 0.1,0.2"
        )),
    }
}

fn main() -> ExitCode {
    let args: Args = common::parse_args();
    if let Err(e) = lesson6::tensor::join_thread_pool() {
        eprintln!("note: {e}");
    }
    report::exit(run(&args))
}

/// One stage: a size, epochs, learning rates, pct_start, and whether the body trains.
struct Stage {
    name: &'static str,
    size: usize,
    epochs: usize,
    lr: Lr,
    pct_start: Option<f64>,
    frozen: bool,
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let start = Instant::now();
    let device = args.device.open()?;
    let embedded = args.data.is_none();
    let run = RunDir::open(&args.out, "pets")?;
    let dir = match &args.data {
        Some(d) => d.clone(),
        None => {
            // Drawn afresh into the run's folder, so it always matches the run's seed.
            let d = run.join("data");
            let n = write_shapes(&d, args.per_class, args.seed)?;
            println!(
                "no --data: drew the embedded default ({n} images of 6 shapes) into {}",
                run.out().join("data").display()
            );
            d
        }
    };
    let ImageFolder { images, unlabelled } = match &args.labels {
        Some(csv) => ImageFolder::from_csv(&dir, csv, 0.2, args.seed)?,
        None => ImageFolder::from_folder(&dir, PETS_PATTERN, 0.2, args.seed)?,
    };
    if !unlabelled.is_empty() {
        println!(
            "note: {} images do not match `{PETS_PATTERN}` and are left out (e.g. {})",
            unlabelled.len(),
            unlabelled[0].display()
        );
    }
    println!(
        "{} classes, {} training and {} validation images",
        images.classes.len(),
        images.train.len(),
        images.valid.len()
    );
    let size = args.size.unwrap_or(if embedded { 32 } else { 224 });
    let bs = args.bs.unwrap_or(if embedded { 16 } else { 64 });
    let tfms = if args.no_augment {
        println!("no augmentation: a random crop only");
        Transforms::none()
    } else {
        Transforms::lesson6()
    };
    let vars = Vars::new(args.seed);
    let resnet = resnet34(vars.root(), 1000)?;
    let pretrained = match &args.weights {
        Some(w) => {
            state_dict::load(&vars, w)?;
            println!("ResNet-34 body from {}", w.display());
            true
        }
        None => {
            println!("no --weights: the body starts from random initialisation, so every stage trains it unfrozen");
            false
        }
    };
    let model = cnn_model(resnet, images.classes.len(), args.ps, args.seed)?;
    let data = ImageData::new(&images, tfms, size, Padding::Reflection, bs, args.seed);
    let groups = CNN_GROUPS
        .iter()
        .map(|g| g.iter().map(|p| p.to_string()).collect())
        .collect();
    let mut learn = Learner::builder(model, vars, data.resized(size, bs), cross_entropy)
        .metric("error_rate", error_rate)
        .wd(args.wd)
        .split(groups)
        .device(device)
        .build()?;
    // fastai's `learn.summary()`: each layer's output shape and parameters on one batch.
    print!("{}", learn.summary()?);

    let big = size * 352 / 224;
    let e = |lesson: usize, default: usize| {
        args.epochs
            .unwrap_or(if embedded { default } else { lesson })
    };
    let stages = if pretrained {
        let lr = args.lr.unwrap_or(1e-2);
        vec![
            Stage {
                name: "frozen",
                size,
                epochs: e(3, 20),
                lr: Lr::Top(lr),
                pct_start: Some(0.8),
                frozen: true,
            },
            Stage {
                name: "unfrozen",
                size,
                epochs: e(2, 20),
                lr: Lr::Range(1e-6, lr / 10.0),
                pct_start: Some(0.8),
                frozen: false,
            },
            Stage {
                name: "bigger images",
                size: big,
                epochs: e(2, 20),
                lr: Lr::Range(1e-6, lr / 100.0),
                pct_start: None,
                frozen: false,
            },
        ]
    } else {
        let lr = args.lr.unwrap_or(3e-3);
        vec![
            Stage {
                name: "from scratch",
                size,
                epochs: e(3, 20),
                lr: Lr::Single(lr),
                pct_start: None,
                frozen: false,
            },
            Stage {
                name: "lower rate",
                size,
                epochs: e(2, 20),
                lr: Lr::Single(lr / 3.0),
                pct_start: None,
                frozen: false,
            },
            Stage {
                name: "bigger images",
                size: big,
                epochs: e(2, 20),
                lr: Lr::Single(lr / 10.0),
                pct_start: None,
                frozen: false,
            },
        ]
    };
    let mut rates = Vec::new();
    let mut sweep = None;
    for stage in &stages {
        println!(
            "== {} at {}x{}: fit_one_cycle({}, {:?}) ==",
            stage.name, stage.size, stage.size, stage.epochs, stage.lr
        );
        learn.set_data(data.resized(stage.size, bs));
        if stage.frozen {
            learn.freeze();
        } else {
            learn.unfreeze();
        }
        // Before the first stage, on its data and with its frozen layers, as the lesson.
        if args.lr_find && sweep.is_none() {
            sweep = Some(common::lr_find(&mut learn)?);
        }
        learn.fit_one_cycle(stage.epochs, stage.lr, stage.pct_start)?;
        let last = learn
            .recorder()
            .epochs
            .last()
            .ok_or("a stage of 0 epochs")?;
        rates.push(serde_json::json!({ "stage": stage.name, "size": stage.size, "error_rate": last.metrics[0] }));
    }
    if data.skipped() > 0 {
        println!("note: {} unreadable images were skipped", data.skipped());
    }
    let error = rates
        .last()
        .and_then(|r| r["error_rate"].as_f64())
        .unwrap_or(f64::NAN);
    let out = |name: &str| run.join(name);
    // Lesson 6's "look at the mistakes", then TTA, on the last stage's validation set.
    let interp = ClassificationInterpretation::from_learner(&learn)?;
    println!("most_confused(min_val=2):");
    for (actual, predicted, n) in interp.most_confused(2) {
        println!("('{actual}', '{predicted}', {n})");
    }
    lesson6::nn::atomic::write_json(out("interp.json"), &interp.to_json())?;
    // fastai's `data.show_batch(rows=3)`: what the first stage trained on, augmented.
    plot_batch(&data, 9, 3, out("batch.png"))?;
    interp.plot_confusion_matrix(out("confusion.png"))?;
    let last_data = data.resized(stages.last().map_or(size, |s| s.size), bs);
    plot_top_losses(
        &interp,
        &learn,
        &last_data,
        9,
        3,
        true,
        out("top_losses.png"),
    )?;
    let (probs, targets) = tta(&learn, &last_data, 0.4, 1.35)?;
    let tta_error = error_rate(&probs, &targets)? as f64;
    println!(
        "error_rate {error:.4}, with TTA {tta_error:.4}: TTA {}",
        if tta_error < error {
            "helped"
        } else {
            "did not help"
        }
    );
    learn.save(out("model.safetensors"))?;
    // fastai's `learn.export()`: the weights with what inference needs, at the last size.
    let recipe = CnnRecipe {
        arch: "resnet34".into(),
        classes: images.classes.clone(),
        ps: args.ps.per_layer(),
        size: last_data.size(),
        stats: IMAGENET_STATS,
    };
    learn.export(out("export.safetensors"), &Recipe::Cnn(recipe))?;
    learn.recorder().plot_losses(out("losses.png"))?;
    if let Some(sweep) = &sweep {
        plot_lr_find(sweep, out("lr_find.png"))?;
    }
    let metrics = serde_json::json!({
        "error_rate": error,
        "tta_error_rate": tta_error,
        "stages": rates,
        "augment": !args.no_augment,
        "classes": images.classes,
        "seconds": start.elapsed().as_secs_f64(),
    });
    lesson6::nn::atomic::write_json(out("metrics.json"), &metrics)?;
    let written = run.out().to_path_buf();
    run.commit()?;
    println!(
        "error_rate {error:.4}; wrote {} in {:.0} s",
        written.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
