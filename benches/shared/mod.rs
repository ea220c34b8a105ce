//! What the comparison and GPU benches share: lesson 6's Rossmann model and the size of the
//! table one timed epoch trains on.
use lesson6::nn::tabular::{emb_sz_rule, TabularConfig};
use lesson6::tensor::random::Philox;
use lesson6::tensor::Tensor;

/// Cardinalities of the 24 categorical columns of lesson 6's Rossmann model (docs/lesson6.md,
/// Embedding sizes).
pub const ROSSMANN: [usize; 24] = [
    1116, 8, 4, 13, 32, 3, 26, 27, 5, 4, 4, 24, 9, 13, 53, 22, 7, 7, 4, 4, 9, 9, 3, 3,
];

/// Rows of the table one `tabular_epoch_*` case trains on.
pub const EPOCH_ROWS: usize = 16384;

/// Lesson 6's Rossmann model: 24 embeddings (217 columns), 16 continuous inputs, 1000-500-1.
pub fn rossmann_config() -> TabularConfig {
    TabularConfig::lesson6(
        ROSSMANN.iter().map(|&n| (n, emb_sz_rule(n))).collect(),
        16,
        (0.0, 10.8),
    )
}

/// Uniform draws in [-1, 1) of `shape`.
pub fn rand(shape: &[usize], seed: u64) -> Tensor {
    Philox::new(seed, 0).uniform(shape, -1.0, 1.0).unwrap()
}

/// `n` random rows for the Rossmann model: its codes, its continuous values, and log-sales
/// targets around 8.
pub fn rossmann_rows(n: usize, seed: u64) -> (Vec<Tensor>, Tensor) {
    let codes: Vec<i64> = (0..n * 24)
        .map(|i| (Philox::new(seed, 1).word(i as u64) as usize % ROSSMANN[i % 24]) as i64)
        .collect();
    (
        vec![
            Tensor::from_indices(&codes, &[n, 24]).unwrap(),
            rand(&[n, 16], seed + 1),
        ],
        rand(&[n, 1], seed + 2).affine(1.0, 8.0).unwrap(),
    )
}
