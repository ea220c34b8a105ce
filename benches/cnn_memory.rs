//! Peak memory of one forward + backward of a small CNN (batch 64, 3x32x32 images), for
//! `benches/cnn_memory.py` to compare with PyTorch: the model of `autograd/tests/composite.rs`
//! at a realistic size. Prints the rise of the resident set's high-water mark during the
//! first step, after inputs and parameters exist (the high-water mark is reset through
//! /proc/self/clear_refs first, Linux only).
//!
//! `cargo bench --bench cnn_memory`; `cargo bench --bench cnn_memory -- resnet34` measures a
//! training step (forward, backward) of ResNet-34 on 16 images of 224 x 224 instead.
use lesson6::autograd::{Tape, Var, VarId};
use lesson6::nn::loss::cross_entropy;
use lesson6::nn::models::resnet34;
use lesson6::nn::{Mode, Module, Vars};
use lesson6::tensor::random::Philox;
use lesson6::tensor::{Conv2dParams, Tensor};

fn status_kb(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn rand(shape: &[usize], seed: u64, scale: f32) -> Tensor {
    Philox::new(seed, 0).uniform(shape, -scale, scale).unwrap()
}

/// Prints the high-water mark's rise during `step`, cold then warm, and its height above the
/// resident set before the first step.
fn measure<R>(step: impl Fn() -> R, count: impl Fn(&R) -> usize) {
    // Two figures: the first step (cold: every buffer is new) and a second one (warm: both
    // engines reuse memory their allocators kept, ours through the buffer cache). The rise
    // during the warm step leaves out what an allocator kept from the first; the height
    // above the start counts it, so it is the step's real footprint.
    let start = status_kb("VmRSS:").unwrap_or(0);
    for label in ["cold", "warm"] {
        let before = status_kb("VmRSS:").unwrap_or(0);
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let grads = step();
        let peak = status_kb("VmHWM:").unwrap_or(0);
        let rise = peak.saturating_sub(before) as f64 / 1024.0;
        let height = peak.saturating_sub(start) as f64 / 1024.0;
        println!(
            "lesson6\t{label}\tpeak_rise_mib\t{rise:.1}\tpeak_over_start_mib\t{height:.1}\tgradients\t{}",
            count(&grads)
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "resnet34") {
        let model = resnet34(Vars::new(0).root(), 1000).unwrap();
        let x = rand(&[16, 3, 224, 224], 1, 1.0);
        let y = Tensor::from_indices(&(0..16).map(|i| i * 37 % 1000).collect::<Vec<i64>>(), &[16])
            .unwrap();
        let step = || {
            let tape = Tape::new();
            let out = model.forward(tape.input(x.clone()), Mode::Train).unwrap();
            cross_entropy(&out, &y).unwrap().backward().unwrap()
        };
        measure(step, |g| g.len());
        return;
    }
    let x = rand(&[64, 3, 32, 32], 1, 1.0);
    let target =
        Tensor::from_indices(&(0..64).map(|i| i % 10).collect::<Vec<i64>>(), &[64, 1]).unwrap();
    let shapes: [(&str, Vec<usize>); 8] = [
        ("conv1.weight", vec![32, 3, 3, 3]),
        ("conv1.bias", vec![32]),
        ("bn.weight", vec![1, 32, 1, 1]),
        ("bn.bias", vec![1, 32, 1, 1]),
        ("conv2.weight", vec![64, 32, 3, 3]),
        ("conv2.bias", vec![64]),
        ("fc.weight", vec![10, 64]),
        ("fc.bias", vec![10]),
    ];
    let params: Vec<(Tensor, VarId)> = shapes
        .iter()
        .enumerate()
        .map(|(i, (_, s))| (rand(s, 10 + i as u64, 0.2), VarId::new()))
        .collect();
    let step = || {
        let tape = Tape::new();
        let p: Vec<Var> = params
            .iter()
            .map(|(t, id)| tape.leaf(t.clone(), *id))
            .collect();
        let h = tape
            .input(x.clone())
            .conv2d(&p[0], Some(&p[1]), Conv2dParams::new(1, 1))
            .unwrap();
        let mean = h.mean(&[0, 2, 3], true).unwrap();
        let var = h.var(&[0, 2, 3], true, false).unwrap();
        let h = h
            .sub(&mean)
            .unwrap()
            .div(&var.add_scalar(1e-5).unwrap().sqrt().unwrap())
            .unwrap();
        let h = h.mul(&p[2]).unwrap().add(&p[3]).unwrap().relu().unwrap();
        let h = h.max_pool2d([2, 2], Conv2dParams::new(2, 0)).unwrap();
        let h = h
            .conv2d(&p[4], Some(&p[5]), Conv2dParams::new(1, 1))
            .unwrap()
            .relu()
            .unwrap();
        let h = h
            .adaptive_avg_pool2d([1, 1])
            .unwrap()
            .flatten_from(1)
            .unwrap();
        let z = h.matmul(&p[6].t().unwrap()).unwrap().add(&p[7]).unwrap();
        let loss = z
            .log_softmax(1)
            .unwrap()
            .gather(1, &target)
            .unwrap()
            .mean_all()
            .unwrap()
            .neg()
            .unwrap();
        loss.backward().unwrap()
    };
    measure(step, |g| g.len());
}
