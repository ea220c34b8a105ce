//! The tabular model of lesson 6: the embedding-size rule against the lesson's table, the
//! Rossmann configuration's shapes and parameter count (docs/lesson6.md, Embedding sizes: 217
//! embedding columns, 233 inputs, 831,054 parameters), fastai's state-dict names and layer
//! order, the configured dropout rates and y_range reaching their layers, and a small fit
//! through the Learner.
use autograd::Var;
use nn::learner::{Learner, Lr, TensorData};
use nn::loss::mse_flat;
use nn::state_dict::state_dict;
use nn::tabular::{emb_sz_rule, TabularConfig, TabularModel};
use nn::{Mode, Module, Vars};
use tensor::random::Philox;
use tensor::Tensor;

/// Cardinalities (levels + `#na#`) of the 24 categorical columns of lesson 6, in cat order:
/// the 22 cat_vars, then CompetitionDistance_na and CloudCover_na.
const ROSSMANN: [usize; 24] = [
    1116, 8, 4, 13, 32, 3, 26, 27, 5, 4, 4, 24, 9, 13, 53, 22, 7, 7, 4, 4, 9, 9, 3, 3,
];

fn rossmann(y_max: f32) -> TabularConfig {
    TabularConfig::lesson6(
        ROSSMANN.iter().map(|&n| (n, emb_sz_rule(n))).collect(),
        16,
        (0.0, y_max),
    )
}

#[test]
fn embedding_sizes_follow_the_lesson() {
    let widths: Vec<usize> = ROSSMANN.iter().map(|&n| emb_sz_rule(n)).collect();
    assert_eq!(
        widths,
        [81, 5, 3, 7, 11, 3, 10, 10, 4, 3, 3, 9, 5, 7, 15, 9, 5, 5, 3, 3, 5, 5, 3, 3]
    );
    assert_eq!(widths.iter().sum::<usize>(), 217);
    assert_eq!(emb_sz_rule(1_000_000), 600);
}

#[test]
fn rossmann_model_shapes_names_and_parameter_count() {
    let vars = Vars::new(0);
    let model = TabularModel::new(vars.root(), &rossmann((41551.0f32 * 1.2).ln()), 0).unwrap();
    assert_eq!(vars.param_count(), 831_054);
    let names: Vec<String> = state_dict(&vars).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[0], "embeds.0.weight");
    assert_eq!(
        names[24..29],
        [
            "bn_cont.weight",
            "bn_cont.bias",
            "bn_cont.running_mean",
            "bn_cont.running_var",
            "bn_cont.num_batches_tracked"
        ]
    );
    assert_eq!(names[29], "layers.0.weight");
    assert!(
        names.contains(&"layers.2.running_var".to_string())
            && names.contains(&"layers.6.weight".to_string())
    );
    assert_eq!(names.last().unwrap(), "layers.8.bias");
    assert_eq!(
        state_dict(&vars)
            .iter()
            .find(|(n, _)| n == "layers.0.weight")
            .unwrap()
            .1
            .shape(),
        &[1000, 233]
    );
    // Forward: [N, 24] codes and [N, 16] values give [N, 1] inside y_range.
    let n = 5;
    let codes: Vec<i64> = (0..n * 24).map(|i| (i % 3) as i64).collect();
    let x_cat = Var::constant(Tensor::from_indices(&codes, &[n, 24]).unwrap());
    let x_cont = Var::constant(Philox::new(0, 0).normal(&[n, 16], 0.0, 1.0).unwrap());
    let y = model.forward((x_cat, x_cont.clone()), Mode::Eval).unwrap();
    assert_eq!(y.shape(), &[n, 1]);
    let hi = (41551.0f32 * 1.2).ln();
    assert!(y
        .tensor()
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .all(|&v| v > 0.0 && v < hi));
    // A code beyond a column's cardinality is an error, not a read out of bounds.
    let mut bad = codes.clone();
    bad[0] = 1116;
    let bad = Var::constant(Tensor::from_indices(&bad, &[n, 24]).unwrap());
    let err = model.forward((bad, x_cont), Mode::Eval).unwrap_err();
    assert!(err.to_string().contains("1116"), "{err}");
}

#[test]
fn a_small_tabular_model_learns_through_the_learner() {
    // y = 0.5 * level of the first column - level of the second / 3 + 0.3 * the continuous value.
    let n = 1024;
    let rng = Philox::new(4, 0);
    let levels: Vec<i64> = (0..2 * n as u64)
        .map(|i| (rng.word(i) % 5) as i64)
        .collect();
    let cont = Philox::new(5, 0).normal(&[n, 1], 0.0, 1.0).unwrap();
    let cv = cont.to_vec::<f32>().unwrap();
    let y: Vec<f32> = (0..n)
        .map(|i| 0.5 * levels[2 * i] as f32 - levels[2 * i + 1] as f32 / 3.0 + 0.3 * cv[i] + 2.0)
        .collect();
    let x_cat = Tensor::from_indices(&levels, &[n, 2]).unwrap();
    let y = Tensor::from_vec(y, &[n, 1]).unwrap();
    let cut = 768;
    let split =
        |t: &Tensor, a: usize, b: usize| t.narrow(0, a, b - a).unwrap().contiguous().unwrap();
    let data = TensorData::new(
        (
            vec![split(&x_cat, 0, cut), split(&cont, 0, cut)],
            split(&y, 0, cut),
        ),
        (
            vec![split(&x_cat, cut, n), split(&cont, cut, n)],
            split(&y, cut, n),
        ),
        64,
        1,
    );
    let cfg = TabularConfig {
        embeddings: vec![(5, 3), (5, 3)],
        n_cont: 1,
        out: 1,
        layers: vec![32],
        ps: vec![0.0],
        emb_drop: 0.0,
        y_range: Some((0.0, 5.0)),
    };
    let vars = Vars::new(1);
    let model = TabularModel::new(vars.root(), &cfg, 1).unwrap();
    let mut learn = Learner::builder(model, vars, data, |out, t| {
        mse_flat(out, &Var::constant(t.clone()))
    })
    .verbose(false)
    .build()
    .unwrap();
    let (before, _) = learn.validate().unwrap();
    learn.fit_one_cycle(8, Lr::Single(3e-2), None).unwrap();
    let after = learn.recorder().epochs.last().unwrap().valid_loss;
    assert!(
        after < 0.02 && after < before / 20.0,
        "valid MSE {before} -> {after}"
    );
}

#[path = "shared/dropout_of_ones.rs"]
mod dropout_of_ones;

/// Sets the parameter `name` to `value`.
fn set(vars: &Vars, name: &str, value: Tensor) {
    let params = vars.params();
    let (_, p) = params.iter().find(|(n, _)| n == name).unwrap();
    p.set(value);
}

/// The `[d, d]` identity matrix: a Linear layer that passes its input through.
fn identity(d: usize) -> Tensor {
    let eye: Vec<f32> = (0..d * d)
        .map(|i| if i % (d + 1) == 0 { 1.0 } else { 0.0 })
        .collect();
    Tensor::from_vec(eye, &[d, d]).unwrap()
}

/// The output in `mode`, for 50 rows, of a model of one categorical column with a single
/// level, with the parameters named in `settings` set to their values.
fn output_of(cfg: TabularConfig, settings: &[(&str, Tensor)], mode: Mode) -> Vec<f32> {
    let vars = Vars::new(5);
    let model = TabularModel::new(vars.root(), &cfg, 5).unwrap();
    for (name, value) in settings {
        set(&vars, name, value.clone());
    }
    let rows = 50;
    let codes = Var::constant(Tensor::from_indices(&vec![0; rows], &[rows, 1]).unwrap());
    let no_values = Var::constant(Tensor::zeros(&[rows, 0]));
    let y = model.forward((codes, no_values), mode).unwrap();
    assert_eq!(y.shape(), &[rows, cfg.out]);
    y.tensor().to_vec().unwrap()
}

/// The configuration's dropout rates reach the layers fastai puts them in: `emb_drop` on the
/// embeddings, `ps[0]` after the first hidden layer's batch norm. Each is seen in the
/// training-time output of 50 rows of 400 values, which is that dropout of ones: the
/// embedding is ones and the last Linear an identity, and for `ps`, the batch norm before the
/// dropout has weight 0 and bias 1, so it outputs ones.
#[test]
fn the_configured_dropout_rates_reach_their_layers() {
    let d = 400;
    let cfg = TabularConfig {
        embeddings: vec![(1, d)],
        n_cont: 0,
        out: d,
        layers: vec![],
        ps: vec![],
        emb_drop: 0.3,
        y_range: None,
    };
    let y = output_of(
        cfg,
        &[
            ("embeds.0.weight", Tensor::ones(&[1, d])),
            ("layers.0.weight", identity(d)),
            ("layers.0.bias", Tensor::zeros(&[d])),
        ],
        Mode::Train,
    );
    dropout_of_ones::assert_dropout_of_ones("emb_drop 0.3", &y, 0.3);
    let cfg = TabularConfig {
        embeddings: vec![(1, 8)],
        n_cont: 0,
        out: d,
        layers: vec![d],
        ps: vec![0.2],
        emb_drop: 0.0,
        y_range: None,
    };
    let y = output_of(
        cfg,
        &[
            ("layers.2.weight", Tensor::zeros(&[d])),
            ("layers.2.bias", Tensor::ones(&[d])),
            ("layers.4.weight", identity(d)),
            ("layers.4.bias", Tensor::zeros(&[d])),
        ],
        Mode::Train,
    );
    dropout_of_ones::assert_dropout_of_ones("ps[0] 0.2", &y, 0.2);
}

/// The configuration's `y_range` reaches the model with its low end: with the last Linear's
/// weights 0 and its bias ln 3, every output is -2 + (3 - (-2)) * sigmoid(ln 3) = -2 + 5 * 3/4
/// = 1.75 for `y_range` (-2, 3).
#[test]
fn the_configured_y_range_keeps_its_low_end() {
    let cfg = TabularConfig {
        embeddings: vec![(1, 4)],
        n_cont: 0,
        out: 1,
        layers: vec![],
        ps: vec![],
        emb_drop: 0.0,
        y_range: Some((-2.0, 3.0)),
    };
    let y = output_of(
        cfg,
        &[
            ("layers.0.weight", Tensor::zeros(&[1, 4])),
            ("layers.0.bias", Tensor::full(3f32.ln(), &[1])),
        ],
        Mode::Eval,
    );
    assert!(y.iter().all(|v| (v - 1.75).abs() < 1e-5), "{:?}", &y[..3]);
}
