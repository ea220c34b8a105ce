//! ResNet-34 against torchvision (`tests/reference/make_resnet_golden.py`): every parameter
//! and buffer set by the script's closed formula of its name and index, written to a
//! safetensors checkpoint in torchvision's names, loaded into a fresh model, and run in eval
//! mode on the script's input: the logits match PyTorch's within 1e-4 of their largest
//! magnitude. Then the fastai model around the body: names, shapes, layer groups, the head's
//! dropouts, its parameter count (fastai's 21,831,599 for 37 classes) as `learn.summary()`
//! prints it, and checkpoints that do not fit refused with the tensor named.
#[path = "../../tests/reference/support.rs"]
mod support;

use autograd::Var;
use nn::layers::{Dropout, Sequential};
use nn::learner::{Learner, TensorData};
use nn::loss::cross_entropy;
use nn::models::{cnn_model, create_head, resnet34, Ps, CNN_GROUPS};
use nn::state_dict::{load, save, state_dict};
use nn::{Entry, Mode, Module, Vars};
use std::any::Any;
use support::load_tensors;
use tensor::Tensor;

/// The script's formula, in f64 then rounded to f32 as numpy does.
fn formula(name: &str, shape: &[usize]) -> Tensor {
    let key = name.bytes().map(|b| b as u64).sum::<u64>() % 997;
    let n: usize = shape.iter().product();
    let fan_in: usize = shape[1..].iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| {
            let s = (0.37 * i as f64 + key as f64).sin();
            let v = if name.ends_with("running_var") {
                1.0 + 0.25 * (1.0 + s)
            } else if name.ends_with("running_mean") {
                0.1 * s
            } else if name.contains("bn") || name.contains("downsample.1") {
                if name.ends_with("weight") {
                    1.0 + 0.1 * s
                } else {
                    0.1 * s
                }
            } else if name == "fc.weight" {
                s / 512f64.sqrt()
            } else if name == "fc.bias" {
                0.01 * s
            } else {
                s * (2.0 / fan_in as f64).sqrt() * 2f64.sqrt()
            };
            v as f32
        })
        .collect();
    Tensor::from_vec(v, shape).unwrap()
}

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("lesson6-resnet-{}-{name}", std::process::id()))
}

#[test]
fn resnet34_matches_torchvision() {
    let model = Vars::new(0);
    resnet34(model.root(), 1000).unwrap();
    assert_eq!(
        model.param_count(),
        21_797_672,
        "torchvision's resnet34 has 21,797,672 parameters"
    );
    for (name, e) in model.entries() {
        match e {
            Entry::Param(p) => p.set(formula(&name, p.value().shape())),
            Entry::Buffer(b) if !name.ends_with("num_batches_tracked") => {
                b.set(formula(&name, b.value().shape()))
            }
            Entry::Buffer(_) => {}
        }
    }
    let names: Vec<String> = state_dict(&model).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 218, "torchvision's state dict has 218 entries");
    for name in [
        "conv1.weight",
        "bn1.running_var",
        "layer2.0.downsample.0.weight",
        "layer4.2.bn2.num_batches_tracked",
        "fc.bias",
    ] {
        assert!(names.iter().any(|n| n == name), "no `{name}`");
    }
    let path = tmp("formula.safetensors");
    save(&model, &path).unwrap();
    let vars = Vars::new(1);
    let fresh = resnet34(vars.root(), 1000).unwrap();
    load(&vars, &path).unwrap();
    let _ = std::fs::remove_file(&path);

    let g = load_tensors("resnet34");
    let logits = fresh
        .forward(Var::constant(g["x"].clone()), Mode::Eval)
        .unwrap();
    let (got, want) = (
        logits.tensor().to_vec::<f32>().unwrap(),
        g["logits"].to_vec::<f32>().unwrap(),
    );
    assert_eq!(logits.shape(), [2, 1000]);
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("resnet34 logits: largest difference {worst:.2e}, logits up to {scale:.3}");
    assert!(
        worst <= 1e-4 * scale,
        "largest difference {worst} against logits up to {scale}"
    );
}

#[test]
fn the_cnn_learners_model_and_its_groups() {
    let vars = Vars::new(0);
    let m = cnn_model(resnet34(vars.root(), 1000).unwrap(), 37, Ps::default(), 0).unwrap();
    let names: Vec<String> = state_dict(&vars).into_iter().map(|(n, _)| n).collect();
    // The body keeps torchvision's blocks under fastai's indices; the head is m[1].
    for name in [
        "0.0.weight",
        "0.1.running_mean",
        "0.4.0.conv1.weight",
        "0.7.2.bn2.bias",
        "1.2.weight",
        "1.4.weight",
        "1.8.bias",
        "1.9.running_var",
    ] {
        assert!(names.iter().any(|n| n == name), "no `{name}` in {names:?}");
    }
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("0.8") || n.contains("fc")),
        "the classifier is not in the body"
    );
    // Every parameter is in exactly one group; the head holds the new layers.
    for (name, _) in vars.params() {
        let groups = CNN_GROUPS
            .iter()
            .filter(|g| g.iter().any(|p| name.starts_with(p)))
            .count();
        assert_eq!(groups, 1, "`{name}` is in {groups} groups");
    }
    // 224 x 224 gives the body's 512 x 7 x 7 and 37 class scores.
    let x = Var::constant(Tensor::zeros(&[2, 3, 64, 64]));
    let body = m.layers[0].forward(x.clone(), Mode::Eval).unwrap();
    assert_eq!(body.shape(), [2, 512, 2, 2]);
    assert_eq!(m.forward(x, Mode::Eval).unwrap().shape(), [2, 37]);
}

#[test]
fn the_heads_dropouts_take_ps_as_fastai() {
    // The p of the head's two dropouts (layers 3 and 7).
    let ps = |ps: Ps| -> [f32; 2] {
        let head = create_head(Vars::new(0).root(), 1024, 37, ps, 0).unwrap();
        [3, 7].map(|i| {
            let layer: &dyn Any = head.layers[i].as_ref();
            layer.downcast_ref::<Dropout>().expect("a Dropout").p
        })
    };
    // One value: the first dropout gets half of it (fastai's default 0.5: 0.25 and 0.5).
    assert_eq!(ps(Ps::default()), [0.25, 0.5]);
    assert_eq!(ps(Ps::One(0.3)), [0.15, 0.3]);
    // A list: each its own.
    assert_eq!(ps(Ps::Each([0.1, 0.2])), [0.1, 0.2]);
}

#[test]
fn the_pets_model_has_fastais_parameter_count() {
    // fastai's `learn.summary()` of cnn_learner(resnet34, bn_final=True) on 37 classes:
    // 21,284,672 in the body, 546,927 in the head (BatchNorm1d(1024), Linear(1024, 512),
    // BatchNorm1d(512), Linear(512, 37), BatchNorm1d(37)).
    const FASTAI: usize = 21_831_599;
    let vars = Vars::new(0);
    let m = cnn_model(resnet34(vars.root(), 1000).unwrap(), 37, Ps::default(), 0).unwrap();
    assert_eq!(vars.param_count(), FASTAI);
    // The summary traces two 32 x 32 images; its rows add up to the same total.
    let images = || {
        (
            vec![Tensor::zeros(&[2, 3, 32, 32])],
            Tensor::from_indices(&[0, 1], &[2]).unwrap(),
        )
    };
    let data = TensorData::new(images(), images(), 2, 0);
    let learn: Learner<Sequential> = Learner::builder(m, vars, data, cross_entropy)
        .build()
        .unwrap();
    let s = learn.summary().unwrap();
    let rows: usize = s
        .lines()
        .filter_map(|l| l.split_whitespace().rev().nth(1)?.parse::<usize>().ok())
        .sum();
    assert_eq!(rows, FASTAI, "{s}");
    assert_eq!(s.lines().last(), Some("Total params: 21831599"), "{s}");
    // Every row's output shape starts under its header, however long the layer (the first
    // convolution's description is 78 characters).
    let lines: Vec<&str> = s.lines().collect();
    let at = lines[0].find("Output Shape").expect("a header");
    for l in &lines[1..lines.len() - 1] {
        assert_eq!(l.get(at..at + 1), Some("["), "{l}");
    }
    assert!(
        s.contains("Linear(in_features=1024, out_features=512"),
        "{s}"
    );
}

#[test]
fn checkpoints_that_do_not_fit_are_refused_by_name() {
    // A fresh ResNet-34 with `classes` outputs, and its parameters.
    let resnet = |classes| {
        let vars = Vars::new(0);
        (resnet34(vars.root(), classes).unwrap(), vars)
    };
    let path = tmp("imagenet.safetensors");
    save(&resnet(1000).1, &path).unwrap();
    let err = load(&resnet(37).1, &path).unwrap_err().to_string();
    assert!(
        err.contains("`fc.weight` has shape [1000, 512] in the checkpoint but [37, 512]"),
        "{err}"
    );
    let (imagenet, vars) = resnet(1000);
    cnn_model(imagenet, 37, Ps::default(), 0).unwrap();
    let err = load(&vars, &path).unwrap_err().to_string();
    assert!(err.contains("no tensor `0.0.weight`"), "{err}");
    let _ = std::fs::remove_file(path);
}
