//! Tensors at work: views that copy nothing (`expand`, a transpose), a timed GEMM, and an
//! error that names the op and the shapes. The lesson's edge kernel and convolutions are in
//! `examples/convolution.rs`.
//!
//! `cargo run --release --example tensors`
mod report;

use lesson6::tensor::random::Philox;
use lesson6::tensor::{gemm, Result, Tensor};
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    report::exit(run())
}

fn run() -> Result<()> {
    println!("== views copy nothing ==");
    let k = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    let expanded = k.expand(&[4, 2, 3])?;
    println!(
        "k {:?} -> k.expand(4, 2, 3) {:?}, strides {:?}, same storage: {}",
        k.shape(),
        expanded.shape(),
        expanded.strides(),
        expanded.shares_storage(&k)
    );
    let t = k.t()?;
    println!(
        "k.t() {:?}, strides {:?}, same storage: {}; contiguous() copies: {}",
        t.shape(),
        t.strides(),
        t.shares_storage(&k),
        !t.contiguous()?.shares_storage(&k)
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
