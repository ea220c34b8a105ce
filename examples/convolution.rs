//! Convolutions as the lesson explains them, printing the shape at every step ("the most
//! important thing to look at is shape"):
//!
//! 1. the bottom-right-edge kernel `tensor([[0,-5/3,1],[-5/3,-5/3,1],[1,1,1]]).expand(1,3,3,3)/6`
//!    (expand copies nothing), applied with conv2d to `t[None]` of an image (a file you give,
//!    or a drawn one), written as PNG;
//! 2. "a convolution is just a matrix multiply": for a 3x3 image and a 2x2 kernel, the
//!    weight-tied sparse matrix, and that multiplying by it is the convolution;
//! 3. im2col: the column matrix of a tiny input, and that one GEMM on it is the convolution;
//! 4. a stride-2 convolution halves height and width.
//!
//! `cargo run --release --example convolution [-- IMAGE] [--out DIR]`
mod inputs;
mod report;

use clap::Parser;
use lesson6::nn::run_dir::RunDir;
use lesson6::nn::vision::{load_image, save_png};
use lesson6::tensor::{Conv2dParams, Tensor};
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "The lesson's edge kernel, convolution as a matrix, im2col and stride 2")]
struct Args {
    /// An image (JPEG or PNG); without one, a drawn square is used.
    image: Option<PathBuf>,
    #[arg(long, default_value = "out/convolution")]
    out: PathBuf,
}

/// A 3 x 64 x 64 picture in [0, 1]: a bright square on a dark background.
fn drawn_image() -> lesson6::tensor::Result<Tensor> {
    let (h, w) = (64, 64);
    let data = (0..3 * h * w)
        .map(|i| {
            let (y, x) = ((i / w) % h, i % w);
            if (16..48).contains(&y) && (16..48).contains(&x) {
                0.9f32
            } else {
                0.1
            }
        })
        .collect();
    Tensor::from_vec(data, &[3, h, w])
}

/// Prints a matrix with one decimal.
fn print_matrix(name: &str, t: &Tensor) -> lesson6::tensor::Result<()> {
    println!("{name} {:?}:", t.shape());
    let cols = t.shape()[1];
    for row in t.to_vec::<f32>()?.chunks(cols) {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:5.1}")).collect();
        println!("  [{}]", cells.join(" "));
    }
    Ok(())
}

fn main() -> ExitCode {
    report::exit(run(&Args::parse()))
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    println!("== 1. the lesson's bottom-right-edge kernel ==");
    let k = Tensor::from_slice(
        &[
            0.0f32,
            -5.0 / 3.0,
            1.0,
            -5.0 / 3.0,
            -5.0 / 3.0,
            1.0,
            1.0,
            1.0,
            1.0,
        ],
        &[3, 3],
    )?;
    let expanded = k.expand(&[1, 3, 3, 3])?;
    println!(
        "k {:?} -> k.expand(1,3,3,3) {:?}, strides {:?} (the channel axis has stride 0), same storage: {}",
        k.shape(),
        expanded.shape(),
        expanded.strides(),
        expanded.shares_storage(&k)
    );
    let k = expanded.mul_scalar(1.0 / 6.0)?;
    let t = match &args.image {
        Some(path) => {
            inputs::regular_file(path, "image")?;
            load_image(path)?
        }
        None => drawn_image()?,
    };
    let batch = t.unsqueeze(0)?;
    println!(
        "t {:?} -> t[None] {:?} (a mini-batch of one)",
        t.shape(),
        batch.shape()
    );
    let edge = batch.conv2d(&k, None, Conv2dParams::new(1, 0))?;
    println!(
        "edge = conv2d(t[None], k) {:?}: one output channel, 2 pixels smaller (no padding)",
        edge.shape()
    );
    // Show positive responses (bottom-right edges) bright, scaled to the largest.
    let pos = edge.relu()?;
    let peak = pos.max(&[0, 1, 2, 3], false)?.to_scalar()?.max(1e-6);
    let picture = pos
        .mul_scalar(1.0 / peak)?
        .squeeze(0)?
        .expand(&[3, edge.shape()[2], edge.shape()[3]])?
        .contiguous()?;
    let out_dir = RunDir::open(&args.out, "convolution")?;
    save_png(&picture, out_dir.join("edges.png"))?;
    save_png(&t, out_dir.join("input.png"))?;
    out_dir.commit()?;
    println!(
        "wrote {} and input.png",
        args.out.join("edges.png").display()
    );

    println!("\n== 2. a convolution is a matrix multiply ==");
    let w = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[1, 1, 2, 2])?;
    let x = Tensor::from_slice(
        &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        &[1, 1, 3, 3],
    )?;
    print_matrix("kernel (a b / c d)", &w.reshape(&[2, 2])?)?;
    print_matrix("image", &x.reshape(&[3, 3])?)?;
    let m = w.conv2d_matrix([3, 3], Conv2dParams::new(1, 0))?;
    print_matrix(
        "weight-tied matrix M (each row: the kernel over one output pixel's window)",
        &m,
    )?;
    let by_matrix = m.matmul(&x.reshape(&[9, 1])?)?;
    let conv = x.conv2d(&w, None, Conv2dParams::new(1, 0))?;
    println!(
        "M x = {:?}, conv2d = {:?}: equal: {}",
        by_matrix.to_vec::<f32>()?,
        conv.to_vec::<f32>()?,
        by_matrix.to_vec::<f32>()? == conv.to_vec::<f32>()?
    );

    println!("\n== 3. im2col: every window as a column, then one GEMM ==");
    let cols = x.im2col(2, 2, Conv2dParams::new(1, 0))?;
    print_matrix(
        "im2col(image) (rows: kernel taps, columns: output pixels)",
        &cols.squeeze(0)?,
    )?;
    let gemm = w.reshape(&[1, 4])?.matmul(&cols.squeeze(0)?)?;
    println!(
        "kernel [1, 4] x cols [4, 4] = {:?}: equal to conv2d: {}",
        gemm.to_vec::<f32>()?,
        gemm.to_vec::<f32>()? == conv.to_vec::<f32>()?
    );

    println!("\n== 4. stride 2 halves height and width ==");
    let w2 = Tensor::ones(&[8, 3, 3, 3]).mul_scalar(1.0 / 27.0)?;
    for stride in [1, 2] {
        let y = batch.conv2d(&w2, None, Conv2dParams::new(stride, 1))?;
        println!(
            "{:?} -> conv 3x3 to 8 channels, stride {stride}, padding 1 -> {:?}",
            batch.shape(),
            y.shape()
        );
    }
    Ok(())
}
