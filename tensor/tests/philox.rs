//! Philox 4x32-10 against Random123's known-answer vectors, reproducibility of streams, and
//! uniformity by a chi-square test (not just a mean).
use tensor::random::{philox4x32_10, Philox};

#[test]
fn known_answer_vectors() {
    assert_eq!(
        philox4x32_10([0; 4], [0; 2]),
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
    );
    assert_eq!(
        philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
    );
    assert_eq!(
        philox4x32_10(
            [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
            [0xa4093822, 0x299f31d0]
        ),
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
    );
}

#[test]
fn streams_are_pure_functions_of_seed_offset_and_index() {
    let a = Philox::new(42, 7)
        .uniform(&[100_003], 0.0, 1.0)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let b = Philox::new(42, 7)
        .uniform(&[100_003], 0.0, 1.0)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(a, b);
    // Element i does not depend on how many were drawn or on parallel chunking.
    let s = Philox::new(42, 7);
    for &i in &[0usize, 1, 3, 4, 16_383, 16_384, 65_537, 100_002] {
        assert_eq!(a[i], s.uniform_at(i as u64), "element {i}");
    }
    let other_offset = Philox::new(42, 8)
        .uniform(&[1000], 0.0, 1.0)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let other_seed = Philox::new(43, 7)
        .uniform(&[1000], 0.0, 1.0)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_ne!(&a[..1000], &other_offset[..]);
    assert_ne!(&a[..1000], &other_seed[..]);
}

/// Pearson's chi-square statistic of `values` in [0, 1) over `bins` equal bins.
fn chi_square(values: &[f32], bins: usize) -> f64 {
    let mut counts = vec![0usize; bins];
    for &v in values {
        assert!((0.0..1.0).contains(&v), "{v} outside [0, 1)");
        counts[(v * bins as f32) as usize] += 1;
    }
    let expected = values.len() as f64 / bins as f64;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

#[test]
fn uniform_passes_chi_square() {
    // 100 bins: 99 degrees of freedom; the 99.9% quantile of chi2(99) is about 148.2.
    for seed in 0..5 {
        let v = Philox::new(seed, 0)
            .uniform(&[200_000], 0.0, 1.0)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        let chi2 = chi_square(&v, 100);
        assert!(
            chi2 < 148.2,
            "seed {seed}: chi-square {chi2:.1} with 99 degrees of freedom"
        );
    }
}

#[test]
fn normal_has_the_right_moments_and_shape() {
    let v = Philox::new(3, 1)
        .normal(&[400_001], 2.0, 0.5)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    // Standard errors: 0.5/sqrt(n) = 8e-4 for the mean, about 5e-4 for the variance.
    assert!((mean - 2.0).abs() < 4e-3, "mean {mean}");
    assert!((var - 0.25).abs() < 3e-3, "variance {var}");
    // Through the normal CDF the draws must be uniform: chi-square on Phi((x - 2) / 0.5).
    let phi = |z: f64| 0.5 * (1.0 + erf(z / std::f64::consts::SQRT_2));
    let u: Vec<f32> = v
        .iter()
        .map(|&x| (phi((x as f64 - 2.0) / 0.5) as f32).min(0.999_999_9))
        .collect();
    let chi2 = chi_square(&u, 50);
    assert!(
        chi2 < 85.4,
        "chi-square {chi2:.1} with 49 degrees of freedom (99.9% quantile 85.4)"
    );
}

/// Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), enough for binning.
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    y.copysign(x)
}

#[test]
fn bernoulli_keeps_the_expectation() {
    let p = 0.3;
    let v = Philox::new(9, 0)
        .bernoulli(&[1_000_000], p)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert!(v.iter().all(|&x| x == 0.0 || x == 1.0));
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    // Standard error sqrt(p(1-p)/n) = 4.6e-4.
    assert!((mean - p as f64).abs() < 2.5e-3, "mean {mean}");
}

#[test]
fn bad_arguments_are_errors() {
    assert!(Philox::new(0, 0).bernoulli(&[3], 1.5).is_err());
    assert!(Philox::new(0, 0).uniform(&[3], 1.0, 1.0).is_err());
    assert!(Philox::new(0, 0).normal(&[3], 0.0, -1.0).is_err());
}

#[test]
fn lane_parallel_blocks_equal_the_scalar_ones() {
    let s = Philox::new(0x1234_5678_9abc, 77);
    for first in [0u64, 5, (1 << 32) - 3] {
        let words = s.blocks(first);
        for (i, w) in words.iter().enumerate() {
            assert_eq!(
                *w,
                s.block(first + i as u64 / 4)[i % 4],
                "block {first} word {i}"
            );
        }
    }
}
