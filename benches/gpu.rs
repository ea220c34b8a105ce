//! GPU kernels against the device's own copy bandwidth, measured in the same run: dropout
//! forward (its backward is the same kernel), batch norm forward + backward on
//! (64, 256, 56, 56), and the Rossmann store embedding's backward (1116 x 81, batch 512) by
//! atomics and by sorted segments. Prints one table; skips, saying why, without a GPU.
//! Run: `cargo bench --bench gpu` (scripts/gpu-check.sh runs it on a lent GPU).
use std::time::Instant;
use tensor::random::Philox;
use tensor::{Accumulate, Device, Gpu, Tensor};

/// Median seconds of `reps` runs of `f`, each followed by a device synchronisation.
fn time(gpu: &Gpu, reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    gpu.synchronize().unwrap();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            f();
            gpu.synchronize().unwrap();
            start.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

fn main() {
    let gpu = match Gpu::get(0) {
        Ok(g) => g,
        Err(e) => {
            println!("skipped: {e}");
            return;
        }
    };
    let dev = Device::Cuda(0);
    println!("device: {}", gpu.name().unwrap_or_default());
    let gb = |bytes: f64, s: f64| bytes / s / 1e9;

    let n = 64 * 256 * 56 * 56;
    let x = Philox::new(1, 0)
        .uniform(&[64, 256, 56, 56], -1.0, 1.0)
        .unwrap()
        .to_device(dev)
        .unwrap();
    let bytes = 2.0 * 4.0 * n as f64; // one read, one write
    let copy = time(&gpu, 20, || {
        x.copy().unwrap();
    });
    let copy_bw = gb(bytes, copy);
    println!(
        "{:<44} {:>9} {:>10} {:>8}",
        "kernel", "ms", "GB/s", "of copy"
    );
    println!(
        "{:<44} {:>9.3} {:>10.0} {:>7.0}%",
        "device-to-device copy, 51M f32",
        copy * 1e3,
        copy_bw,
        100.0
    );

    let drop = time(&gpu, 20, || {
        x.dropout(0.5, Philox::new(3, 1)).unwrap();
    });
    println!(
        "{:<44} {:>9.3} {:>10.0} {:>7.0}%",
        "dropout forward (= backward), 51M f32",
        drop * 1e3,
        gb(bytes, drop),
        100.0 * gb(bytes, drop) / copy_bw
    );

    let (w, b) = (
        Tensor::ones(&[256]).to_device(dev).unwrap(),
        Tensor::zeros(&[256]).to_device(dev).unwrap(),
    );
    let dy = x.mul_scalar(0.5).unwrap();
    let bn = time(&gpu, 10, || {
        let (_, m, v) = x.batch_norm(&w, &b, 1e-5).unwrap();
        dy.batch_norm_backward(&x, &w, &m, &v, 1e-5).unwrap();
    });
    // The bytes the two fused kernels must move: forward reads x twice and writes y; backward
    // reads dy and x twice and writes dx.
    let bn_bytes = 8.0 * 4.0 * n as f64;
    println!(
        "{:<44} {:>9.3} {:>10.0} {:>7.0}%",
        "batch norm fwd+bwd (64,256,56,56)",
        bn * 1e3,
        gb(bn_bytes, bn),
        100.0 * gb(bn_bytes, bn) / copy_bw
    );

    let ids: Vec<i64> = (0..512).map(|i| (i * 7919 % 1116) as i64).collect();
    let idx = Tensor::from_indices(&ids, &[512])
        .unwrap()
        .to_device(dev)
        .unwrap();
    let grad = Philox::new(5, 0)
        .uniform(&[512, 81], -1.0, 1.0)
        .unwrap()
        .to_device(dev)
        .unwrap();
    let zeros = Tensor::zeros(&[1116, 81]).to_device(dev).unwrap();
    for how in [Accumulate::Atomic, Accumulate::Sorted] {
        let t = time(&gpu, 50, || {
            zeros.index_add_with(0, &idx, &grad, how).unwrap();
        });
        println!(
            "{:<44} {:>9.3}",
            format!("embedding backward 1116x81, batch 512, {how:?}"),
            t * 1e3
        );
    }
}
