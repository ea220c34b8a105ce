//! A small classification problem shared by the Learner's tests on the host and on a GPU:
//! points of the square [-1, 1]^2, labelled 1 where x0 * x1 > 0 (the first and third
//! quadrants), which no linear model separates.
use tensor::random::Philox;
use tensor::Tensor;

/// `n` points `[n, 2]` drawn from `seed`, and their labels `[n]`.
pub fn quadrants(n: usize, seed: u64) -> (Tensor, Tensor) {
    let x = Philox::new(seed, 0).uniform(&[n, 2], -1.0, 1.0).unwrap();
    let y: Vec<i64> = x
        .to_vec::<f32>()
        .unwrap()
        .chunks(2)
        .map(|p| i64::from(p[0] * p[1] > 0.0))
        .collect();
    (x, Tensor::from_indices(&y, &[n]).unwrap())
}
