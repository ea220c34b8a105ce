//! GPU kernels against the device's own copy bandwidth, measured in the same run: dropout
//! forward (its backward is the same kernel), a permuted (strided) copy, batch norm forward and
//! backward and at inference on (64, 256, 56, 56), ResNet's stem max pool (3x3, stride 2, on
//! (64, 64, 112, 112)) forward and backward, and the Rossmann store embedding's backward
//! (1116 x 81, batch 512) by atomics and by sorted segments, and all 24 of the model's
//! embeddings looked up and back at batch 512 (the grouped lookup); ResNet-34's convolutions
//! shape by shape (forward, input and weight gradients); then whole models: a Rossmann
//! training epoch at batch 512 through the `Learner` (the same case as `compare.rs`'s
//! `tabular_epoch_bs512`) and a ResNet-34 training step at batch 64, 224 x 224 (with the
//! most device memory it held). Prints one table; skips, saying why, without a GPU. Run:
//! `cargo bench --bench gpu` (scripts/gpu-check.sh runs it on a lent GPU).
use lesson6::autograd::{Tape, Var};
use lesson6::nn::learner::{Learner, Lr, TensorData};
use lesson6::nn::loss::{cross_entropy, mse_flat};
use lesson6::nn::models::resnet34;
use lesson6::nn::optim::Sgd;
use lesson6::nn::tabular::TabularModel;
use lesson6::nn::{Mode, Module, Param, Vars};
use lesson6::tensor::random::Philox;
use lesson6::tensor::{Accumulate, Conv2dParams, Device, Gpu, Tensor};
use std::time::Instant;

#[path = "shared/mod.rs"]
mod shared;
use shared::{rossmann_config, rossmann_rows, EPOCH_ROWS};

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

/// The sizes timed: the issue's, or, with `LESSON6_BENCH_SMOKE` set, tiny ones that only check
/// that every case runs (on the host's stand-in GPU, before a real one is spent on it).
struct Sizes {
    image: [usize; 4],
    stem: [usize; 4],
    rows: usize,
    resnet: (usize, usize),
    reps: usize,
}

impl Sizes {
    fn chosen() -> Sizes {
        if std::env::var_os("LESSON6_BENCH_SMOKE").is_some() {
            Sizes {
                image: [2, 8, 6, 6],
                stem: [2, 4, 9, 9],
                rows: 1024,
                resnet: (2, 32),
                reps: 1,
            }
        } else {
            Sizes {
                image: [64, 256, 56, 56],
                stem: [64, 64, 112, 112],
                rows: EPOCH_ROWS,
                resnet: (64, 224),
                reps: 20,
            }
        }
    }
}

fn main() {
    let sizes = Sizes::chosen();
    let reps = |r: usize| r.min(sizes.reps.max(1) * r / 20).max(1);
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

    let n: usize = sizes.image.iter().product();
    let channels = sizes.image[1];
    let x = Philox::new(1, 0)
        .uniform(&sizes.image, -1.0, 1.0)
        .unwrap()
        .to_device(dev)
        .unwrap();
    let bytes = 2.0 * 4.0 * n as f64; // one read, one write
    let copy = time(&gpu, reps(20), || {
        x.copy().unwrap();
    });
    let copy_bw = gb(bytes, copy);
    // A kernel's time, the bandwidth its `moved` bytes make, and its share of the copy's.
    let row = |name: &str, seconds: f64, moved: f64| {
        println!(
            "{:<44} {:>9.3} {:>10.0} {:>7.0}%",
            name,
            seconds * 1e3,
            gb(moved, seconds),
            100.0 * gb(moved, seconds) / copy_bw
        )
    };
    println!(
        "{:<44} {:>9} {:>10} {:>8}",
        "kernel", "ms", "GB/s", "of copy"
    );
    row(&format!("device-to-device copy, {n} f32"), copy, bytes);

    let drop = time(&gpu, reps(20), || {
        x.dropout(0.5, Philox::new(3, 1)).unwrap();
    });
    row(
        &format!("dropout forward (= backward), {n} f32"),
        drop,
        bytes,
    );

    // A strided copy (NCHW to NHWC) divides each element's index by the sizes: by magic
    // numbers since StridedLayout carries them, so it should run near copy speed.
    let nhwc = x.permute(&[0, 2, 3, 1]).unwrap();
    let permuted = time(&gpu, reps(20), || {
        nhwc.contiguous().unwrap();
    });
    row(
        &format!("permuted copy NCHW -> NHWC, {n} f32"),
        permuted,
        bytes,
    );

    let (w, b) = (
        Tensor::ones(&[channels]).to_device(dev).unwrap(),
        Tensor::zeros(&[channels]).to_device(dev).unwrap(),
    );
    let dy = x.mul_scalar(0.5).unwrap();
    let bn = time(&gpu, reps(10), || {
        let (_, m, v) = x.batch_norm(&w, &b, 1e-5, None).unwrap();
        dy.batch_norm_backward(&x, &w, &m, &v, 1e-5).unwrap();
    });
    // The bytes the two fused kernels must move: forward reads x twice and writes y; backward
    // reads dy and x twice and writes dx.
    let bn_bytes = 8.0 * 4.0 * n as f64;
    row(
        &format!("batch norm fwd+bwd {:?}", sizes.image),
        bn,
        bn_bytes,
    );

    // Batch norm at inference: the running statistics folded into a scale and a shift per
    // channel, then one pass (one read, one write).
    let eval = time(&gpu, reps(20), || {
        x.channel_affine(&w, &b).unwrap();
    });
    row(&format!("batch norm eval {:?}", sizes.image), eval, bytes);

    // The stem's max pool with its indices, then its gradient gathered per input pixel. The
    // bytes it must move: x read and the maxima (f32) and indices (i64) written, a quarter
    // of x's count each; then dy and the indices read and dx written.
    let stem = Philox::new(6, 0)
        .uniform(&sizes.stem, -1.0, 1.0)
        .unwrap()
        .to_device(dev)
        .unwrap();
    let pool = Conv2dParams::new(2, 1);
    let pooled = stem.max_pool2d_values([3, 3], pool).unwrap();
    let pool_dy = pooled.mul_scalar(0.5).unwrap();
    let max_pool = time(&gpu, reps(20), || {
        let (_, i) = stem.max_pool2d([3, 3], pool).unwrap();
        pool_dy
            .max_pool2d_backward(&i, &sizes.stem, [3, 3], pool)
            .unwrap();
    });
    let (x_bytes, y_elems) = (4.0 * stem.elem_count() as f64, pooled.elem_count() as f64);
    row(
        &format!("max pool 3x3/2 fwd+bwd {:?}", sizes.stem),
        max_pool,
        2.0 * x_bytes + 2.0 * 12.0 * y_elems,
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
        let t = time(&gpu, reps(50), || {
            zeros.index_add_with(0, &idx, &grad, how).unwrap();
        });
        println!(
            "{:<44} {:>9.3}",
            format!("embedding backward 1116x81, batch 512, {how:?}"),
            t * 1e3
        );
    }

    // All 24 of the Rossmann model's embeddings at batch 512: the grouped lookup of every
    // table and its adjoint (one launch each), as the model's step runs them.
    let emb_sizes: Vec<[usize; 2]> = rossmann_config()
        .embeddings
        .iter()
        .map(|&(n, d)| [n, d])
        .collect();
    let tables: Vec<Tensor> = emb_sizes
        .iter()
        .zip(7..)
        .map(|(s, seed)| {
            Philox::new(seed, 0)
                .uniform(s, -0.01, 0.01)
                .unwrap()
                .to_device(dev)
                .unwrap()
        })
        .collect();
    let refs: Vec<&Tensor> = tables.iter().collect();
    let codes = rossmann_rows(512, 40).0[0].to_device(dev).unwrap();
    let width: usize = emb_sizes.iter().map(|s| s[1]).sum();
    let emb_dy = Philox::new(6, 1)
        .uniform(&[512, width], -1.0, 1.0)
        .unwrap()
        .to_device(dev)
        .unwrap();
    let grouped = time(&gpu, reps(50), || {
        Tensor::embeddings_cat(&refs, &codes).unwrap();
        emb_dy.embeddings_cat_backward(&codes, &emb_sizes).unwrap();
    });
    println!(
        "{:<44} {:>9.3}",
        "24 embeddings lookup + backward, batch 512",
        grouped * 1e3
    );

    // A Rossmann epoch at batch 512 through the Learner, as compare.rs times it on the CPU.
    let vars = Vars::new(0);
    let model = TabularModel::new(vars.root(), &rossmann_config(), 0).unwrap();
    let data = TensorData::new(
        rossmann_rows(sizes.rows, 20),
        rossmann_rows(512, 30),
        512,
        0,
    );
    let mut learn = Learner::builder(model, vars, data, |out, y| {
        mse_flat(out, &Var::constant(y.clone()))
    })
    .device(dev)
    .verbose(false)
    .build()
    .unwrap();
    let epoch = time(&gpu, reps(5), || {
        learn.fit_one_cycle(1, Lr::Single(1e-3), None).unwrap();
    });
    println!(
        "{:<44} {:>9.1}",
        format!("Rossmann epoch, {} rows, batch 512", sizes.rows),
        epoch * 1e3
    );

    // ResNet-34's convolutions one shape at a time (its stem and the 3x3 convolution of each
    // stage, at the step's batch), forward, input gradient and weight gradient each: where a
    // step's time goes, against cuDNN's on the same shapes in gpu_torch.py. The count says
    // how many of a step's convolutions have that shape (a stage's first, strided one aside).
    // Each shape twice: with the default chunks of columns (256 MiB, the batch in one or two
    // products) and with chunks that stay in the L2 cache (24 MiB), to see which is faster.
    let default_columns = gpu.conv_columns();
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>9}",
        "convolution (batch, c -> co, size, count)", "fwd ms", "dx ms", "dw ms", "TFLOP/s"
    );
    let side = sizes.resnet.1;
    for (c, co, k, stride, hw, count) in [
        (3, 64, 7, 2, side, 1),
        (64, 64, 3, 1, side / 4, 6),
        (128, 128, 3, 1, side / 8, 7),
        (256, 256, 3, 1, side / 16, 11),
        (512, 512, 3, 1, side / 32, 5),
    ] {
        let p = Conv2dParams::new(stride, k / 2);
        let shape = [sizes.resnet.0, c, hw, hw];
        let x = Philox::new(41, 0)
            .uniform(&shape, -1.0, 1.0)
            .unwrap()
            .to_device(dev)
            .unwrap();
        let w = Philox::new(42, 0)
            .uniform(&[co, c, k, k], -0.1, 0.1)
            .unwrap()
            .to_device(dev)
            .unwrap();
        let y = x.conv2d(&w, None, p).unwrap();
        let dy = y.mul_scalar(0.5).unwrap();
        // Each pass is one product of 2 * (c k k) * co * (batch * out pixels) flops.
        let flops = 2.0 * (c * k * k * co) as f64 * (y.elem_count() / co) as f64;
        for (columns, chunks) in [(default_columns, ""), (24 << 20, ", L2 chunks")] {
            gpu.set_conv_columns(columns);
            let fwd = time(&gpu, reps(10), || {
                x.conv2d(&w, None, p).unwrap();
            });
            let dx = time(&gpu, reps(10), || {
                dy.conv2d_backward_input(&w, &shape, p).unwrap();
            });
            let dw = time(&gpu, reps(10), || {
                dy.conv2d_backward_weight(&x, [k, k], p).unwrap();
            });
            println!(
                "{:<44} {:>9.3} {:>9.3} {:>9.3} {:>9.1}",
                format!(
                    "{k}x{k}/{stride}, {}, {c} -> {co}, {hw}, x{count}{chunks}",
                    shape[0]
                ),
                fwd * 1e3,
                dx * 1e3,
                dw * 1e3,
                3.0 * flops / (fwd + dx + dw) / 1e12
            );
        }
        gpu.set_conv_columns(default_columns);
    }

    // ResNet-34 at batch 64, 224 x 224: forward, cross-entropy, backward, SGD step.
    let vars = Vars::new(0);
    let model = resnet34(vars.root(), 1000).unwrap();
    vars.to_device(dev).unwrap();
    let x = Philox::new(40, 0)
        .uniform(
            &[sizes.resnet.0, 3, sizes.resnet.1, sizes.resnet.1],
            -1.0,
            1.0,
        )
        .unwrap()
        .to_device(dev)
        .unwrap();
    let batch = sizes.resnet.0;
    let labels: Vec<i64> = (0..batch as i64).map(|i| i * 37 % 1000).collect();
    let y = Tensor::from_indices(&labels, &[batch])
        .unwrap()
        .to_device(dev)
        .unwrap();
    let mut sgd = Sgd::new(0.9, 0.0);
    let params: Vec<_> = vars.params().into_iter().map(|(_, p)| p).collect();
    let params: Vec<&Param> = params.iter().map(|p| p.as_ref()).collect();
    gpu.reset_memory_high_water().unwrap();
    let step = time(&gpu, reps(5), || {
        let tape = Tape::new();
        let out = model.forward(tape.input(x.clone()), Mode::Train).unwrap();
        let grads = cross_entropy(&out, &y).unwrap().backward().unwrap();
        sgd.step(&params, &grads, 1e-3).unwrap();
    });
    println!(
        "{:<44} {:>9.1} {:>10.0} img/s",
        &format!("ResNet-34 training step, batch {batch}, {}", sizes.resnet.1),
        step * 1e3,
        batch as f64 / step
    );
    // The most device memory held at once over those steps (live tensors and the freed
    // buffers kept for reuse), against PyTorch's max_memory_reserved in gpu_torch.py.
    match gpu.memory_high_water().unwrap() {
        Some(bytes) => println!(
            "{:<44} {:>9.2} GiB",
            "ResNet-34 step, device memory high-water",
            bytes as f64 / (1u64 << 30) as f64
        ),
        None => println!("ResNet-34 step, device memory high-water: no memory pool to ask"),
    }
}
