//! Training on a GPU takes the same steps as on the host: the lesson's tabular model and a
//! small CNN (convolution, batch norm, ReLU, max pooling, a ResNet block's residual, fastai's
//! concat pooling, cross-entropy) each train three AdamW steps from the same initial weights
//! on both devices, and their losses and weights must agree within 1e-4 relative (the
//! reductions add in different orders; dropout draws the same masks on both); the CNN, none of
//! whose sums depends on the order atomics run in, also twice on the GPU, to the bit; and the
//! `Learner` fits an epoch, predicts and checkpoints the same on both. Without a GPU
//! each test says why and passes; `scripts/gpu-check.sh` runs them where one is lent.
use autograd::{Tape, Var};
use nn::init::Init;
use nn::layers::{
    AdaptiveConcatPool2d, BatchNorm, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential,
};
use nn::learner::{Learner, Lr, TensorData};
use nn::loss::{cross_entropy, mse_flat};
use nn::models::BasicBlock;
use nn::module::{named_params, to_device};
use nn::optim::AdamW;
use nn::tabular::{TabularConfig, TabularModel};
use nn::{Mode, Module};
use tensor::random::Philox;
use tensor::{Conv2dParams, Device, Gpu, Tensor};

fn gpu() -> Option<Device> {
    match Gpu::get(0) {
        Ok(_) => Some(Device::Cuda(0)),
        Err(e) => {
            eprintln!("skipped: {e}");
            None
        }
    }
}

fn close(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-4 * y.abs().max(1e-2),
            "{what}[{i}]: GPU {x}, CPU {y}"
        );
    }
}

/// Three AdamW steps of `model` on `device` with the batch moved there; the losses.
fn train<M: Module>(
    model: &M,
    device: Device,
    inputs: &[Tensor],
    loss: impl Fn(&Var) -> autograd::Result<Var>,
    fwd: impl Fn(&M, &[Var]) -> autograd::Result<Var>,
) -> Vec<f32> {
    to_device(model, device).unwrap();
    let mut opt = AdamW::new(0.1);
    let params: Vec<_> = named_params(model).into_iter().map(|(_, p)| p).collect();
    (0..3)
        .map(|_| {
            let tape = Tape::new();
            let xs: Vec<Var> = inputs
                .iter()
                .map(|t| tape.input(t.to_device(device).unwrap()))
                .collect();
            let l = loss(&fwd(model, &xs).unwrap()).unwrap();
            let value = l.tensor().to_scalar().unwrap();
            opt.step(&params, &l.backward().unwrap(), 1e-2, 0.9)
                .unwrap();
            value
        })
        .collect()
}

fn weights<M: Module>(model: &M) -> Vec<(String, Vec<f32>)> {
    named_params(model)
        .into_iter()
        .map(|(n, p)| (n, p.value().to_vec::<f32>().unwrap()))
        .collect()
}

#[test]
fn the_tabular_model_trains_the_same_on_the_gpu() {
    let Some(dev) = gpu() else { return };
    let cfg = TabularConfig {
        embeddings: vec![(10, 4), (7, 3)],
        n_cont: 3,
        out: 1,
        layers: vec![32, 16],
        ps: vec![0.1, 0.2],
        emb_drop: 0.05,
        y_range: Some((0.0, 5.0)),
    };
    let make = || TabularModel::new(&Init::new(1), &cfg, 1).unwrap();
    let (on_cpu, on_gpu) = (make(), make());
    let codes: Vec<i64> = (0..64).flat_map(|i| [i % 10, (i * 3) % 7]).collect();
    let inputs = [
        Tensor::from_indices(&codes, &[64, 2]).unwrap(),
        Philox::new(2, 0).normal(&[64, 3], 0.0, 1.0).unwrap(),
    ];
    let y = Philox::new(3, 0).uniform(&[64, 1], 1.0, 4.0).unwrap();
    let fwd = |m: &TabularModel, x: &[Var]| m.forward2(&x[0], &x[1], Mode::Train);
    let cpu = train(
        &on_cpu,
        Device::Cpu,
        &inputs,
        |o| mse_flat(o, &Var::constant(y.clone())),
        fwd,
    );
    let yg = y.to_device(dev).unwrap();
    let gpu = train(
        &on_gpu,
        dev,
        &inputs,
        |o| mse_flat(o, &Var::constant(yg.clone())),
        fwd,
    );
    close("losses", &gpu, &cpu);
    for ((name, g), (_, c)) in weights(&on_gpu).iter().zip(&weights(&on_cpu)) {
        close(name, g, c);
    }
}

#[test]
fn a_small_cnn_trains_the_same_on_the_gpu() {
    let Some(dev) = gpu() else { return };
    let make = || {
        let init = Init::new(4);
        Sequential::new()
            .push(Conv2d::new(&init, 3, 8, 3, Conv2dParams::new(2, 1), false).unwrap())
            .push(BatchNorm::new_2d(8))
            .push(ReLU)
            .push(MaxPool2d {
                kernel: 3,
                params: Conv2dParams::new(2, 1),
            })
            .push(BasicBlock::new(&init, 8, 16, 2).unwrap())
            .push(AdaptiveConcatPool2d { out: [1, 1] })
            .push(Flatten)
            .push(Linear::new(&init, 32, 5, true).unwrap())
    };
    let (on_cpu, on_gpu, again) = (make(), make(), make());
    let x = Philox::new(5, 0).normal(&[6, 3, 29, 31], 0.0, 1.0).unwrap();
    let target = Tensor::from_indices(&[0, 1, 2, 3, 4, 0], &[6]).unwrap();
    let fwd = |m: &Sequential, x: &[Var]| m.forward(&x[0], Mode::Train);
    let cpu = train(
        &on_cpu,
        Device::Cpu,
        std::slice::from_ref(&x),
        |o| cross_entropy(o, &target),
        fwd,
    );
    let tg = target.to_device(dev).unwrap();
    let gpu = train(
        &on_gpu,
        dev,
        std::slice::from_ref(&x),
        |o| cross_entropy(o, &tg),
        fwd,
    );
    close("losses", &gpu, &cpu);
    for ((name, g), (_, c)) in weights(&on_gpu).iter().zip(&weights(&on_cpu)) {
        close(name, g, c);
    }
    // No sum in this network depends on the order atomics run in (the pooling gradients and
    // col2im are gathered; cross-entropy's scatter_add puts one term in each place), so a
    // second run on the GPU takes the same steps to the bit.
    let twice = train(&again, dev, &[x], |o| cross_entropy(o, &tg), fwd);
    assert_eq!(twice, gpu, "losses of two GPU runs");
    assert_eq!(weights(&again), weights(&on_gpu), "weights of two GPU runs");
}

#[test]
fn moving_to_the_host_changes_nothing() {
    let model = Sequential::new().push(Linear::new(&Init::new(1), 3, 2, true).unwrap());
    let before = weights(&model);
    to_device(&model, Device::Cpu).unwrap();
    assert_eq!(weights(&model), before);
}

#[path = "shared/quadrants.rs"]
mod shared;

/// [`shared::quadrants`] as a Learner's data: the inputs and the labels.
fn quadrants(n: usize, seed: u64) -> (Vec<Tensor>, Tensor) {
    let (x, y) = shared::quadrants(n, seed);
    (vec![x], y)
}

#[test]
fn the_learner_fits_and_predicts_the_same_on_the_gpu() {
    let Some(dev) = gpu() else { return };
    // A one-cycle epoch through the Learner (batches moved to the device, the smoothed
    // loss read each step, validation with a metric), then predictions and a checkpoint.
    let fit = |device: Device| {
        let init = Init::new(8);
        // No bias before the batch norm, which would cancel it: its gradient would be
        // rounding noise, whose sign AdamW's first steps turn into a full step either way.
        let model = Sequential::new()
            .push(Linear::new(&init, 2, 16, false).unwrap())
            .push(BatchNorm::new_1d(16))
            .push(ReLU)
            .push(Linear::new(&init, 16, 2, true).unwrap());
        let data = TensorData::new(quadrants(96, 1), quadrants(40, 2), 32, 7);
        let mut learn = Learner::new(model, Box::new(data), cross_entropy)
            .metric("accuracy", nn::metrics::accuracy)
            .to_device(device)
            .unwrap();
        learn.verbose = false;
        learn.fit_one_cycle(1, Lr::Single(1e-2), None).unwrap();
        learn
    };
    let (cpu, on_gpu) = (fit(Device::Cpu), fit(dev));
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
    close(
        "batch losses",
        &f32s(&on_gpu.recorder.losses),
        &f32s(&cpu.recorder.losses),
    );
    let epoch = |l: &Learner<Sequential>| {
        let e = &l.recorder.epochs[0];
        let mut v = vec![e.train_loss, e.valid_loss];
        v.extend(&e.metrics);
        f32s(&v)
    };
    close("epoch results", &epoch(&on_gpu), &epoch(&cpu));
    for ((name, g), (_, c)) in weights(&on_gpu.model).iter().zip(&weights(&cpu.model)) {
        close(name, g, c);
    }
    let (x, _) = quadrants(10, 3);
    let predicted = on_gpu.predict(&x, 4).unwrap();
    close(
        "predictions",
        &predicted.to_vec::<f32>().unwrap(),
        &cpu.predict(&x, 4).unwrap().to_vec::<f32>().unwrap(),
    );
    // A checkpoint written from the GPU holds the CPU's weights and loads back.
    let dir = std::env::temp_dir().join(format!("lesson6-gpu-learner-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    on_gpu.save(&path).unwrap();
    cpu.load(&path).unwrap();
    for ((name, g), (_, c)) in weights(&on_gpu.model).iter().zip(&weights(&cpu.model)) {
        assert_eq!(g, c, "{name} after loading the GPU's checkpoint");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[path = "../../tensor/tests/host/fake_gpu.rs"]
mod fake_gpu;

/// Every test above, run again on the host's stand-in for a GPU (see
/// `tensor/tests/host/fake_gpu.rs`): the training steps through the whole GPU path.
#[test]
fn every_test_above_on_a_stand_in_gpu() {
    fake_gpu::run_this_binary_on_the_stand_in("every_test_above_on_a_stand_in_gpu");
}
