//! The Learner: discriminative learning rates as fastai spreads them, the debiased smoothed
//! loss, a one-cycle fit on a small classification problem (the loss falls, the recorder and
//! the schedule agree), lr_find restoring the weights and fastai's suggestion from its curve,
//! freezing that keeps batch norms
//! trainable, and seeded shuffling.
use nn::layers::{BatchNorm, Linear, ReLU, Sequential};
use nn::learner::{
    even_mults, lr_suggestion, permutation, Learner, LearnerBuilder, Lr, Smoothed, TensorData,
};
use nn::loss::cross_entropy;
use nn::schedule::OneCycle;
use nn::state_dict::state_dict;
use nn::Vars;

#[test]
fn learning_rates_per_group_as_fastai() {
    // docs/lesson6.md, Learning rates per layer group: slice(1e-6, 1e-3) over three groups is
    // [1e-6, 3.16e-5, 1e-3]; slice(1e-2) is [1e-3, 1e-3, 1e-2].
    let r = Lr::Range(1e-6, 1e-3).per_group(3);
    assert!(
        (r[0] - 1e-6).abs() < 1e-18
            && (r[1] - 3.1623e-5).abs() < 1e-8
            && (r[2] - 1e-3).abs() < 1e-15
    );
    assert_eq!(Lr::Top(1e-2).per_group(3), vec![1e-3, 1e-3, 1e-2]);
    assert_eq!(Lr::Single(0.5).per_group(2), vec![0.5, 0.5]);
    assert_eq!(even_mults(1.0, 8.0, 4), vec![1.0, 2.0, 4.0, 8.0]);
}

#[test]
fn smoothed_loss_is_debiased() {
    let mut s = Smoothed::new(0.98);
    assert!(
        (s.add(2.0) - 2.0).abs() < 1e-12,
        "the first value is returned as is"
    );
    let v = s.add(4.0);
    assert!((v - (0.98 * 0.02 * 2.0 + 0.02 * 4.0) / (1.0 - 0.98f64.powi(2))).abs() < 1e-12);
}

#[test]
fn permutations_are_seeded_permutations() {
    let p = permutation(100, 3, 0);
    let mut sorted = p.clone();
    sorted.sort();
    assert_eq!(sorted, (0..100).collect::<Vec<i64>>());
    assert_eq!(p, permutation(100, 3, 0));
    assert_ne!(p, permutation(100, 3, 1));
}

#[path = "shared/quadrants.rs"]
mod shared;
use shared::quadrants;

/// The settings of a learner of a small MLP on quadrants.
fn builder(seed: u64) -> LearnerBuilder<Sequential, autograd::Var> {
    let vars = Vars::new(seed);
    let p = vars.root();
    let model = Sequential::new()
        .push(Linear::new(p.pp(0), 2, 32, true).unwrap())
        .push(ReLU)
        .push(BatchNorm::new_1d(p.pp(2), 32).unwrap())
        .push(Linear::new(p.pp(3), 32, 2, true).unwrap());
    let (xt, yt) = quadrants(512, 1);
    let (xv, yv) = quadrants(256, 2);
    let data = TensorData::new((vec![xt], yt), (vec![xv], yv), 32, 7);
    Learner::builder(model, vars, data, cross_entropy)
        .metric("accuracy", nn::metrics::accuracy)
        // SHOW_TABLE=1 cargo test -p nn --test learner -- --nocapture prints fastai's table.
        .verbose(std::env::var_os("SHOW_TABLE").is_some())
}

fn learner(seed: u64) -> Learner<Sequential> {
    builder(seed).build().unwrap()
}

#[test]
fn fit_one_cycle_learns_and_records() {
    let mut learn = learner(0);
    let (before, _) = learn.validate().unwrap();
    learn.fit_one_cycle(4, Lr::Single(1e-2), None).unwrap();
    let r = learn.recorder();
    assert_eq!(r.losses.len(), 4 * 16);
    assert!((r.lrs[0] - 1e-2 / 25.0).abs() < 1e-12 && (r.moms[0] - 0.95).abs() < 1e-12);
    let last = r.epochs.last().unwrap();
    assert!(
        last.valid_loss < before / 2.0 && last.valid_loss < 0.3,
        "valid loss {before} -> {}",
        last.valid_loss
    );
    assert!(last.metrics[0] > 0.9, "accuracy {}", last.metrics[0]);
    let plot = std::env::temp_dir().join(format!("lesson6-losses-{}.png", std::process::id()));
    r.plot_losses(&plot).unwrap();
    let png = std::fs::read(&plot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 2000);
    if std::env::var_os("KEEP_PLOTS").is_none() {
        let _ = std::fs::remove_file(&plot);
    }
}

/// The model's weights and buffers, but for the batch norms' batch counts.
fn weights(learn: &Learner<Sequential>) -> Vec<Vec<f32>> {
    state_dict(learn.vars())
        .iter()
        .filter(|(n, _)| !n.ends_with("num_batches_tracked"))
        .map(|(_, t)| t.to_vec::<f32>().unwrap())
        .collect()
}

#[test]
fn lr_find_sweeps_and_restores_the_weights() {
    let mut learn = learner(1);
    let plot = std::env::temp_dir().join(format!("lesson6-lr-find-{}.png", std::process::id()));
    let before = weights(&learn);
    let sweep = learn.lr_find(1e-7, 10.0, 100).unwrap();
    nn::learner::plot_lr_find(&sweep, &plot).unwrap();
    assert!(std::fs::read(&plot).unwrap().starts_with(b"\x89PNG"));
    let _ = std::fs::remove_file(&plot);
    let after = weights(&learn);
    assert_eq!(before, after);
    // By lr = 10 this model diverges: the sweep stops early, as fastai's rule says.
    assert!(
        sweep.len() > 10 && sweep.len() < 100,
        "{} iterations",
        sweep.len()
    );
    assert_exponential(&sweep, 1e-7, 10.0, 100);
    assert_stops_as_fastai(&sweep, 100);
}

/// A sweep over rates too small to diverge runs all its iterations, from exactly `start` to
/// exactly `end`.
#[test]
fn the_suggestion_is_where_the_loss_falls_fastest() {
    // -atan(i - 20) falls fastest at i = 20; sharper drops among the first 10 and the last 5
    // points are left out, as fastai's `plot` leaves them.
    let rate = |i: usize| 1e-7 * 10f64.powf(i as f64 / 4.0);
    let sweep: Vec<(f64, f64)> = (0..30)
        .map(|i| {
            let step = match i {
                0..3 => 100.0,
                25.. => -100.0,
                _ => 0.0,
            };
            (rate(i), step - (i as f64 - 20.0).atan())
        })
        .collect();
    assert_eq!(lr_suggestion(&sweep), Some(rate(20)));
    // Too few points to take a gradient of.
    assert_eq!(lr_suggestion(&sweep[..16]), None);
    assert!(lr_suggestion(&sweep[..17]).is_some());
}

#[test]
fn lr_find_runs_from_start_to_end_when_the_loss_holds() {
    let mut learn = learner(3);
    let sweep = learn.lr_find(1e-5, 1e-3, 40).unwrap();
    assert_eq!(sweep.len(), 40);
    assert_eq!(sweep[0].0, 1e-5);
    assert!(
        (sweep[39].0 - 1e-3).abs() < 1e-15,
        "last rate {}",
        sweep[39].0
    );
    assert_exponential(&sweep, 1e-5, 1e-3, 40);
    assert_stops_as_fastai(&sweep, 40);
}

/// fastai's `LRFinder` schedule: the i-th of `n` rates is `start * (end / start)^(i / (n -
/// 1))`, evenly spaced on a log scale from `start` to `end`.
fn assert_exponential(sweep: &[(f64, f64)], start: f64, end: f64, n: usize) {
    for (i, &(lr, _)) in sweep.iter().enumerate() {
        let want = start * (end / start).powf(i as f64 / (n - 1) as f64);
        assert!(
            (lr - want).abs() <= 1e-12 * want,
            "rate {i}: {lr}, expected {want}"
        );
    }
}

/// fastai's `LRFinder` stopping rule, for a sweep of at most `iters` batches: it stops at the
/// first smoothed loss that exceeds 4x the smallest so far, or is not finite. So every loss
/// before the last keeps within that bound, and a sweep that ended early ended at one that
/// broke it.
fn assert_stops_as_fastai(sweep: &[(f64, f64)], iters: usize) {
    let mut best = f64::INFINITY;
    for (i, &(_, loss)) in sweep.iter().enumerate() {
        best = best.min(loss);
        let diverged = !loss.is_finite() || loss > 4.0 * best;
        if i + 1 < sweep.len() {
            assert!(!diverged, "went on past loss {loss} at {i} (best {best})");
        } else if sweep.len() < iters {
            assert!(diverged, "stopped at loss {loss} at {i} (best {best})");
        }
    }
}

/// Each layer group trains at its own rate during a fit. With weight decay 0, AdamW's first
/// step moves a weight by lr * |g| / (|g| + eps / sqrt(1 - beta2)): by its group's rate, to
/// 1e-4, for any weight whose gradient is not tiny, and by less for the rest. So over a fit of
/// one batch, where the schedule's first rate is each group's maximum, the largest move in the
/// first group is 1e-3 and in the second 1e-1, for `Lr::Range(1e-3, 1e-1)`.
#[test]
fn each_layer_group_trains_at_its_own_rate() {
    let (xt, yt) = quadrants(32, 3);
    let (xv, yv) = quadrants(32, 4);
    let mut learn = builder(4)
        .wd(0.0)
        .split(vec![vec!["0.".into()], vec!["2.".into(), "3.".into()]])
        .build()
        .unwrap();
    learn.set_data(TensorData::new((vec![xt], yt), (vec![xv], yv), 32, 7));
    let values = |learn: &Learner<Sequential>| -> Vec<Vec<f32>> {
        learn
            .group_params()
            .iter()
            .map(|g| {
                g.iter()
                    .flat_map(|p| p.value().to_vec::<f32>().unwrap())
                    .collect()
            })
            .collect()
    };
    let before = values(&learn);
    learn.fit_one_cycle(1, Lr::Range(1e-3, 1e-1), None).unwrap();
    let after = values(&learn);
    for (g, lr) in [1e-3, 1e-1].into_iter().enumerate() {
        let want = OneCycle::new(lr).at(0, 1).0;
        let largest = before[g]
            .iter()
            .zip(&after[g])
            .map(|(b, a)| (*a as f64 - *b as f64).abs())
            .fold(0.0, f64::max);
        assert!(
            (largest - want).abs() < 1e-3 * want,
            "group {g}: largest move {largest}, its rate {want}"
        );
    }
}

#[test]
fn freezing_keeps_batch_norms_trainable() {
    let learn = builder(2)
        .split(vec![vec!["0.".into(), "2.".into()], vec!["3.".into()]])
        .build()
        .unwrap();
    learn.freeze();
    let names: Vec<(String, bool)> = (learn.vars().params())
        .into_iter()
        .map(|(n, p)| (n, p.is_trainable()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("0.weight".to_string(), false),
            ("0.bias".to_string(), false),
            ("2.weight".to_string(), true),
            ("2.bias".to_string(), true),
            ("3.weight".to_string(), true),
            ("3.bias".to_string(), true),
        ]
    );
    learn.unfreeze();
    assert!(learn.vars().params().iter().all(|(_, p)| p.is_trainable()));
    assert_eq!(
        learn
            .group_params()
            .iter()
            .map(Vec::len)
            .collect::<Vec<_>>(),
        vec![4, 2]
    );
}

#[test]
fn summary_lists_each_layer_with_its_output_shape() {
    let learn = learner(3);
    let s = learn.summary().unwrap();
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), 1 + 4 + 1, "{s}");
    assert!(
        lines[1].contains("Linear(in_features=2, out_features=32")
            && lines[1].contains("[32, 32]")
            && lines[1].contains("96"),
        "{s}"
    );
    assert!(
        lines[3].contains("BatchNorm1d(32") && lines[3].contains("64"),
        "{s}"
    );
    assert!(
        lines[4].contains("[32, 2]") && lines[4].contains("66"),
        "{s}"
    );
    assert_eq!(lines[5], "Total params: 226");
}
