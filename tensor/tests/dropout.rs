//! Dropout: the mask is exactly the Philox stream's Bernoulli(1 - p) draws, kept elements are
//! scaled by 1 / (1 - p), the expectation is kept (a property over random p and seeds, with
//! a bound of five standard errors), and the same stream gives the same mask.
use proptest::prelude::*;
use tensor::random::Philox;
use tensor::{DType, Tensor};

#[test]
fn mask_is_the_philox_stream_across_chunks_and_tails() {
    // 40,037 elements: parallel chunks of 16,384 and a group of 64 cut short at the end (the
    // AVX-512 kernel does whole groups, the portable loop the rest); a seed and an offset
    // with their high words set.
    let n = 40_037;
    let x = Philox::new(5, 0).uniform(&[n], -2.0, 2.0).unwrap();
    let xs = x.to_vec::<f32>().unwrap();
    for (rng, p) in [
        (Philox::new(9, 3), 0.001f32),
        (Philox::new(u64::MAX, u64::MAX), 0.5),
    ] {
        let y = x.dropout(p, rng).unwrap().to_vec::<f32>().unwrap();
        let scale = 1.0 / (1.0 - p);
        for i in 0..n {
            let keep = rng.uniform_at(i as u64) < 1.0 - p;
            let want = xs[i] * if keep { scale } else { 0.0 };
            assert_eq!(y[i].to_bits(), want.to_bits(), "element {i} with p = {p}");
        }
        // f64 takes the portable loop: the same mask.
        let y64 = x
            .to_dtype(DType::F64)
            .unwrap()
            .dropout(p, rng)
            .unwrap()
            .to_vec::<f64>()
            .unwrap();
        for i in 0..n {
            assert_eq!(y64[i] == 0.0, y[i] == 0.0 && xs[i] != 0.0, "element {i}");
        }
    }
}

#[test]
fn mask_is_the_philox_stream() {
    let x = Philox::new(1, 0).uniform(&[1000], 1.0, 2.0).unwrap();
    let rng = Philox::new(42, 7);
    let p = 0.3;
    let y = x.dropout(p, rng).unwrap().to_vec::<f32>().unwrap();
    let xs = x.to_vec::<f32>().unwrap();
    for i in 0..1000 {
        let keep = rng.uniform_at(i as u64) < 1.0 - p;
        let want = if keep { xs[i] / (1.0 - p) } else { 0.0 };
        assert!(
            (y[i] - want).abs() <= 1e-6 * want.abs(),
            "element {i}: {} vs {want}",
            y[i]
        );
    }
    // The same stream, the same mask; another offset, another mask.
    assert_eq!(x.dropout(p, rng).unwrap().to_vec::<f32>().unwrap(), y);
    assert_ne!(
        x.dropout(p, Philox::new(42, 8))
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        y
    );
    // Non-contiguous input: the mask follows the row-major order of the view.
    let m = Philox::new(3, 0).uniform(&[20, 30], 1.0, 2.0).unwrap();
    let a = m.t().unwrap().dropout(p, rng).unwrap();
    let b = m
        .t()
        .unwrap()
        .contiguous()
        .unwrap()
        .dropout(p, rng)
        .unwrap();
    assert_eq!(a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
}

#[test]
fn edge_probabilities_and_bad_input() {
    let x = Tensor::from_slice(&[1.0f32, -2.0, 3.0], &[3]).unwrap();
    let rng = Philox::new(0, 0);
    assert_eq!(
        x.dropout(0.0, rng).unwrap().to_vec::<f32>().unwrap(),
        vec![1.0, -2.0, 3.0]
    );
    assert_eq!(
        x.dropout(1.0, rng).unwrap().to_vec::<f32>().unwrap(),
        vec![0.0; 3]
    );
    assert!(x.dropout(1.5, rng).is_err());
    assert!(x.dropout(-0.1, rng).is_err());
    let idx = Tensor::from_indices(&[1, 2], &[2]).unwrap();
    assert!(idx
        .dropout(0.5, rng)
        .unwrap_err()
        .to_string()
        .starts_with("dropout:"));
    let x64 = x.to_dtype(DType::F64).unwrap();
    let y64 = x64.dropout(0.5, rng).unwrap().to_dtype(DType::F32).unwrap();
    assert_eq!(
        y64.to_vec::<f32>().unwrap(),
        x.dropout(0.5, rng).unwrap().to_vec::<f32>().unwrap()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// E[dropout(x)] = x: over n ones the mean of the output is 1 within five standard errors
    /// (the output is 0 or 1/(1-p), so its standard deviation is sqrt(p / (1 - p))), and the
    /// dropped fraction is p within five standard errors.
    #[test]
    fn dropout_keeps_the_expectation(p in 0.01f32..0.9, seed in 0u64..1_000_000) {
        let n = 200_000;
        let y = Tensor::ones(&[n]).dropout(p, Philox::new(seed, 1)).unwrap().to_vec::<f32>().unwrap();
        let mean = y.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        let se = ((p / (1.0 - p)) as f64 / n as f64).sqrt();
        prop_assert!((mean - 1.0).abs() < 5.0 * se, "mean {} with p {}", mean, p);
        let dropped = y.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
        let se_p = ((p * (1.0 - p)) as f64 / n as f64).sqrt();
        prop_assert!((dropped - p as f64).abs() < 5.0 * se_p, "dropped {} with p {}", dropped, p);
    }
}

/// The three lines the lesson reads from PyTorch's source, `noise.bernoulli_(1 - p);
/// noise.div_(1 - p); input * noise`, written with tensor ops, give the fused op's output bit
/// for bit for the same stream (what `examples/dropout.rs` shows).
#[test]
fn the_lessons_three_lines_equal_the_fused_dropout_bit_for_bit() {
    let x = Philox::new(3, 0).uniform(&[7, 3001], -2.0, 2.0).unwrap();
    for (p, rng) in [
        (0.5f32, Philox::new(1, 1)),
        (0.04, Philox::new(8, 2)),
        (0.9, Philox::new(2, 7)),
    ] {
        let noise = rng.bernoulli(x.shape(), 1.0 - p).unwrap();
        let by_hand = x.mul(&noise.mul_scalar(1.0 / (1.0 - p)).unwrap()).unwrap();
        let fused = x.dropout(p, rng).unwrap();
        let (a, b) = (
            by_hand.to_vec::<f32>().unwrap(),
            fused.to_vec::<f32>().unwrap(),
        );
        assert!(
            a.iter().zip(&b).all(|(a, b)| a.to_bits() == b.to_bits()),
            "p = {p}"
        );
        let dropped = noise
            .to_vec::<f32>()
            .unwrap()
            .iter()
            .filter(|&&m| m == 0.0)
            .count();
        let rate = dropped as f64 / noise.elem_count() as f64;
        assert!((rate - p as f64).abs() < 0.02, "dropped {rate} at p = {p}");
    }
}
