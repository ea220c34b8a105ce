//! Tensors at work, with the lesson's own example: the bottom-right-edge kernel
//! `tensor([[0,-5/3,1],[-5/3,-5/3,1],[1,1,1]]).expand(1,3,3,3)/6`, applied with conv2d to
//! `t[None]` of an image. It prints the shape at every step ("the most important thing to
//! look at is shape"), shows that `expand` copies nothing, and times a GEMM.
//!
//! `cargo run --release --example tensors`
use lesson6::tensor::random::Philox;
use lesson6::tensor::{gemm, Conv2dParams, Result, Tensor};
use std::time::Instant;

/// A 3 x 64 x 64 picture in [0, 1]: a bright square on a dark background, so that the edge
/// kernel has corners to find.
fn drawn_image() -> Result<Tensor> {
    let (h, w) = (64, 64);
    let mut data = vec![0.1f32; 3 * h * w];
    for c in 0..3 {
        for y in 16..48 {
            for x in 16..48 {
                data[(c * h + y) * w + x] = 0.9;
            }
        }
    }
    Tensor::from_vec(data, &[3, h, w])
}

fn main() -> Result<()> {
    println!("== the lesson's edge kernel ==");
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
        "k {:?} -> k.expand(1,3,3,3) {:?}, strides {:?}, same storage: {}",
        k.shape(),
        expanded.shape(),
        expanded.strides(),
        expanded.shares_storage(&k)
    );
    let k = expanded.mul_scalar(1.0 / 6.0)?;
    println!(
        "k / 6 {:?}; the 27 weights sum to {:.1e}",
        k.shape(),
        k.sum_all()?.to_scalar()?
    );

    let t = drawn_image()?;
    let batch = t.unsqueeze(0)?;
    println!("t {:?} -> t[None] {:?}", t.shape(), batch.shape());
    let edge = batch.conv2d(&k, None, Conv2dParams::new(1, 0))?;
    println!("edge = conv2d(t[None], k) {:?}", edge.shape());
    // The kernel weighs the bottom row and right column of each window positively and the
    // rest negatively: it fires where dark gives way to bright towards the bottom right.
    let flat = edge.flatten_from(0)?;
    let best = flat.argmax(0, false)?.to_vec::<i64>()?[0] as usize;
    let w = edge.shape()[3];
    println!(
        "strongest response {:.3} at (y={}, x={}): the window's bottom row is the square's top edge",
        flat.max(&[0], false)?.to_scalar()?,
        best / w,
        best % w
    );

    println!("\n== a stride-2 convolution halves height and width ==");
    let w2 = Philox::new(0, 0).normal(&[8, 3, 3, 3], 0.0, 0.1)?;
    let y = batch.conv2d(&w2, None, Conv2dParams::new(2, 1))?;
    println!(
        "{:?} -> conv 3x3, stride 2, padding 1 -> {:?}",
        batch.shape(),
        y.shape()
    );

    println!("\n== matrix multiply ({}) ==", gemm::kernel_name());
    let n = 1024;
    let a = Philox::new(1, 0).uniform(&[n, n], -1.0, 1.0)?;
    let b = Philox::new(2, 0).uniform(&[n, n], -1.0, 1.0)?;
    a.matmul(&b)?;
    let start = Instant::now();
    let c = a.matmul(&b.t()?)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "[{n}, {n}] x [{n}, {n}]^T (a transposed view, not a copy) -> {:?} in {:.1} ms: {:.0} GFLOP/s",
        c.shape(),
        secs * 1e3,
        2.0 * (n * n * n) as f64 / secs / 1e9
    );

    println!("\n== errors name the op and the shapes ==");
    let err = Tensor::zeros(&[4, 3])
        .matmul(&Tensor::zeros(&[5, 2]))
        .unwrap_err();
    println!("{err}");
    Ok(())
}
