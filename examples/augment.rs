//! One image under the pets training transforms (fastai's `get_transforms` with the lesson's
//! `max_rotate=20, max_zoom=1.3, max_lighting=0.4, max_warp=0.4, p_affine=1, p_lighting=1`),
//! nine draws in a 3x3 grid, once for each padding mode: what the pixels outside the image
//! become when a rotation, zoom or warp pulls them in (zeros: black; border: the edge pixel
//! smeared outwards; reflection, the lesson's choice: the image mirrored, which looks most
//! like a real photo). The nine draws are the same in the three grids.
//!
//! `cargo run --release --example augment [-- IMAGE] [--size 128] [--out DIR]`
mod inputs;
mod report;

use clap::builder::RangedU64ValueParser;
use clap::Parser;
use lesson6::datasets::shapes::draw_shape;
use lesson6::nn::run_dir::RunDir;
use lesson6::nn::vision::{load_image, save_png, Padding, Transforms};
use lesson6::tensor::random::Philox;
use lesson6::tensor::Tensor;
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "A 3x3 grid of one image under the lesson's augmentation, per padding mode")]
struct Args {
    /// A JPEG or PNG; without one, a drawn cross from the pets example's embedded set.
    image: Option<PathBuf>,
    /// Side of each augmented image, from 16 to 1024.
    #[arg(long, default_value_t = 128, value_parser = RangedU64ValueParser::<usize>::new().range(16..=1024))]
    size: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value = "out/augment")]
    out: PathBuf,
}

/// The nine `[3, size, size]` images side by side with 4-pixel white gaps.
fn grid(images: &[Tensor], size: usize) -> Result<Tensor, Box<dyn Error>> {
    let side = 3 * size + 8;
    let mut out = vec![1f32; 3 * side * side];
    for (i, img) in images.iter().enumerate() {
        let (y0, x0) = ((i / 3) * (size + 4), (i % 3) * (size + 4));
        let v = img.to_vec::<f32>()?;
        for c in 0..3 {
            for y in 0..size {
                let dst = ((c * side) + y0 + y) * side + x0;
                out[dst..dst + size].copy_from_slice(&v[(c * size + y) * size..][..size]);
            }
        }
    }
    Ok(Tensor::from_vec(out, &[3, side, side])?)
}

fn main() -> ExitCode {
    report::exit(run(&Args::parse()))
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let img = match &args.image {
        Some(p) => {
            inputs::regular_file(p, "image")?;
            load_image(p)?
        }
        None => draw_shape(4, 0, 2),
    };
    println!(
        "image {:?}; transforms {:?}",
        img.shape(),
        Transforms::lesson6()
    );
    let draws: Vec<_> = (0..9)
        .map(|i| Transforms::lesson6().draw(Philox::new(args.seed, i)))
        .collect();
    for (i, d) in draws.iter().enumerate() {
        println!("draw {i}: {d:?}");
    }
    let out_dir = RunDir::open(&args.out, "augment")?;
    for (name, padding) in [
        ("zeros", Padding::Zeros),
        ("border", Padding::Border),
        ("reflection", Padding::Reflection),
    ] {
        let images = draws
            .iter()
            .map(|d| d.apply(&img, args.size, padding))
            .collect::<Result<Vec<_>, _>>()?;
        let file = format!("augment_{name}.png");
        save_png(&grid(&images, args.size)?, out_dir.join(&file))?;
        println!(
            "{name}: {} images of {:?} -> {}",
            images.len(),
            images[0].shape(),
            args.out.join(&file).display()
        );
    }
    out_dir.commit()?;
    Ok(())
}
