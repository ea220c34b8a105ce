//! State dicts (round trip, refusal of corrupt, foreign and mismatched files, atomic save),
//! the one-cycle schedule at its landmarks and along its cosines, and two tiny end-to-end
//! trainings whose losses must fall below stated values.
use autograd::{Tape, Var};
use nn::layers::{BatchNorm, Dropout, Linear, ReLU, Sequential};
use nn::loss::{cross_entropy, mse_flat};
use nn::optim::AdamW;
use nn::schedule::OneCycle;
use nn::state_dict::{load, save, state_dict};
use nn::{Mode, Module, Vars};
use tensor::random::Philox;
use tensor::Tensor;

/// A small MLP and its parameters.
fn mlp(seed: u64, inputs: usize, outputs: usize) -> (Sequential, Vars) {
    let vars = Vars::new(seed);
    let p = vars.root();
    let model = Sequential::new()
        .push(Linear::new(p.pp(0), inputs, 16, true).unwrap())
        .push(ReLU)
        .push(BatchNorm::new_1d(p.pp(2), 16).unwrap())
        .push(Dropout::new(0.1, seed))
        .push(Linear::new(p.pp(4), 16, outputs, true).unwrap());
    (model, vars)
}

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("lesson6-nn-{}-{name}", std::process::id()))
}

#[test]
fn state_dict_names_follow_pytorch() {
    let names: Vec<String> = state_dict(&mlp(0, 3, 2).1)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        [
            "0.weight",
            "0.bias",
            "2.weight",
            "2.bias",
            "2.running_mean",
            "2.running_var",
            "2.num_batches_tracked",
            "4.weight",
            "4.bias"
        ]
    );
}

#[test]
fn state_dict_round_trip_and_refusals() {
    let (a, b) = (mlp(1, 3, 2).1, mlp(2, 3, 2).1);
    let path = tmp("round-trip.safetensors");
    save(&a, &path).unwrap();
    load(&b, &path).unwrap();
    for ((na, ta), (nb, tb)) in state_dict(&a).into_iter().zip(state_dict(&b)) {
        assert_eq!(na, nb);
        assert_eq!(ta.dtype(), tb.dtype(), "{na}");
        assert_eq!(
            ta.to_dtype(tensor::DType::F64)
                .unwrap()
                .to_vec::<f64>()
                .unwrap(),
            tb.to_dtype(tensor::DType::F64)
                .unwrap()
                .to_vec::<f64>()
                .unwrap(),
            "{na}"
        );
    }
    // A truncated file is refused and the model is untouched.
    let bytes = std::fs::read(&path).unwrap();
    let cut = tmp("truncated.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let c = mlp(3, 3, 2).1;
    let values = |v: &Vars| -> Vec<Vec<f64>> {
        (state_dict(v).iter())
            .map(|(_, t)| t.to_dtype(tensor::DType::F64).unwrap().to_vec().unwrap())
            .collect()
    };
    let before = values(&c);
    let err = load(&c, &cut).unwrap_err().to_string();
    assert!(err.contains("not a valid safetensors checkpoint"), "{err}");
    assert_eq!(values(&c), before);
    // A foreign file.
    let junk = tmp("junk.safetensors");
    std::fs::write(&junk, b"PK\x03\x04 this is a zip, not a checkpoint").unwrap();
    assert!(load(&c, &junk)
        .unwrap_err()
        .to_string()
        .contains("not a valid safetensors"));
    // A wrongly shaped, a missing and an extra tensor are each named.
    let err = load(&mlp(0, 4, 2).1, &path).unwrap_err().to_string();
    assert!(
        err.contains("`0.weight` has shape [16, 3] in the checkpoint but [16, 4]"),
        "{err}"
    );
    let smaller = Vars::new(0);
    Linear::new(smaller.root().pp(0), 3, 16, true).unwrap();
    let err = load(&smaller, &path).unwrap_err().to_string();
    assert!(
        err.contains("the model does not") && err.contains('`'),
        "{err}"
    );
    let bigger = mlp(0, 3, 2).1;
    Linear::new(bigger.root().pp(5), 2, 2, true).unwrap();
    let err = load(&bigger, &path).unwrap_err().to_string();
    assert!(err.contains("has no tensor `5.weight`"), "{err}");
    // An interrupted save (here: the target's directory cannot take the temporary file)
    // leaves the existing checkpoint as it was.
    let dir = tmp("dir");
    std::fs::create_dir_all(&dir).unwrap();
    let blocked = dir.join("model.safetensors");
    std::fs::write(&blocked, &bytes).unwrap();
    std::fs::create_dir_all(blocked.with_extension(format!("tmp-{}", std::process::id()))).unwrap();
    assert!(save(&c, &blocked).is_err());
    assert_eq!(std::fs::read(&blocked).unwrap(), bytes);
    for p in [path, cut, junk] {
        let _ = std::fs::remove_file(p);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn one_cycle_landmarks() {
    let oc = OneCycle::new(1e-3);
    let n = 1000;
    let (lr0, m0) = oc.at(0, n);
    assert!((lr0 - 1e-3 / 25.0).abs() < 1e-12 && (m0 - 0.95).abs() < 1e-12);
    let (lr1, m1) = oc.at(300, n); // a1 = int(1000 * 0.3)
    assert!((lr1 - 1e-3).abs() < 1e-12 && (m1 - 0.85).abs() < 1e-12);
    let (lr_mid, m_mid) = oc.at(150, n); // halfway up: the cosine's midpoint
    assert!((lr_mid - (1e-3 + 1e-3 / 25.0) / 2.0).abs() < 1e-12 && (m_mid - 0.9).abs() < 1e-12);
    let (lr_end, m_end) = oc.at(n, n);
    assert!((lr_end - 1e-3 / 25.0 / 1e4).abs() < 1e-15 && (m_end - 0.95).abs() < 1e-12);
    let (lr_q, _) = oc.at(300 + 350, n); // halfway down
    assert!((lr_q - (1e-3 + 1e-3 / 25.0 / 1e4) / 2.0).abs() < 1e-12);
}

/// Between the landmarks, where a linear ramp and a cosine part: fastai's `annealing_cos`,
/// `end + (start - end) / 2 * (1 + cos(pi * q))`, at q = 0.15 and 0.65 of each phase of
/// 1000 iterations with fastai v1's defaults (div_factor 25, final_div 1e4, pct_start 0.3,
/// moms (0.95, 0.85)), worked by hand: cos(0.15 pi) = 0.8910065 and cos(0.65 pi) =
/// -0.4539905, so 1 + cos is 1.8910065 and 0.5460095. Up (300 iterations, lr 4e-5 -> 1e-3,
/// momentum 0.95 -> 0.85): at t = 45, lr = 1e-3 - 4.8e-4 * 1.8910065 = 9.231687e-5 (a linear
/// ramp: 1.84e-4), momentum = 0.85 + 0.05 * 1.8910065 = 0.9445503; at t = 195, lr = 1e-3 -
/// 4.8e-4 * 0.5460095 = 7.379154e-4, momentum 0.8773005. Down (700 iterations, lr 1e-3 ->
/// 4e-9, momentum 0.85 -> 0.95): at t = 300 + 105, lr = 4e-9 + 0.499998e-3 * 1.8910065 =
/// 9.455035e-4, momentum = 0.95 - 0.05 * 1.8910065 = 0.8554497; at t = 300 + 455, lr = 4e-9 +
/// 0.499998e-3 * 0.5460095 = 2.730077e-4, momentum 0.9226995.
#[test]
fn one_cycle_follows_fastais_cosine_between_the_landmarks() {
    let oc = OneCycle::new(1e-3);
    for (t, lr, mom) in [
        (45, 9.231687e-5, 0.9445503),
        (195, 7.379154e-4, 0.8773005),
        (405, 9.455035e-4, 0.8554497),
        (755, 2.730077e-4, 0.9226995),
    ] {
        let (got_lr, got_mom) = oc.at(t, 1000);
        assert!(
            (got_lr - lr).abs() < 1e-6 * lr && (got_mom - mom).abs() < 1e-6,
            "iteration {t}: lr {got_lr}, momentum {got_mom}; by hand {lr}, {mom}"
        );
    }
}

fn train(
    (model, vars): &(Sequential, Vars),
    x: &Tensor,
    loss_of: impl Fn(&Var) -> autograd::Result<Var>,
    steps: usize,
    max_lr: f64,
) -> (f32, f32) {
    let params: Vec<_> = vars.params().into_iter().map(|(_, p)| p).collect();
    let params: Vec<&nn::Param> = params.iter().map(|p| p.as_ref()).collect();
    let mut opt = AdamW::new(1e-2);
    let sched = OneCycle::new(max_lr);
    let eval = |m: &Sequential| {
        loss_of(&m.forward(Var::constant(x.clone()), Mode::Eval).unwrap())
            .unwrap()
            .tensor()
            .to_scalar()
            .unwrap()
    };
    let first = eval(model);
    for t in 0..steps {
        let tape = Tape::new();
        let out = model.forward(tape.input(x.clone()), Mode::Train).unwrap();
        let grads = loss_of(&out).unwrap().backward().unwrap();
        let (lr, mom) = sched.at(t, steps);
        opt.step(&params, &grads, lr as f32, mom as f32).unwrap();
    }
    (first, eval(model))
}

#[test]
fn a_tiny_regression_learns() {
    // y = sum of sin(x_i) over 3 inputs, 256 samples.
    let x = Philox::new(5, 0).uniform(&[256, 3], -1.5, 1.5).unwrap();
    let y = x
        .to_vec::<f32>()
        .unwrap()
        .chunks(3)
        .map(|r| r.iter().map(|v| v.sin()).sum::<f32>())
        .collect::<Vec<_>>();
    let y = Var::constant(Tensor::from_vec(y, &[256, 1]).unwrap());
    let model = mlp(7, 3, 1);
    let (before, after) = train(&model, &x, |out| mse_flat(out, &y), 300, 1e-2);
    assert!(
        after < 0.05 && after < before / 10.0,
        "MSE {before} -> {after}"
    );
}

#[test]
fn a_tiny_classification_learns() {
    // Three classes by the angle of a 2-D point.
    let x = Philox::new(9, 0).uniform(&[240, 2], -1.0, 1.0).unwrap();
    let target: Vec<i64> = x
        .to_vec::<f32>()
        .unwrap()
        .chunks(2)
        .map(|p| {
            ((p[1].atan2(p[0]) + std::f32::consts::PI) / (2.0 * std::f32::consts::PI / 3.0))
                .min(2.0) as i64
        })
        .collect();
    let target = Tensor::from_indices(&target, &[240]).unwrap();
    let model = mlp(3, 2, 3);
    let (before, after) = train(&model, &x, |out| cross_entropy(out, &target), 300, 1e-2);
    assert!(
        after < 0.25 && before > 1.0,
        "cross-entropy {before} -> {after}"
    );
    let logits = model
        .0
        .forward(Var::constant(x.clone()), Mode::Eval)
        .unwrap();
    let acc = nn::metrics::accuracy(logits.tensor(), &target).unwrap();
    assert!(acc > 0.9, "accuracy {acc}");
}
