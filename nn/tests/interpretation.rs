//! fastai's `ClassificationInterpretation` on hand-made predictions: the confusion matrix
//! counted by hand (a tie going to the lower class, as torch's argmax), its error rate
//! against `nn::metrics::error_rate` on the same logits, `most_confused` ordered as fastai's
//! stable sort with `min_val`, and `top_losses` against cross-entropy computed naively.
use nn::interpret::{ClassificationInterpretation, TopLoss};
use nn::metrics::error_rate;
use tensor::Tensor;

/// Eight items of classes a, b, c: (target, logits). Item 7 ties a and b, so it is
/// predicted a.
const ITEMS: [(i64, [f32; 3]); 8] = [
    (0, [2.0, 0.0, 0.0]),
    (0, [0.0, 1.0, 0.0]),
    (0, [0.0, 3.0, 0.0]),
    (1, [0.0, 2.5, 0.0]),
    (1, [0.0, 0.0, 0.5]),
    (2, [4.0, 0.0, 0.0]),
    (2, [0.0, 0.0, 1.5]),
    (2, [0.5, 0.5, 0.0]),
];

fn classes() -> Vec<String> {
    ["a", "b", "c"].map(String::from).to_vec()
}

fn logits_and_targets() -> (Tensor, Tensor) {
    let logits: Vec<f32> = ITEMS.iter().flat_map(|(_, l)| *l).collect();
    let targets: Vec<i64> = ITEMS.iter().map(|(t, _)| *t).collect();
    (
        Tensor::from_vec(logits, &[8, 3]).unwrap(),
        Tensor::from_indices(&targets, &[8]).unwrap(),
    )
}

fn interp() -> ClassificationInterpretation {
    let (logits, targets) = logits_and_targets();
    ClassificationInterpretation::from_logits(&logits, &targets, classes()).unwrap()
}

#[test]
fn the_confusion_matrix_counts_actual_rows_and_predicted_columns() {
    let i = interp();
    // Predicted: a b b | b c | a c a.
    assert_eq!(i.pred_class, [0, 1, 1, 1, 2, 0, 2, 0]);
    assert_eq!(
        i.confusion_matrix(),
        [vec![1, 2, 0], vec![0, 1, 1], vec![2, 0, 1]]
    );
    // Trace 3 of 8.
    assert!((i.error_rate() - 5.0 / 8.0).abs() < 1e-12);
    let (logits, targets) = logits_and_targets();
    let metric = error_rate(&logits, &targets).unwrap() as f64;
    assert!((i.error_rate() - metric).abs() < 1e-6, "{metric}");
}

#[test]
fn most_confused_sorts_by_count_keeping_row_major_order_for_ties() {
    let i = interp();
    let pair = |a: &str, p: &str, n| (a.to_string(), p.to_string(), n);
    // Off the diagonal, row-major: (a, b) 2, (b, c) 1, (c, a) 2.
    assert_eq!(
        i.most_confused(1),
        [pair("a", "b", 2), pair("c", "a", 2), pair("b", "c", 1)]
    );
    assert_eq!(i.most_confused(2), [pair("a", "b", 2), pair("c", "a", 2)]);
    assert_eq!(i.most_confused(3), []);
    assert_eq!(
        i.to_json(),
        serde_json::json!({
            "classes": ["a", "b", "c"],
            "confusion": [[1, 2, 0], [0, 1, 1], [2, 0, 1]],
            "most_confused": [["a", "b", 2], ["c", "a", 2], ["b", "c", 1]],
        })
    );
}

#[test]
fn top_losses_are_the_largest_cross_entropies_first() {
    // Naively: the softmax, then minus the log of the target's probability.
    let naive = |(t, l): &(i64, [f32; 3])| {
        let e: Vec<f64> = l.iter().map(|&x| (x as f64).exp()).collect();
        let p = e[*t as usize] / e.iter().sum::<f64>();
        (-p.ln(), p)
    };
    // Losses: 0.240, 1.551, 3.095, 0.152, 1.294, 4.036, 0.369, 1.458.
    let top = interp().top_losses(4);
    let order: Vec<usize> = top.iter().map(|t| t.index).collect();
    assert_eq!(order, [5, 2, 1, 7]);
    let TopLoss {
        predicted, actual, ..
    } = top[0];
    assert_eq!((predicted, actual), (0, 2));
    for t in &top {
        let (loss, p) = naive(&ITEMS[t.index]);
        assert!((t.loss as f64 - loss).abs() < 1e-5, "{t:?}: {loss}");
        assert!((t.prob_actual as f64 - p).abs() < 1e-6, "{t:?}: {p}");
        assert_eq!(t.actual as i64, ITEMS[t.index].0);
    }
    assert!((top[0].loss - (4f32.exp() + 2.0).ln()).abs() < 1e-5);
    assert_eq!(interp().top_losses(100).len(), 8);
}

#[test]
fn predictions_that_do_not_fit_the_classes_are_errors() {
    let (logits, _) = logits_and_targets();
    let outside = Tensor::from_indices(&[0, 1, 2, 3, 0, 0, 0, 0], &[8]).unwrap();
    let err = ClassificationInterpretation::from_logits(&logits, &outside, classes());
    assert!(matches!(err, Err(nn::Error::Invalid(m)) if m.contains("target 3")));
    let short = Tensor::from_indices(&[0, 1], &[2]).unwrap();
    let err = ClassificationInterpretation::from_logits(&logits, &short, classes());
    assert!(matches!(err, Err(nn::Error::Invalid(_))));
    let (logits, targets) = logits_and_targets();
    let two = vec!["a".to_string(), "b".to_string()];
    let err = ClassificationInterpretation::from_logits(&logits, &targets, two);
    assert!(matches!(err, Err(nn::Error::Invalid(_))));
}
