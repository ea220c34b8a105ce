//! The Learner's guards: a loss that stops being a number ends a fit with an error naming the
//! epoch and the batch, before the bad step touches the weights (fastai's `TerminateOnNaN`);
//! data without a full training batch or a validation row is refused before any step; a pass
//! whose batches were all left out is an error, not an endless lr_find or a NaN row.
use autograd::Var;
use nn::layers::Linear;
use nn::learner::{
    permutation, Batch, DataBunch, Learner, LearnerError, Lr, Phase, Rows, TensorData,
};
use nn::loss::mse_flat;
use nn::state_dict::state_dict;
use tensor::Tensor;

/// `n` rows of y = 2x - 1 with x spread over [0, 1), as `([x], y)`, the target of `bad`
/// (if any) replaced by `value`.
fn line(n: usize, bad: Option<(usize, f32)>) -> (Vec<Tensor>, Tensor) {
    let x: Vec<f32> = (0..n).map(|i| i as f32 / n as f32).collect();
    let mut y: Vec<f32> = x.iter().map(|v| 2.0 * v - 1.0).collect();
    if let Some((row, value)) = bad {
        y[row] = value;
    }
    (
        vec![Tensor::from_vec(x, &[n, 1]).unwrap()],
        Tensor::from_vec(y, &[n, 1]).unwrap(),
    )
}

/// A one-weight regression learner on `data`, silent.
fn learner(data: impl DataBunch + 'static) -> Learner<Linear> {
    let vars = nn::Vars::new(1);
    let model = Linear::new(vars.root(), 1, 1, true).unwrap();
    Learner::builder(model, vars, data, |out, y| {
        mse_flat(out, &Var::constant(y.clone()))
    })
    .verbose(false)
    .build()
    .unwrap()
}

/// Every weight of the model as numbers.
fn weights(learn: &Learner<Linear>) -> Vec<f32> {
    state_dict(learn.vars())
        .iter()
        .flat_map(|(_, t)| t.to_vec::<f32>().unwrap())
        .collect()
}

/// A [`TensorData`] whose training batch `batch` of epoch `epoch` gets a NaN target, and which
/// yields no training batch at all from epoch `empty_from` on (as an image folder whose images
/// all fail to read), nor any validation batch if `no_valid`. Asking for epoch 20 panics: a
/// loop over epochs that never ends.
struct Poisoned {
    inner: TensorData,
    nan_at: Option<(usize, usize)>,
    empty_from: usize,
    no_valid: bool,
}

impl DataBunch for Poisoned {
    fn train(&self, epoch: usize) -> Box<dyn Iterator<Item = nn::Result<Batch>> + '_> {
        assert!(epoch < 20, "epoch {epoch} asked for: the loop never ends");
        if epoch >= self.empty_from {
            return Box::new(std::iter::empty());
        }
        let nan_at = self.nan_at;
        Box::new(self.inner.train(epoch).enumerate().map(move |(b, batch)| {
            let mut batch = batch?;
            if nan_at == Some((epoch, b)) {
                batch.target = Tensor::full(f32::NAN, batch.target.shape());
            }
            Ok(batch)
        }))
    }
    fn valid(&self) -> Box<dyn Iterator<Item = nn::Result<Batch>> + '_> {
        match self.no_valid {
            true => Box::new(std::iter::empty()),
            false => self.inner.valid(),
        }
    }
    fn rows(&self) -> Rows {
        self.inner.rows()
    }
}

fn poisoned(nan_at: Option<(usize, usize)>, empty_from: usize) -> Poisoned {
    Poisoned {
        inner: TensorData::new(line(32, None), line(8, None), 4, 3),
        nan_at,
        empty_from,
        no_valid: false,
    }
}

#[test]
fn a_nan_loss_in_a_later_epoch_names_it_and_keeps_the_last_finite_weights() {
    let mut learn = learner(poisoned(Some((1, 2)), usize::MAX));
    let err = learn
        .fit_one_cycle(3, Lr::Single(1e-2), None)
        .expect_err("a NaN loss must stop the fit");
    match &err {
        LearnerError::NonFiniteLoss {
            phase: Phase::Train,
            epoch: Some(1),
            batch: 2,
            value,
        } => assert!(value.is_nan()),
        other => panic!("wanted a NaN loss at epoch 1, batch 2, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("epoch 1, training batch 2") && msg.contains("TerminateOnNaN"),
        "{msg}"
    );
    // One epoch of 8 batches and two batches of the next were trained, and nothing else.
    assert_eq!(learn.recorder().losses.len(), 10);
    assert_eq!(
        learn.recorder().epochs.len(),
        1,
        "no row for the stopped epoch"
    );
    assert!(weights(&learn).iter().all(|w| w.is_finite()));
}

#[test]
fn an_infinite_target_in_the_data_stops_at_its_batch() {
    // Row 5's target is infinite: its batch is where row 5 falls in epoch 0's order.
    let data = TensorData::new(line(32, Some((5, f32::INFINITY))), line(8, None), 4, 9);
    let want = permutation(32, 9, 0).iter().position(|&r| r == 5).unwrap() / 4;
    let err = learner(data)
        .fit_one_cycle(1, Lr::Single(1e-2), None)
        .unwrap_err();
    assert!(
        matches!(err, LearnerError::NonFiniteLoss { phase: Phase::Train, epoch: Some(0), batch, value }
            if batch == want && value == f64::INFINITY),
        "wanted batch {want}, got {err:?}"
    );
}

#[test]
fn a_nan_validation_loss_names_its_batch() {
    // Validation keeps its order: row 6 is in batch 6 / 4 = 1.
    let data = TensorData::new(line(32, None), line(8, Some((6, f32::NAN))), 4, 3);
    let mut learn = learner(data);
    let err = learn.validate().unwrap_err();
    assert!(
        matches!(err, LearnerError::NonFiniteLoss { phase: Phase::Valid, epoch: None, batch: 1, value }
            if value.is_nan()),
        "{err:?}"
    );
    let err = learn.fit_one_cycle(2, Lr::Single(1e-2), None).unwrap_err();
    assert!(
        matches!(
            err,
            LearnerError::NonFiniteLoss {
                phase: Phase::Valid,
                epoch: Some(0),
                batch: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("epoch 0, validation batch 1"));
    assert!(learn.recorder().epochs.is_empty());
}

#[test]
fn no_full_training_batch_is_refused_before_any_step() {
    // 3 rows for a batch of 4: the only batch is incomplete, so dropped.
    let mut learn = learner(TensorData::new(line(3, None), line(8, None), 4, 3));
    let before = weights(&learn);
    for err in [
        learn.fit_one_cycle(1, Lr::Single(1e-2), None).unwrap_err(),
        learn.lr_find(1e-7, 10.0, 10).unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                LearnerError::TooFewRows {
                    train: 3,
                    valid: 8,
                    bs: 4
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("3 training rows for a batch size of 4"),
            "{msg}"
        );
    }
    assert_eq!(weights(&learn), before);
    assert!(learn.recorder().losses.is_empty());
}

#[test]
fn no_validation_row_is_refused_before_any_step() {
    let mut learn = learner(TensorData::new(line(32, None), line(0, None), 4, 3));
    for err in [
        learn.fit_one_cycle(1, Lr::Single(1e-2), None).unwrap_err(),
        learn.lr_find(1e-7, 10.0, 10).unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                LearnerError::TooFewRows {
                    train: 32,
                    valid: 0,
                    bs: 4
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("no validation rows"), "{err}");
    }
    assert!(learn.recorder().losses.is_empty());
}

#[test]
fn an_epoch_without_a_batch_is_an_error_in_fit_and_lr_find() {
    let no_batch_in_epoch_1 = |err: &LearnerError| {
        matches!(
            err,
            LearnerError::NoBatchRead {
                phase: Phase::Train,
                epoch: Some(1)
            }
        )
    };
    let mut learn = learner(poisoned(None, 1));
    let err = learn.fit_one_cycle(2, Lr::Single(1e-2), None).unwrap_err();
    assert!(no_batch_in_epoch_1(&err), "{err:?}");
    // lr_find runs out of epoch 0's 8 batches, then finds none: an error, not a loop.
    let before = weights(&learn);
    let err = learn.lr_find(1e-7, 1e-6, 100).unwrap_err();
    assert!(no_batch_in_epoch_1(&err), "{err:?}");
    assert_eq!(weights(&learn), before, "weights restored after the error");
}

#[test]
fn lr_find_refuses_data_whose_first_loss_is_nan_and_restores_the_weights() {
    let mut learn = learner(poisoned(Some((0, 0)), usize::MAX));
    let before = weights(&learn);
    let err = learn.lr_find(1e-7, 10.0, 20).unwrap_err();
    assert!(
        matches!(
            err,
            LearnerError::NonFiniteLoss {
                phase: Phase::Train,
                epoch: Some(0),
                batch: 0,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(weights(&learn), before);
    // A NaN later in the sweep is where the rate diverged: the sweep ends there, no error.
    let mut learn = learner(poisoned(Some((0, 3)), usize::MAX));
    let sweep = learn.lr_find(1e-7, 1e-6, 20).unwrap();
    assert_eq!(sweep.len(), 4);
    assert!(sweep[3].1.is_nan() && sweep[..3].iter().all(|p| p.1.is_finite()));
}

#[test]
fn a_validation_without_a_batch_is_an_error_not_a_nan() {
    let mut learn = learner(Poisoned {
        no_valid: true,
        ..poisoned(None, usize::MAX)
    });
    let err = learn.validate().unwrap_err();
    assert!(
        matches!(
            err,
            LearnerError::NoBatchRead {
                phase: Phase::Valid,
                epoch: None
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("no validation batch"), "{err}");
    let err = learn.fit_one_cycle(1, Lr::Single(1e-2), None).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("epoch 0, no validation batch could be read"),
        "{err}"
    );
    assert!(learn.recorder().epochs.is_empty());
}
