//! A small MLP and a small CNN (convolution, batch-norm-like normalisation written from
//! primitives, pooling, linear, cross-entropy) built from vars: the loss and every parameter
//! gradient must match PyTorch's (`tests/reference/make_autograd_goldens.py`) within 1e-4
//! relative, element by element, with a 1e-6 absolute floor for gradients near zero.
#[path = "../../tests/reference/support.rs"]
mod support;

use autograd::{Gradients, Tape, Var, VarId};
use std::collections::HashMap;
use support::{assert_each_close, load_tensors};
use tensor::{Conv2dParams, Tensor};

const RTOL: f64 = 1e-4;
const ATOL: f64 = 1e-6;

fn goldens() -> HashMap<String, Tensor> {
    load_tensors("autograd")
}

/// The model's parameters as leaves on `tape`, with their ids by PyTorch name.
fn params(
    g: &HashMap<String, Tensor>,
    model: &str,
    tape: &Tape,
) -> (HashMap<String, Var>, HashMap<String, VarId>) {
    let mut vars = HashMap::new();
    let mut ids = HashMap::new();
    for (name, t) in g {
        let Some(p) = name.strip_prefix(&format!("{model}.")) else {
            continue;
        };
        if p == "x" || p == "target" || p == "loss" || p.starts_with("grad.") {
            continue;
        }
        let id = VarId::new();
        vars.insert(p.to_string(), tape.leaf(t.clone(), id));
        ids.insert(p.to_string(), id);
    }
    (vars, ids)
}

fn linear(x: &Var, w: &Var, b: &Var) -> Var {
    x.matmul(&w.t().unwrap()).unwrap().add(b).unwrap()
}

fn cross_entropy(logits: &Var, target: &Tensor) -> Var {
    let n = target.elem_count();
    let picked = logits
        .log_softmax(1)
        .unwrap()
        .gather(1, &target.reshape(&[n, 1]).unwrap())
        .unwrap();
    picked.mean_all().unwrap().neg().unwrap()
}

fn assert_close(what: &str, got: &Tensor, want: &Tensor) {
    assert_each_close(what, got, want, RTOL, ATOL);
}

fn check(
    model: &str,
    g: &HashMap<String, Tensor>,
    ids: &HashMap<String, VarId>,
    loss: &Var,
    grads: &Gradients,
) {
    assert_close(
        &format!("{model} loss"),
        &loss.tensor().reshape(&[1]).unwrap(),
        &g[&format!("{model}.loss")],
    );
    for (name, id) in ids {
        let got = grads
            .get(*id)
            .unwrap_or_else(|| panic!("no gradient for {model}.{name}"));
        assert_close(
            &format!("{model} grad {name}"),
            got,
            &g[&format!("{model}.grad.{name}")],
        );
    }
    assert_eq!(
        grads.len(),
        ids.len(),
        "one gradient per parameter and no more"
    );
}

#[test]
fn mlp_matches_pytorch() {
    let g = goldens();
    let tape = Tape::new();
    let (p, ids) = params(&g, "mlp", &tape);
    let x = tape.input(g["mlp.x"].clone());
    let h = linear(&x, &p["fc1.weight"], &p["fc1.bias"]).relu().unwrap();
    let z = linear(&h, &p["fc2.weight"], &p["fc2.bias"]);
    let loss = cross_entropy(&z, &g["mlp.target"]);
    let grads = loss.backward().unwrap();
    check("mlp", &g, &ids, &loss, &grads);
}

#[test]
fn cnn_matches_pytorch() {
    let g = goldens();
    let tape = Tape::new();
    let (p, ids) = params(&g, "cnn", &tape);
    let x = tape.input(g["cnn.x"].clone());
    let h = x
        .conv2d(
            &p["conv1.weight"],
            Some(&p["conv1.bias"]),
            Conv2dParams::new(1, 1),
        )
        .unwrap();
    // Batch-norm-like normalisation from primitives: statistics over N, H, W.
    let mean = h.mean(&[0, 2, 3], true).unwrap();
    let var = h.var(&[0, 2, 3], true, false).unwrap();
    let h = h
        .sub(&mean)
        .unwrap()
        .div(&var.add_scalar(1e-5).unwrap().sqrt().unwrap())
        .unwrap();
    let gamma = p["bn.weight"].reshape(&[1, 8, 1, 1]).unwrap();
    let beta = p["bn.bias"].reshape(&[1, 8, 1, 1]).unwrap();
    let h = h.mul(&gamma).unwrap().add(&beta).unwrap().relu().unwrap();
    let h = h.max_pool2d([2, 2], Conv2dParams::new(2, 0)).unwrap();
    let h = h
        .conv2d(
            &p["conv2.weight"],
            Some(&p["conv2.bias"]),
            Conv2dParams::new(2, 1),
        )
        .unwrap()
        .relu()
        .unwrap();
    let h = h
        .adaptive_avg_pool2d([1, 1])
        .unwrap()
        .flatten_from(1)
        .unwrap();
    let z = linear(&h, &p["fc.weight"], &p["fc.bias"]);
    let loss = cross_entropy(&z, &g["cnn.target"]);
    let grads = loss.backward().unwrap();
    check("cnn", &g, &ids, &loss, &grads);
}
