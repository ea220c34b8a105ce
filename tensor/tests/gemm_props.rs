//! GEMM against a naive triple loop (in f64) on random shapes and operand strides, including
//! transposed operands, shapes that are not multiples of any tile, alpha/beta and k = 0.
//! Tolerance: 1e-4 relative to the sum of |a_ik * b_kj| (the scale of rounding error).
use proptest::prelude::*;
use tensor::gemm::{gemm, gemm_serial, MatMut, MatRef};
use tensor::Error;

fn naive(
    m: usize,
    n: usize,
    k: usize,
    a: impl Fn(usize, usize) -> f32,
    b: impl Fn(usize, usize) -> f32,
) -> (Vec<f64>, Vec<f64>) {
    let mut c = vec![0f64; m * n];
    let mut scale = vec![0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            for p in 0..k {
                let v = a(i, p) as f64 * b(p, j) as f64;
                c[i * n + j] += v;
                scale[i * n + j] += v.abs();
            }
        }
    }
    (c, scale)
}

fn values(len: usize, seed: u64) -> Vec<f32> {
    tensor::random::Philox::new(seed, 7)
        .uniform(&[len], -1.0, 1.0)
        .unwrap()
        .to_vec()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn gemm_matches_naive(m in 1usize..70, n in 1usize..90, k in 0usize..300,
                          ta in any::<bool>(), tb in any::<bool>(), pad in 0usize..3,
                          alpha in prop_oneof![Just(1.0f32), Just(-0.5f32)],
                          beta in prop_oneof![Just(0.0f32), Just(1.0f32), Just(0.25f32)],
                          parallel in any::<bool>(), seed in 0u64..1000) {
        // A is m x k stored row-major (or transposed: column-major), with `pad` spare columns.
        let (ars, acs) = if ta { (1, m + pad) } else { (k + pad, 1) };
        let (brs, bcs) = if tb { (1, k + pad) } else { (n + pad, 1) };
        let av = values((m + pad) * (k + pad) + 1, seed);
        let bv = values((k + pad) * (n + pad) + 1, seed + 1);
        let c0 = values(m * (n + pad), seed + 2);
        let mut c = c0.clone();
        let a = MatRef::new(&av, m, k, ars, acs).unwrap();
        let b = MatRef::new(&bv, k, n, brs, bcs).unwrap();
        let cm = MatMut::new(&mut c, m, n, n + pad).unwrap();
        if parallel { gemm(alpha, a, b, beta, cm).unwrap() } else { gemm_serial(alpha, a, b, beta, cm).unwrap() }
        let (want, scale) = naive(m, n, k, |i, p| av[i * ars + p * acs], |p, j| bv[p * brs + j * bcs]);
        for i in 0..m {
            for j in 0..n {
                let expect = alpha as f64 * want[i * n + j] + beta as f64 * c0[i * (n + pad) + j] as f64;
                let got = c[i * (n + pad) + j] as f64;
                let tol = 1e-4 * (alpha.abs() as f64 * scale[i * n + j] + beta.abs() as f64 * c0[i * (n + pad) + j].abs() as f64 + 1e-6);
                prop_assert!((got - expect).abs() <= tol, "C[{i},{j}] = {got}, expected {expect}");
            }
            // The padding columns of C are never written.
            for j in n..n + pad {
                prop_assert_eq!(c[i * (n + pad) + j], c0[i * (n + pad) + j]);
            }
        }
    }
}

#[test]
fn bad_strides_are_refused() {
    let v = vec![0f32; 10];
    let err = MatRef::new(&v, 3, 4, 4, 1).unwrap_err();
    assert!(
        matches!(&err, Error::Shape { op: "gemm", shapes, .. }
            if shapes == &[vec![3, 4], vec![4, 1], vec![10]]),
        "{err}"
    );
}

#[test]
fn mismatched_shapes_are_refused() {
    let (a, b) = (vec![0f32; 12], vec![0f32; 10]);
    let mut c = vec![0f32; 8];
    let err = gemm(
        1.0,
        MatRef::new(&a, 4, 3, 3, 1).unwrap(),
        MatRef::new(&b, 5, 2, 2, 1).unwrap(),
        0.0,
        MatMut::new(&mut c, 4, 2, 2).unwrap(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Shape { op: "gemm", shapes, .. }
            if shapes == &[vec![4, 3], vec![5, 2], vec![4, 2]]),
        "{err}"
    );
}
