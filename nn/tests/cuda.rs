//! Training on a GPU takes the same steps as on the host: the lesson's tabular model and a
//! small CNN (convolution, batch norm, ReLU, max pooling, a ResNet block's residual, fastai's
//! concat pooling, cross-entropy) each train three AdamW steps from the same initial weights
//! on both devices, and their losses and weights must agree within 1e-4 relative (the
//! reductions add in different orders; dropout draws the same masks on both); the CNN, none of
//! whose sums depends on the order atomics run in, also twice on the GPU, to the bit; and the
//! `Learner` fits an epoch, predicts and checkpoints the same on both. Without a GPU
//! each test says why and passes; `scripts/gpu-check.sh` runs them where one is lent.
use autograd::{Tape, Var};
use nn::layers::{
    AdaptiveConcatPool2d, BatchNorm, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential,
};
use nn::learner::{Inputs, Learner, Lr, TensorData};
use nn::loss::{cross_entropy, mse_flat};
use nn::models::BasicBlock;
use nn::optim::AdamW;
use nn::tabular::{TabularConfig, TabularModel};
use nn::{Mode, Module, Vars};
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

/// Three AdamW steps of `model` (its parameters in `vars`) on `device` with the batch moved
/// there; the losses.
fn train<M: Module<I, Output = Var>, I: Inputs>(
    (model, vars): &(M, Vars),
    device: Device,
    inputs: &[Tensor],
    loss: impl Fn(&Var) -> autograd::Result<Var>,
) -> Vec<f32> {
    vars.to_device(device).unwrap();
    let mut opt = AdamW::new(0.1);
    let params: Vec<_> = vars.params().into_iter().map(|(_, p)| p).collect();
    let params: Vec<&nn::Param> = params.iter().map(|p| p.as_ref()).collect();
    (0..3)
        .map(|_| {
            let tape = Tape::new();
            let xs: Vec<Var> = inputs
                .iter()
                .map(|t| tape.input(t.to_device(device).unwrap()))
                .collect();
            let out = model.forward(I::from_vars(xs).unwrap(), Mode::Train);
            let l = loss(&out.unwrap()).unwrap();
            let value = l.tensor().to_scalar().unwrap();
            opt.step(&params, &l.backward().unwrap(), 1e-2, 0.9)
                .unwrap();
            value
        })
        .collect()
}

fn weights(vars: &Vars) -> Vec<(String, Vec<f32>)> {
    vars.params()
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
    let make = || {
        let vars = Vars::new(1);
        (TabularModel::new(vars.root(), &cfg, 1).unwrap(), vars)
    };
    let (on_cpu, on_gpu) = (make(), make());
    let codes: Vec<i64> = (0..64).flat_map(|i| [i % 10, (i * 3) % 7]).collect();
    let inputs = [
        Tensor::from_indices(&codes, &[64, 2]).unwrap(),
        Philox::new(2, 0).normal(&[64, 3], 0.0, 1.0).unwrap(),
    ];
    let y = Philox::new(3, 0).uniform(&[64, 1], 1.0, 4.0).unwrap();
    let cpu = train(&on_cpu, Device::Cpu, &inputs, |o| {
        mse_flat(o, &Var::constant(y.clone()))
    });
    let yg = y.to_device(dev).unwrap();
    let gpu = train(&on_gpu, dev, &inputs, |o| {
        mse_flat(o, &Var::constant(yg.clone()))
    });
    close("losses", &gpu, &cpu);
    for ((name, g), (_, c)) in weights(&on_gpu.1).iter().zip(&weights(&on_cpu.1)) {
        close(name, g, c);
    }
}

#[test]
fn a_small_cnn_trains_the_same_on_the_gpu() {
    let Some(dev) = gpu() else { return };
    let make = || {
        let vars = Vars::new(4);
        let p = vars.root();
        let model = Sequential::new()
            .push(Conv2d::new(p.pp(0), 3, 8, 3, Conv2dParams::new(2, 1), false).unwrap())
            .push(BatchNorm::new_2d(p.pp(1), 8).unwrap())
            .push(ReLU)
            .push(MaxPool2d {
                kernel: 3,
                params: Conv2dParams::new(2, 1),
            })
            .push(BasicBlock::new(p.pp(4), 8, 16, 2).unwrap())
            .push(AdaptiveConcatPool2d { out: [1, 1] })
            .push(Flatten)
            .push(Linear::new(p.pp(7), 32, 5, true).unwrap());
        (model, vars)
    };
    let (on_cpu, on_gpu, again) = (make(), make(), make());
    let x = Philox::new(5, 0).normal(&[6, 3, 29, 31], 0.0, 1.0).unwrap();
    let target = Tensor::from_indices(&[0, 1, 2, 3, 4, 0], &[6]).unwrap();
    let cpu = train(&on_cpu, Device::Cpu, std::slice::from_ref(&x), |o| {
        cross_entropy(o, &target)
    });
    let tg = target.to_device(dev).unwrap();
    let gpu = train(&on_gpu, dev, std::slice::from_ref(&x), |o| {
        cross_entropy(o, &tg)
    });
    close("losses", &gpu, &cpu);
    for ((name, g), (_, c)) in weights(&on_gpu.1).iter().zip(&weights(&on_cpu.1)) {
        close(name, g, c);
    }
    // No sum in this network depends on the order atomics run in (the pooling gradients and
    // col2im are gathered; cross-entropy's scatter_add puts one term in each place), so a
    // second run on the GPU takes the same steps to the bit.
    let twice = train(&again, dev, &[x], |o| cross_entropy(o, &tg));
    assert_eq!(twice, gpu, "losses of two GPU runs");
    assert_eq!(
        weights(&again.1),
        weights(&on_gpu.1),
        "weights of two GPU runs"
    );
}

#[test]
fn moving_to_the_host_changes_nothing() {
    let vars = Vars::new(1);
    Linear::new(vars.root().pp(0), 3, 2, true).unwrap();
    let before = weights(&vars);
    vars.to_device(Device::Cpu).unwrap();
    assert_eq!(weights(&vars), before);
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
        let vars = Vars::new(8);
        let p = vars.root();
        // No bias before the batch norm, which would cancel it: its gradient would be
        // rounding noise, whose sign AdamW's first steps turn into a full step either way.
        let model = Sequential::new()
            .push(Linear::new(p.pp(0), 2, 16, false).unwrap())
            .push(BatchNorm::new_1d(p.pp(1), 16).unwrap())
            .push(ReLU)
            .push(Linear::new(p.pp(3), 16, 2, true).unwrap());
        let data = TensorData::new(quadrants(96, 1), quadrants(40, 2), 32, 7);
        let mut learn = Learner::builder(model, vars, data, cross_entropy)
            .metric("accuracy", nn::metrics::accuracy)
            .device(device)
            .verbose(false)
            .build()
            .unwrap();
        learn.fit_one_cycle(1, Lr::Single(1e-2), None).unwrap();
        learn
    };
    let (cpu, on_gpu) = (fit(Device::Cpu), fit(dev));
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
    close(
        "batch losses",
        &f32s(&on_gpu.recorder().losses),
        &f32s(&cpu.recorder().losses),
    );
    let epoch = |l: &Learner<Sequential>| {
        let e = &l.recorder().epochs[0];
        let mut v = vec![e.train_loss, e.valid_loss];
        v.extend(&e.metrics);
        f32s(&v)
    };
    close("epoch results", &epoch(&on_gpu), &epoch(&cpu));
    for ((name, g), (_, c)) in weights(on_gpu.vars()).iter().zip(&weights(cpu.vars())) {
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
    for ((name, g), (_, c)) in weights(on_gpu.vars()).iter().zip(&weights(cpu.vars())) {
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
