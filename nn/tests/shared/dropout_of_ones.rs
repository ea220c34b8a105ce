//! What a dropout of rate `p` makes of a tensor of ones at training time, checked for the
//! layer itself and for the dropouts the tabular model builds from its configuration.

/// Asserts that `values`, ones through a dropout of rate `p`, kept 1 - p of them (to within
/// six standard deviations of that fraction, so that two rates 0.02 apart on 20,000 values
/// are told apart), each divided by 1 - p, and zeroed the rest.
pub fn assert_dropout_of_ones(what: &str, values: &[f32], p: f64) {
    let n = values.len() as f64;
    let kept: Vec<f32> = values.iter().copied().filter(|&v| v != 0.0).collect();
    let fraction = kept.len() as f64 / n;
    let six_sigma = 6.0 * (p * (1.0 - p) / n).sqrt();
    assert!(
        (fraction - (1.0 - p)).abs() < six_sigma,
        "{what}: kept {fraction} of the ones, not {}",
        1.0 - p
    );
    let scale = (1.0 / (1.0 - p)) as f32;
    assert!(
        kept.iter().all(|&v| (v - scale).abs() < 1e-6 * scale),
        "{what}: a kept one is not 1 / (1 - {p})"
    );
}
