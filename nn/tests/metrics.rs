//! The metrics and losses of lesson 6 on small inputs whose values are worked by hand in each
//! test's comments (PyTorch's `F.cross_entropy` and `F.mse_loss` give the same numbers).
use autograd::Var;
use nn::loss::{cross_entropy, mse_flat};
use nn::metrics::{error_rate, exp_rmspe};
use tensor::Tensor;

fn f32s(values: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(values, shape).unwrap()
}

fn assert_close(what: &str, got: f32, want: f64) {
    assert!(
        (got as f64 - want).abs() < 1e-6 * want.abs().max(1.0),
        "{what}: {got}, by hand {want}"
    );
}

/// Sales 90, 110 and 50 predicted for 100, 100 and 40, all on the log scale: the percentage
/// errors are (100-90)/100 = 0.1, (100-110)/100 = -0.1 and (40-50)/40 = -0.25, so
/// exp_rmspe = sqrt((0.01 + 0.01 + 0.0625) / 3) = sqrt(0.0275) = 0.1658312. Each error is
/// relative to the target: dividing by the prediction would give 0.1421. The predictions
/// come as the model's `[N, 1]`, the targets as `[N]`.
#[test]
fn exp_rmspe_by_hand() {
    let pred = f32s(&[90f32.ln(), 110f32.ln(), 50f32.ln()], &[3, 1]);
    let target = f32s(&[100f32.ln(), 100f32.ln(), 40f32.ln()], &[3]);
    assert_close(
        "exp_rmspe",
        exp_rmspe(&pred, &target).unwrap(),
        0.0275f64.sqrt(),
    );
}

/// Four rows of three classes whose largest logits are classes 2, 0, 1 and 1, against
/// targets 2, 0, 1 and 0: three right, so the error rate is 1 - 3/4 = 0.25.
#[test]
fn error_rate_by_hand() {
    let logits = f32s(
        &[
            0.1, 0.2, 0.9, //
            2.0, -1.0, 1.5, //
            0.0, 3.0, 0.5, //
            -0.5, 0.5, 0.0,
        ],
        &[4, 3],
    );
    let target = Tensor::from_indices(&[2, 0, 1, 0], &[4]).unwrap();
    assert_close("error_rate", error_rate(&logits, &target).unwrap(), 0.25);
}

/// Logits [1, 2, 3] with target 2: log_softmax = 3 - ln(e + e^2 + e^3) = -ln(1 + e^-1 +
/// e^-2) = -ln(1.5032147) = -0.4076060. Logits [0, 0, 0] with target 1: -ln 3 = -1.0986123.
/// The loss is minus their mean: (0.4076060 + 1.0986123) / 2 = 0.7531091.
#[test]
fn cross_entropy_by_hand() {
    let logits = Var::constant(f32s(&[1.0, 2.0, 3.0, 0.0, 0.0, 0.0], &[2, 3]));
    let target = Tensor::from_indices(&[2, 1], &[2]).unwrap();
    let loss = cross_entropy(&logits, &target).unwrap();
    assert_close(
        "cross_entropy",
        loss.tensor().to_scalar().unwrap(),
        0.7531091265562451,
    );
}

/// Predictions [[1], [2], [4]] for targets [1.5, 2, 1]: both flattened, the differences are
/// -0.5, 0 and 3, so the loss is (0.25 + 0 + 9) / 3 = 3.0833333. (Broadcasting `[3, 1]`
/// against `[3]` instead would average nine differences, to 2.4166667.)
#[test]
fn mse_flat_by_hand() {
    let pred = Var::constant(f32s(&[1.0, 2.0, 4.0], &[3, 1]));
    let target = Var::constant(f32s(&[1.5, 2.0, 1.0], &[3]));
    let loss = mse_flat(&pred, &target).unwrap();
    assert_close("mse_flat", loss.tensor().to_scalar().unwrap(), 9.25 / 3.0);
}
