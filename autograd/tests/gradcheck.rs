//! Every backward rule against central finite differences in f64 (`autograd::gradcheck`),
//! on random shapes from `proptest`, with non-contiguous (transposed, narrowed) and broadcast
//! inputs. Tolerances: gradcheck's defaults, 1e-6 absolute + 1e-5 relative.
//!
//! Inputs are drawn away from the points where an op is not differentiable (0 for ReLU and
//! |x|, ties for max and pooling, the clamp bounds), where no finite difference is right.
// `&[x.clone()]` reads as "the inputs are x" next to `&[a, b]`; `slice::from_ref` would not.
#![allow(clippy::cloned_ref_to_slice_refs)]

use autograd::{gradcheck, Var};
use proptest::prelude::*;
use tensor::random::Philox;
use tensor::{Conv2dParams, DType, PadMode, Tensor};

/// Uniform in [lo, hi), as f64.
fn rand(shape: &[usize], seed: u64, lo: f32, hi: f32) -> Tensor {
    Philox::new(seed, 17)
        .uniform(shape, lo, hi)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
}

/// Values whose magnitudes are at least 0.1 and pairwise far apart (a shuffled grid), so
/// that kinks and ties are never within a finite-difference step.
fn distinct(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let keys = Philox::new(seed, 3)
        .uniform(&[n], 0.0, 1.0)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]));
    let mut v = vec![0.0f64; n];
    for (rank, &i) in order.iter().enumerate() {
        let x = 0.1 + 0.05 * rank as f64;
        v[i] = if rank % 2 == 0 { x } else { -x };
    }
    Tensor::from_vec(v, shape).unwrap()
}

fn dims2() -> impl Strategy<Value = (usize, usize)> {
    (1usize..5, 1usize..5)
}

fn check(
    f: impl Fn(&[Var]) -> autograd::Result<Var>,
    inputs: &[Tensor],
) -> Result<(), TestCaseError> {
    gradcheck(f, inputs).map_err(|e| TestCaseError::fail(e.to_string()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn binary_ops_with_broadcasting((r, c) in dims2(), seed in 0u64..1000) {
        let a = rand(&[r, c], seed, 0.5, 2.0);
        let row = rand(&[c], seed + 1, 0.5, 2.0);
        let col = rand(&[r, 1], seed + 2, 0.5, 2.0);
        check(|v| v[0].add(&v[1]), &[a.clone(), row.clone()])?;
        check(|v| v[0].sub(&v[1]), &[col.clone(), a.clone()])?;
        check(|v| v[0].mul(&v[1]), &[a.clone(), col.clone()])?;
        check(|v| v[0].div(&v[1]), &[a.clone(), row.clone()])?;
        check(|v| v[0].pow(&v[1]), &[a.clone(), row.clone()])?;
        let (d1, d2) = (distinct(&[r, c], seed), distinct(&[c], seed + 7));
        check(|v| v[0].maximum(&v[1]), &[d1.clone(), d2.clone()])?;
        check(|v| v[0].minimum(&v[1]), &[d1, d2])?;
        // A transposed (non-contiguous) operand.
        let at = rand(&[c, r], seed + 3, 0.5, 2.0);
        check(|v| v[0].t()?.mul(&v[1]), &[at, a])?;
    }

    #[test]
    fn unary_ops((r, c) in dims2(), seed in 0u64..1000) {
        let x = rand(&[r, c], seed, -2.0, 2.0);
        let pos = rand(&[r, c], seed + 1, 0.5, 2.0);
        let away = distinct(&[r, c], seed + 2);
        check(|v| v[0].exp(), &[x.clone()])?;
        check(|v| v[0].log(), &[pos.clone()])?;
        check(|v| v[0].sigmoid(), &[x.clone()])?;
        check(|v| v[0].tanh(), &[x.clone()])?;
        check(|v| v[0].relu(), &[away.clone()])?;
        check(|v| v[0].sqrt(), &[pos.clone()])?;
        check(|v| v[0].neg(), &[x.clone()])?;
        check(|v| v[0].abs(), &[away.clone()])?;
        check(|v| v[0].sqr(), &[x.clone()])?;
        check(|v| v[0].recip(), &[pos.clone()])?;
        check(|v| v[0].powf(2.5), &[pos])?;
        check(|v| v[0].affine(-1.5, 0.25), &[x.clone()])?;
        check(|v| v[0].clamp(-0.07, 0.12), &[away.clone()])?;
        let rng = Philox::new(seed, 9);
        check(|v| v[0].dropout(0.4, rng), &[x.clone()])?;
        check(|v| v[0].t()?.dropout(0.4, rng), &[x.clone()])?;
        // Narrowed (offset, non-contiguous) input.
        check(|v| v[0].narrow(1, 0, 1)?.tanh(), &[x])?;
    }

    #[test]
    fn reductions_and_softmax(shape in prop::collection::vec(1usize..4, 1..4), seed in 0u64..1000, d in 0usize..3) {
        let d = d % shape.len();
        let x = rand(&shape, seed, -2.0, 2.0);
        check(|v| v[0].sum(&[d], false), &[x.clone()])?;
        check(|v| v[0].sum(&[d], true), &[x.clone()])?;
        check(|v| v[0].mean(&[d], false), &[x.clone()])?;
        check(|v| v[0].sum_all(), &[x.clone()])?;
        check(|v| v[0].mean_all(), &[x.clone()])?;
        check(|v| v[0].var(&[d], true, false), &[x.clone()])?;
        if shape[d] > 1 {
            check(|v| v[0].var(&[d], false, true), &[x.clone()])?;
        }
        let dx = distinct(&shape, seed + 1);
        check(|v| v[0].max(&[d], false), &[dx.clone()])?;
        check(|v| v[0].min(&[d], true), &[dx])?;
        check(|v| v[0].log_softmax(d), &[x.clone()])?;
        check(|v| v[0].softmax(d), &[x])?;
    }

    #[test]
    fn views_cat_and_pad((r, c) in dims2(), seed in 0u64..1000) {
        let x = rand(&[r, c, 2], seed, -1.0, 1.0);
        check(|v| v[0].reshape(&[c, r * 2]), &[x.clone()])?;
        check(|v| v[0].permute(&[2, 0, 1]), &[x.clone()])?;
        check(|v| v[0].transpose(0, 2)?.exp(), &[x.clone()])?;
        check(|v| v[0].narrow(0, r - 1, 1), &[x.clone()])?;
        check(|v| v[0].unsqueeze(1)?.expand(&[r, 3, c, 2]), &[x.clone()])?;
        check(|v| v[0].unsqueeze(0)?.squeeze(0)?.flatten_from(1), &[x.clone()])?;
        let y = rand(&[r, 1, 2], seed + 1, -1.0, 1.0);
        check(|v| Var::cat(&[&v[0], &v[1]], 1), &[x.clone(), y])?;
        check(|v| Var::stack(&[&v[0], &v[1]], 1), &[x.clone(), x.mul_scalar(2.0).unwrap()])?;
        let img = rand(&[1, 2, r + 2, c + 2], seed + 2, -1.0, 1.0);
        for mode in [PadMode::Zeros, PadMode::Reflect, PadMode::Replicate] {
            check(|v| v[0].pad2d([1, 0, 1, 1], mode), &[img.clone()])?;
        }
    }

    #[test]
    fn matmul_batched_broadcast_and_vectors(m in 1usize..4, k in 1usize..4, n in 1usize..4, b in 1usize..3, seed in 0u64..1000) {
        let a = rand(&[b, m, k], seed, -1.0, 1.0);
        let w = rand(&[k, n], seed + 1, -1.0, 1.0);
        check(|v| v[0].matmul(&v[1]), &[a.clone(), w.clone()])?;
        check(|v| v[0].matmul(&v[1].t()?), &[a.clone(), w.t().unwrap().contiguous().unwrap()])?;
        let vec_k = rand(&[k], seed + 2, -1.0, 1.0);
        check(|v| v[0].matmul(&v[1]), &[vec_k.clone(), w])?;
        check(|v| v[0].matmul(&v[1]), &[a, vec_k])?;
    }

    #[test]
    fn conv2d_with_bias(n in 1usize..3, c in 1usize..3, co in 1usize..3, hw in 3usize..6, k in 1usize..4, s in 1usize..3, p in 0usize..2, seed in 0u64..1000) {
        let x = rand(&[n, c, hw, hw], seed, -1.0, 1.0);
        let w = rand(&[co, c, k, k], seed + 1, -1.0, 1.0);
        let bias = rand(&[co], seed + 2, -1.0, 1.0);
        let params = Conv2dParams::new(s, p.min(k - 1));
        check(|v| v[0].conv2d(&v[1], Some(&v[2]), params), &[x.clone(), w.clone(), bias])?;
        check(|v| v[0].conv2d(&v[1], None, params), &[x, w])?;
    }

    #[test]
    fn embeddings_cat(n in 1usize..6, w0 in 1usize..4, w1 in 1usize..3, seed in 0u64..1000) {
        let (t0, t1) = (rand(&[4, w0], seed, -1.0, 1.0), rand(&[3, w1], seed + 1, -1.0, 1.0));
        let codes: Vec<i64> = (0..n as i64).flat_map(|b| [(b * 3) % 4, (b * 2 + 1) % 3]).collect();
        let codes = Tensor::from_indices(&codes, &[n, 2]).unwrap();
        check(|v| Var::embeddings_cat(&[&v[0], &v[1]], &codes), &[t0, t1])?;
    }

    #[test]
    fn batch_norm_fused(n in 2usize..4, c in 1usize..4, hw in 1usize..4, seed in 0u64..1000) {
        let w = rand(&[c], seed + 1, 0.5, 1.5);
        let b = rand(&[c], seed + 2, -0.5, 0.5);
        let x2 = rand(&[n, c], seed, -2.0, 2.0);
        check(|v| Ok(v[0].batch_norm(&v[1], &v[2], 1e-5, None)?.0), &[x2, w.clone(), b.clone()])?;
        let x4 = rand(&[n, c, hw, hw + 1], seed + 3, -2.0, 2.0);
        check(|v| Ok(v[0].batch_norm(&v[1], &v[2], 1e-5, None)?.0), &[x4.clone(), w.clone(), b.clone()])?;
        check(|v| v[0].channel_affine(&v[1], &v[2]), &[x4, w.clone(), b.clone()])?;
        let x3 = rand(&[n, c, hw], seed + 4, -2.0, 2.0);
        check(|v| v[0].channel_affine(&v[1], &v[2]), &[x3.clone(), w.clone(), b.clone()])?;
        // At inference, with running statistics as constants.
        let (mean, var) = (rand(&[c], seed + 5, -1.0, 1.0), rand(&[c], seed + 6, 0.2, 2.0));
        check(|v| v[0].batch_norm_eval(&v[1], &v[2], (&mean, &var), 1e-5), &[x3, w, b])?;
    }

    #[test]
    fn pooling(n in 1usize..3, c in 1usize..3, h in 2usize..6, w in 2usize..6, seed in 0u64..1000) {
        let x = distinct(&[n, c, h, w], seed);
        check(|v| v[0].max_pool2d([2, 2], Conv2dParams::new(2, 1)), &[x.clone()])?;
        check(|v| v[0].avg_pool2d([2, 2], Conv2dParams::new(1, 1)), &[x.clone()])?;
        check(|v| v[0].adaptive_avg_pool2d([2, 1]), &[x.clone()])?;
        check(|v| v[0].adaptive_max_pool2d([1, 2]), &[x])?;
    }

    #[test]
    fn index_ops_and_where(rows in 2usize..5, cols in 1usize..4, seed in 0u64..1000) {
        let table = rand(&[rows, cols], seed, -1.0, 1.0);
        // Repeated indices: their gradients must add up.
        let idx = Tensor::from_indices(&[0, (rows - 1) as i64, 0], &[3]).unwrap();
        check(|v| v[0].index_select(0, &idx), &[table.clone()])?;
        let g = Tensor::from_indices(&(0..rows * 2).map(|i| (i % cols) as i64).collect::<Vec<_>>(), &[rows, 2]).unwrap();
        check(|v| v[0].gather(1, &g), &[table.clone()])?;
        let mask = Philox::new(seed, 5).bernoulli(&[rows, cols], 0.5).unwrap().to_dtype(DType::F64).unwrap();
        let other = rand(&[cols], seed + 1, -1.0, 1.0);
        check(|v| Var::constant(mask.clone()).where_cond(&v[0], &v[1]), &[table, other])?;
    }
}

#[test]
fn gradcheck_catches_a_wrong_rule() {
    // A function whose "gradient" is deliberately wrong: detach cuts the dependency on the
    // second use of x, so the tape's gradient of x*x is x, not 2x.
    let x = rand(&[3], 1, 0.5, 1.0);
    let err = gradcheck(|v| v[0].mul(&v[0].detach()), &[x]).unwrap_err();
    assert!(
        matches!(&err, autograd::Error::Gradcheck { input: 0, shape, .. } if shape == &[3]),
        "{err}"
    );
    assert!(err.to_string().contains("finite difference"), "{err}");
}
