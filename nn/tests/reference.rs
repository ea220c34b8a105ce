//! The nn crate against PyTorch (`tests/reference/make_nn_goldens.py`): Linear and Embedding
//! forward and backward, BatchNorm1d/2d over three training steps (outputs, gradients,
//! running statistics) and in eval mode, and the parameter trajectories of SGD with momentum
//! and AdamW over 10 steps. Tolerance 1e-4 relative with a 1e-6 absolute floor.
#[path = "../../tests/reference/support.rs"]
mod support;

use autograd::{Gradients, Tape, Var};
use nn::layers::{BatchNorm, Embedding, Linear};
use nn::optim::{AdamW, Sgd};
use nn::{Mode, Module, Param};
use std::collections::HashMap;
use support::{assert_each_close, load_tensors};
use tensor::Tensor;

fn goldens() -> HashMap<String, Tensor> {
    load_tensors("nn")
}

fn close(what: &str, got: &Tensor, want: &Tensor) {
    assert_each_close(what, got, want, 1e-4, 1e-6);
}

#[test]
fn linear_forward_and_backward() {
    let g = goldens();
    let lin = Linear::new(nn::Vars::new(0).root(), 7, 4, true).unwrap();
    lin.weight.set(g["linear.weight"].clone());
    lin.bias.as_ref().unwrap().set(g["linear.bias"].clone());
    let tape = Tape::new();
    let xid = autograd::VarId::new();
    let x = tape.leaf(g["linear.x"].clone(), xid);
    let y = lin.forward(x, Mode::Train).unwrap();
    close("linear out", y.tensor(), &g["linear.out"]);
    let grads = y.backward_with(&g["linear.grad_out"]).unwrap();
    close(
        "linear grad_weight",
        grads.get(lin.weight.id()).unwrap(),
        &g["linear.grad_weight"],
    );
    close(
        "linear grad_bias",
        grads.get(lin.bias.as_ref().unwrap().id()).unwrap(),
        &g["linear.grad_bias"],
    );
    close(
        "linear grad_x",
        grads.get(xid).unwrap(),
        &g["linear.grad_x"],
    );
}

#[test]
fn embedding_forward_and_backward() {
    let g = goldens();
    let emb = Embedding::new(nn::Vars::new(0).root(), 6, 3).unwrap();
    emb.weight.set(g["emb.weight"].clone());
    let tape = Tape::new();
    let y = emb
        .forward(tape.input(g["emb.idx"].clone()), Mode::Train)
        .unwrap();
    close("emb out", y.tensor(), &g["emb.out"]);
    let grads = y.backward_with(&g["emb.grad_out"]).unwrap();
    close(
        "emb grad_weight",
        grads.get(emb.weight.id()).unwrap(),
        &g["emb.grad_weight"],
    );
    // An index out of range is an error naming it.
    let bad = Tensor::from_indices(&[6], &[1]).unwrap();
    let err = emb
        .forward(Var::constant(bad), Mode::Eval)
        .unwrap_err()
        .to_string();
    assert!(err.contains('6'), "{err}");
}

#[test]
fn batch_norm_training_steps_running_stats_and_eval() {
    let g = goldens();
    for (name, bn) in [
        (
            "bn1d",
            BatchNorm::new_1d(nn::Vars::new(0).root(), 5).unwrap(),
        ),
        (
            "bn2d",
            BatchNorm::new_2d(nn::Vars::new(0).root(), 3).unwrap(),
        ),
    ] {
        bn.weight.set(g[&format!("{name}.weight")].clone());
        bn.bias.set(g[&format!("{name}.bias")].clone());
        for i in 0..3 {
            let tape = Tape::new();
            let xid = autograd::VarId::new();
            let x = tape.leaf(g[&format!("{name}.x{i}")].clone(), xid);
            let y = bn.forward(x, Mode::Train).unwrap();
            close(
                &format!("{name} y{i}"),
                y.tensor(),
                &g[&format!("{name}.y{i}")],
            );
            if i == 0 {
                let grads = y.backward_with(&g[&format!("{name}.grad_out")]).unwrap();
                close(
                    &format!("{name} grad_x"),
                    grads.get(xid).unwrap(),
                    &g[&format!("{name}.grad_x")],
                );
                close(
                    &format!("{name} grad_weight"),
                    grads.get(bn.weight.id()).unwrap(),
                    &g[&format!("{name}.grad_weight")],
                );
                close(
                    &format!("{name} grad_bias"),
                    grads.get(bn.bias.id()).unwrap(),
                    &g[&format!("{name}.grad_bias")],
                );
            }
        }
        close(
            &format!("{name} running_mean"),
            &bn.running_mean.value(),
            &g[&format!("{name}.running_mean")],
        );
        close(
            &format!("{name} running_var"),
            &bn.running_var.value(),
            &g[&format!("{name}.running_var")],
        );
        assert_eq!(
            bn.num_batches_tracked.value().to_vec::<i64>().unwrap(),
            g[&format!("{name}.num_batches_tracked")]
                .to_vec::<i64>()
                .unwrap()
        );
        let y = bn
            .forward(
                Var::constant(g[&format!("{name}.x_eval")].clone()),
                Mode::Eval,
            )
            .unwrap();
        close(
            &format!("{name} eval"),
            y.tensor(),
            &g[&format!("{name}.y_eval")],
        );
    }
}

/// Gradients in which `param` has exactly `grad`: the backward of sum(p * grad).
fn gradients_of(param: &Param, grad: &Tensor) -> Gradients {
    let tape = Tape::new();
    let p = param.leaf(&tape);
    p.mul(&Var::constant(grad.clone()))
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap()
}

#[test]
fn sgd_and_adamw_trajectories_over_ten_steps() {
    let g = goldens();
    let (lr, wd) = (0.05, 0.1);
    let p = Param::new(g["opt.p0"].clone());
    let mut sgd = Sgd::new(0.9, wd);
    for i in 0..10 {
        sgd.step(&[&p], &gradients_of(&p, &g[&format!("opt.g{i}")]), lr)
            .unwrap();
        close(
            &format!("sgd p{}", i + 1),
            &p.value(),
            &g[&format!("sgd.p{}", i + 1)],
        );
    }
    let p = Param::new(g["opt.p0"].clone());
    let mut adam = AdamW::new(wd);
    for i in 0..10 {
        adam.step(&[&p], &gradients_of(&p, &g[&format!("opt.g{i}")]), lr, 0.9)
            .unwrap();
        close(
            &format!("adamw p{}", i + 1),
            &p.value(),
            &g[&format!("adamw.p{}", i + 1)],
        );
    }
    // A frozen parameter does not move.
    p.set_trainable(false);
    let before = p.value().to_vec::<f32>().unwrap();
    adam.step(&[&p], &gradients_of(&p, &g["opt.g0"]), lr, 0.9)
        .unwrap();
    assert_eq!(p.value().to_vec::<f32>().unwrap(), before);
}
