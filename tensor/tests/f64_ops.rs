//! f64 as a compute dtype (for finite-difference gradient checks).
//!
//! Every op runs on random f32 data and on the same data converted to f64 (exactly), and the
//! two results must agree: within 1e-5 relative for element-wise ops, within 1e-4 relative
//! to `max(|value|, 1)` for reductions, products and convolutions (inputs are in [-1, 1], so 1
//! is the scale of one term). The f32 side is the less accurate one, so this checks the f64
//! path against the tested f32 path. Views (transposes, broadcasts) are taken inside each
//! op, so the f64 kernels read strided data too.
//!
//! Then a few exact f64 results that f32 cannot reach (sums that lose digits in f32, products
//! of integers beyond 2^24), and the errors: mixing f32 and f64 operands names the op, and
//! i64 (or f16) inputs to arithmetic are refused.
use proptest::prelude::*;
use tensor::random::Philox;
use tensor::{Conv2dParams, DType, Error, PadMode, Result, Tensor};

fn rand(shape: &[usize], seed: u64) -> Tensor {
    Philox::new(seed, 0).uniform(shape, -1.0, 1.0).unwrap()
}

/// Random values in [0.1, 1.1]: inputs for log, sqrt, powf and recip.
fn rand_pos(shape: &[usize], seed: u64) -> Tensor {
    Philox::new(seed, 0).uniform(shape, 0.1, 1.1).unwrap()
}

fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap()
}

fn to64(t: &Tensor) -> Tensor {
    t.to_dtype(DType::F64).unwrap()
}

/// `got` (f64) within `rtol * max(|got|, |want|, floor)` of `want`, NaN matching NaN.
fn assert_close(name: &str, got: &[f64], want: &[f64], rtol: f64, floor: f64) {
    assert_eq!(got.len(), want.len(), "{name}: lengths differ");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if g.is_nan() && w.is_nan() {
            continue;
        }
        let tol = rtol * g.abs().max(w.abs()).max(floor);
        assert!(
            (g - w).abs() <= tol,
            "{name}: element {i} is {g} in f64 but {w} in f32 (tolerance {tol:e})"
        );
    }
}

/// Runs `op` on `inputs` (f32) and on the same inputs as f64; the f64 result must have the
/// f32 result's shape, dtype F64 (i64 stays i64), and agree with it as [`assert_close`] says.
fn agree(
    name: &str,
    inputs: &[&Tensor],
    rtol: f64,
    floor: f64,
    op: impl Fn(&[Tensor]) -> Result<Tensor>,
) {
    let x32: Vec<Tensor> = inputs.iter().map(|&t| t.clone()).collect();
    let x64: Vec<Tensor> = inputs.iter().map(|t| to64(t)).collect();
    let want = op(&x32).unwrap_or_else(|e| panic!("{name} in f32: {e}"));
    let got = op(&x64).unwrap_or_else(|e| panic!("{name} in f64: {e}"));
    assert_eq!(got.shape(), want.shape(), "{name}: shapes differ");
    let expected = if want.dtype() == DType::I64 {
        DType::I64
    } else {
        DType::F64
    };
    assert_eq!(got.dtype(), expected, "{name}: dtype");
    if expected == DType::I64 {
        assert_eq!(
            got.to_vec::<i64>().unwrap(),
            want.to_vec::<i64>().unwrap(),
            "{name}"
        );
    } else {
        assert_close(name, &f64s(&got), &f64s(&want), rtol, floor);
    }
}

/// Element-wise: 1e-5 relative.
fn agree_elementwise(name: &str, inputs: &[&Tensor], op: impl Fn(&[Tensor]) -> Result<Tensor>) {
    agree(name, inputs, 1e-5, 0.0, op)
}

/// Reductions, products, convolutions: 1e-4 relative to max(|value|, 1).
fn agree_reduction(name: &str, inputs: &[&Tensor], op: impl Fn(&[Tensor]) -> Result<Tensor>) {
    agree(name, inputs, 1e-4, 1.0, op)
}

/// Ops that only move elements: exactly equal.
fn agree_exactly(name: &str, inputs: &[&Tensor], op: impl Fn(&[Tensor]) -> Result<Tensor>) {
    agree(name, inputs, 0.0, 0.0, op)
}

type UnaryOp = fn(&Tensor) -> Result<Tensor>;

#[test]
fn unary_ops_agree() {
    let ops: &[(&str, UnaryOp)] = &[
        ("exp", |t| t.exp()),
        ("sigmoid", |t| t.sigmoid()),
        ("tanh", |t| t.tanh()),
        ("relu", |t| t.relu()),
        ("neg", |t| t.neg()),
        ("abs", |t| t.abs()),
        ("sqr", |t| t.sqr()),
        // Away from cancellation: f32 rounds x * mul before adding.
        ("affine", |t| t.affine(-1.5, 2.0)),
        ("add_scalar", |t| t.add_scalar(0.3)),
        ("mul_scalar", |t| t.mul_scalar(-2.5)),
        ("clamp", |t| t.clamp(-0.4, 0.6)),
        ("relu of a transpose", |t| t.t()?.relu()),
        ("exp of a narrowed view", |t| t.narrow(1, 3, 9)?.exp()),
    ];
    // Large enough for the parallel loop, and a small one.
    for shape in [&[33, 17][..], &[300, 200]] {
        let x = rand(shape, 1);
        for (name, op) in ops {
            agree_elementwise(name, &[&x], |t| op(&t[0]));
        }
    }
    let positive: &[(&str, UnaryOp)] = &[
        ("log", |t| t.log()),
        ("sqrt", |t| t.sqrt()),
        ("recip", |t| t.recip()),
        ("powf", |t| t.powf(2.7)),
        ("log of a transpose", |t| t.t()?.log()),
    ];
    let p = rand_pos(&[41, 13], 2);
    for (name, op) in positive {
        agree_elementwise(name, &[&p], |t| op(&t[0]));
    }
    // Large |x|: the stable sigmoid and tanh saturate instead of overflowing.
    let big = rand(&[64], 3).mul_scalar(80.0).unwrap();
    agree_elementwise("sigmoid of large |x|", &[&big], |t| t[0].sigmoid());
    agree_elementwise("tanh of large |x|", &[&big], |t| t[0].tanh());
}

type BinaryOp = fn(&Tensor, &Tensor) -> Result<Tensor>;

#[test]
fn binary_ops_agree_with_broadcasting_and_views() {
    let ops: &[(&str, BinaryOp)] = &[
        ("add", |a, b| a.add(b)),
        ("sub", |a, b| a.sub(b)),
        ("mul", |a, b| a.mul(b)),
        ("div", |a, b| a.div(b)),
        ("maximum", |a, b| a.maximum(b)),
        ("minimum", |a, b| a.minimum(b)),
    ];
    let (a, b) = (rand(&[4, 1, 6], 4), rand(&[5, 6], 5));
    let (c, d) = (rand(&[6, 50], 6), rand(&[50, 6], 7));
    let (e, f) = (rand(&[200, 300], 8), rand(&[300], 9));
    for (name, op) in ops {
        agree_elementwise(name, &[&a, &b], |t| op(&t[0], &t[1]));
        agree_elementwise(name, &[&c, &d], |t| op(&t[0], &t[1].t()?));
        agree_elementwise(name, &[&e, &f], |t| op(&t[0], &t[1]));
        agree_elementwise(name, &[&b, &a], |t| op(&t[0], &t[1]));
    }
    let (p, q) = (
        rand_pos(&[7, 9], 10),
        rand(&[9], 11).mul_scalar(3.0).unwrap(),
    );
    agree_elementwise("pow", &[&p, &q], |t| t[0].pow(&t[1]));
    let nan = Tensor::from_slice(&[f32::NAN, 1.0, -2.0], &[3]).unwrap();
    let other = Tensor::from_slice(&[0.0f32, f32::NAN, 5.0], &[3]).unwrap();
    agree_elementwise("maximum with NaN", &[&nan, &other], |t| t[0].maximum(&t[1]));
    agree_elementwise("minimum with NaN", &[&nan, &other], |t| t[0].minimum(&t[1]));
}

#[test]
fn comparisons_and_where_cond_agree() {
    // Values in {-1, 0, 1}, so that equalities occur.
    let ints = |shape: &[usize], seed| {
        let v: Vec<f32> = f64s(&rand(shape, seed))
            .iter()
            .map(|&x| (x * 1.5).round() as f32)
            .collect();
        Tensor::from_vec(v, shape).unwrap()
    };
    let (a, b) = (ints(&[6, 1, 7], 12), ints(&[5, 7], 13));
    let ops: &[(&str, BinaryOp)] = &[
        ("eq", |a, b| a.eq(b)),
        ("ne", |a, b| a.ne(b)),
        ("lt", |a, b| a.lt(b)),
        ("le", |a, b| a.le(b)),
        ("gt", |a, b| a.gt(b)),
        ("ge", |a, b| a.ge(b)),
    ];
    for (name, op) in ops {
        agree_exactly(name, &[&a, &b], |t| op(&t[0], &t[1]));
    }
    let (x, y) = (rand(&[8, 9], 14), rand(&[9], 15));
    agree_exactly("where_cond", &[&x, &y], |t| {
        t[0].gt(&t[1])?.where_cond(&t[0], &t[1])
    });
    agree_exactly("where_cond of a transposed mask", &[&x, &y], |t| {
        let mask = t[0].t()?.lt(&t[1].unsqueeze(1)?)?;
        mask.where_cond(&t[0].t()?, &t[1].unsqueeze(1)?)
    });
}

#[test]
fn reductions_agree() {
    let x = rand(&[6, 5, 40], 16);
    let dim_sets: &[&[usize]] = &[&[], &[0], &[1], &[2], &[0, 2], &[1, 2], &[2, 0, 1]];
    for &dims in dim_sets {
        for keepdim in [false, true] {
            agree_reduction("sum", &[&x], |t| t[0].sum(dims, keepdim));
            agree_reduction("sum of a transpose", &[&x], |t| {
                t[0].transpose(0, 2)?.sum(dims, keepdim)
            });
            if dims.is_empty() {
                continue;
            }
            agree_reduction("mean", &[&x], |t| t[0].mean(dims, keepdim));
            agree_reduction("var", &[&x], |t| t[0].var(dims, keepdim, false));
            agree_reduction("var (unbiased)", &[&x], |t| t[0].var(dims, keepdim, true));
            agree_exactly("max", &[&x], |t| t[0].max(dims, keepdim));
            agree_exactly("min", &[&x], |t| t[0].min(dims, keepdim));
        }
    }
    for d in 0..3 {
        for keepdim in [false, true] {
            agree_exactly("argmax", &[&x], |t| t[0].argmax(d, keepdim));
            agree_exactly("argmin", &[&x], |t| t[0].argmin(d, keepdim));
        }
    }
    agree_reduction("sum_all", &[&x], |t| t[0].sum_all());
    agree_reduction("mean_all", &[&x], |t| t[0].mean_all());
    // Long rows: the blocks of a sum run in parallel.
    let long = rand(&[300_000], 17);
    agree_reduction("sum_all (long)", &[&long], |t| t[0].sum_all());
    agree_reduction("var (long)", &[&long], |t| t[0].var(&[0], false, true));
    // Many rows: rows run in parallel.
    let wide = rand(&[2000, 40], 18);
    agree_reduction("mean (many rows)", &[&wide], |t| t[0].mean(&[1], false));
}

#[test]
fn softmax_and_log_softmax_agree() {
    let x = rand(&[7, 9, 5], 19).mul_scalar(6.0).unwrap();
    for d in 0..3 {
        agree_elementwise("softmax", &[&x], |t| t[0].softmax(d));
        agree_elementwise("log_softmax", &[&x], |t| t[0].log_softmax(d));
    }
    let big = rand(&[600, 80], 20).mul_scalar(30.0).unwrap();
    agree_elementwise("softmax (parallel)", &[&big], |t| t[0].softmax(1));
    agree_elementwise("log_softmax (parallel)", &[&big], |t| t[0].log_softmax(1));
}

#[test]
fn matmul_agrees() {
    let cases: &[(&[usize], &[usize])] = &[
        (&[37, 19], &[19, 23]),
        (&[130, 70], &[70, 90]),
        (&[3, 1, 8, 5], &[4, 5, 6]),
        (&[2, 3, 4], &[4, 5]),
        (&[7], &[7, 3]),
        (&[4, 7], &[7]),
        (&[7], &[7]),
        (&[0, 5], &[5, 3]),
        (&[3, 0], &[0, 4]),
        (&[2, 3, 5], &[2, 5, 0]),
    ];
    for (i, &(sa, sb)) in cases.iter().enumerate() {
        let (a, b) = (rand(sa, 21 + i as u64), rand(sb, 41 + i as u64));
        agree_reduction(&format!("matmul {sa:?} x {sb:?}"), &[&a, &b], |t| {
            t[0].matmul(&t[1])
        });
    }
    // Transposed and broadcast operands are read in place.
    let (a, b) = (rand(&[11, 6], 60), rand(&[9, 11], 61));
    agree_reduction("matmul of transposes", &[&a, &b], |t| {
        t[0].t()?.matmul(&t[1].t()?)
    });
    let (a, b) = (rand(&[1, 6, 8], 62), rand(&[8, 3], 63));
    agree_reduction("matmul with expanded batch", &[&a, &b], |t| {
        t[0].expand(&[4, 6, 8])?.matmul(&t[1])
    });
}

/// The convolution geometries the tests use: (input, weight, params).
fn conv_cases() -> Vec<([usize; 4], [usize; 4], Conv2dParams)> {
    vec![
        ([2, 3, 9, 8], [4, 3, 3, 2], Conv2dParams::new(1, 0)),
        ([3, 2, 10, 11], [5, 2, 3, 3], Conv2dParams::new(2, 1)),
        (
            [1, 4, 12, 7],
            [3, 4, 5, 3],
            Conv2dParams {
                stride: [2, 1],
                padding: [2, 0],
            },
        ),
        ([5, 3, 6, 6], [2, 3, 1, 1], Conv2dParams::new(1, 0)),
        ([2, 16, 20, 20], [8, 16, 3, 3], Conv2dParams::new(1, 1)),
    ]
}

#[test]
fn convolutions_agree() {
    for (i, (xs, ws, p)) in conv_cases().into_iter().enumerate() {
        let seed = 100 + 10 * i as u64;
        let (x, w, bias) = (
            rand(&xs, seed),
            rand(&ws, seed + 1),
            rand(&[ws[0]], seed + 2),
        );
        let (kh, kw) = (ws[2], ws[3]);
        let y = x.conv2d(&w, None, p).unwrap();
        let dy = rand(y.shape(), seed + 3);
        let name = |op: &str| format!("{op} {xs:?} * {ws:?} {p:?}");
        agree_reduction(&name("conv2d"), &[&x, &w], |t| t[0].conv2d(&t[1], None, p));
        agree_reduction(&name("conv2d with bias"), &[&x, &w, &bias], |t| {
            t[0].conv2d(&t[1], Some(&t[2]), p)
        });
        agree_reduction(&name("conv2d_backward_input"), &[&dy, &w], |t| {
            t[0].conv2d_backward_input(&t[1], &xs, p)
        });
        agree_reduction(&name("conv2d_backward_weight"), &[&dy, &x], |t| {
            t[0].conv2d_backward_weight(&t[1], [kh, kw], p)
        });
        agree_exactly(&name("im2col"), &[&x], |t| t[0].im2col(kh, kw, p));
        let cols = x.im2col(kh, kw, p).unwrap();
        agree_reduction(&name("col2im"), &[&cols], |t| t[0].col2im(&xs, kh, kw, p));
    }
    // Empty batches and empty output channels give empty (f64) results.
    let (x, w) = (rand(&[0, 3, 5, 5], 1), rand(&[2, 3, 3, 3], 2));
    agree_exactly("conv2d of an empty batch", &[&x, &w], |t| {
        t[0].conv2d(&t[1], None, Conv2dParams::new(1, 0))
    });
    let (x, w) = (rand(&[2, 3, 5, 5], 1), rand(&[0, 3, 3, 3], 2));
    agree_exactly("conv2d with no output channels", &[&x, &w], |t| {
        t[0].conv2d(&t[1], None, Conv2dParams::new(1, 0))
    });
    let dy = rand(&[2, 0, 3, 3], 3);
    agree_exactly("conv2d_backward_input with no channels", &[&dy, &w], |t| {
        t[0].conv2d_backward_input(&t[1], &[2, 3, 5, 5], Conv2dParams::new(1, 0))
    });
    agree_exactly("conv2d_backward_weight with no channels", &[&dy, &x], |t| {
        t[0].conv2d_backward_weight(&t[1], [3, 3], Conv2dParams::new(1, 0))
    });
}

#[test]
fn pooling_agrees() {
    let x = rand(&[2, 3, 9, 7], 200);
    let p = Conv2dParams {
        stride: [2, 1],
        padding: [1, 1],
    };
    let k = [3, 2];
    agree_exactly("max_pool2d values", &[&x], |t| Ok(t[0].max_pool2d(k, p)?.0));
    agree_exactly("max_pool2d indices", &[&x], |t| {
        Ok(t[0].max_pool2d(k, p)?.1)
    });
    agree_exactly("adaptive_max_pool2d values", &[&x], |t| {
        Ok(t[0].adaptive_max_pool2d([4, 3])?.0)
    });
    agree_exactly("adaptive_max_pool2d indices", &[&x], |t| {
        Ok(t[0].adaptive_max_pool2d([4, 3])?.1)
    });
    let (y, idx) = x.max_pool2d(k, p).unwrap();
    let dy = rand(y.shape(), 201);
    // Backward passes add gradients up (with cancellation): reduction tolerance.
    agree_reduction("max_pool2d_backward", &[&dy], |t| {
        t[0].max_pool2d_backward(&idx, x.shape(), k, p)
    });
    agree_reduction("avg_pool2d", &[&x], |t| t[0].avg_pool2d(k, p));
    agree_reduction("avg_pool2d_backward", &[&dy], |t| {
        t[0].avg_pool2d_backward(x.shape(), k, p)
    });
    agree_reduction("adaptive_avg_pool2d", &[&x], |t| {
        t[0].adaptive_avg_pool2d([4, 3])
    });
    let dya = rand(&[2, 3, 4, 3], 202);
    agree_reduction("adaptive_avg_pool2d_backward", &[&dya], |t| {
        t[0].adaptive_avg_pool2d_backward(x.shape())
    });
}

#[test]
fn indexing_and_padding_agree() {
    let base = rand(&[5, 4, 3], 300);
    let ids = Tensor::from_indices(&[3, 0, 3, 1, 2, 3, 0], &[7]).unwrap();
    let src = rand(&[5, 7, 3], 301);
    // Adding ops (with cancellation): reduction tolerance.
    agree_reduction("index_add", &[&base, &src], |t| {
        t[0].index_add(1, &ids, &t[1])
    });
    agree_exactly("index_select", &[&base], |t| t[0].index_select(1, &ids));

    let s = rand(&[4, 6], 302);
    let index = Tensor::from_indices(&[5, 0, 5, 1, 2, 2, 0, 0, 4, 3, 3, 3], &[4, 3]).unwrap();
    let from = rand(&[4, 5], 303);
    agree_reduction("scatter_add", &[&s, &from], |t| {
        t[0].scatter_add(1, &index, &t[1])
    });
    agree_reduction("scatter_add from a transpose", &[&s, &from], |t| {
        t[0].scatter_add(1, &index, &t[1].t()?.t()?)
    });
    agree_exactly("gather", &[&s], |t| t[0].gather(1, &index));

    let a = rand(&[2, 3, 4], 304);
    let b = rand(&[2, 3, 4], 305);
    agree_exactly("cat", &[&a, &b], |t| Tensor::cat(&[&t[0], &t[1]], 1));
    agree_exactly("stack", &[&a, &b], |t| Tensor::stack(&[&t[0], &t[1]], 2));
    agree_exactly("contiguous of a permutation", &[&a], |t| {
        t[0].permute(&[2, 0, 1])?.contiguous()
    });

    let x = rand(&[2, 3, 5, 6], 306);
    let pads = [2, 1, 1, 3];
    for mode in [PadMode::Zeros, PadMode::Reflect, PadMode::Replicate] {
        agree_exactly("pad2d", &[&x], |t| t[0].pad2d(pads, mode));
        let dy = rand(x.pad2d(pads, mode).unwrap().shape(), 307);
        agree_reduction("pad2d_backward", &[&dy], |t| {
            t[0].pad2d_backward(x.shape(), pads, mode)
        });
    }
}

// ------------------------------------------------------------------ exact f64 results

#[test]
fn f64_sums_keep_digits_that_f32_loses() {
    // 2^30 + 1 + 1 + 1: the ulp of 2^30 in f32 is 128, so f32 returns 2^30.
    let v = [(1u64 << 30) as f64, 1.0, 1.0, 1.0];
    let x = Tensor::from_slice(&v, &[4]).unwrap();
    let sum = x.sum_all().unwrap();
    assert_eq!(sum.dtype(), DType::F64);
    assert_eq!(sum.to_vec::<f64>().unwrap(), [(1u64 << 30) as f64 + 3.0]);
    let in_f32 = x.to_dtype(DType::F32).unwrap().sum_all().unwrap();
    assert_ne!(
        in_f32.to_scalar().unwrap() as f64,
        (1u64 << 30) as f64 + 3.0
    );
    // Mean and variance of values that f32 cannot even hold (1e8 + 1 rounds to 1e8 there).
    let y = Tensor::from_vec(vec![1e8 + 1.0, 1e8 + 2.0, 1e8 + 3.0, 1e8 + 4.0], &[4]).unwrap();
    assert_eq!(y.mean_all().unwrap().to_vec::<f64>().unwrap(), [1e8 + 2.5]);
    assert_eq!(
        y.var(&[0], false, false).unwrap().to_vec::<f64>().unwrap(),
        [1.25]
    );
    assert_eq!(
        y.var(&[0], false, true).unwrap().to_vec::<f64>().unwrap(),
        [5.0 / 3.0]
    );
    // A million copies of 0.1 sum to 100000 within 1e-6; in f32 (where 0.1 is
    // 0.100000001490116) the sum is off by 1.5e-3.
    let z = Tensor::from_vec(vec![0.1f64; 1_000_000], &[1_000_000]).unwrap();
    let s = z.sum_all().unwrap().to_vec::<f64>().unwrap()[0];
    assert!((s - 1e5).abs() < 1e-6, "{s}");
    let s32 = z.to_dtype(DType::F32).unwrap().sum_all().unwrap();
    assert!((s32.to_scalar().unwrap() as f64 - 1e5).abs() > 1e-4);
}

/// Integers in [2^24, 2^25): not representable in f32 (all but the even ones), exactly in f64.
fn big_ints(n: usize, seed: u64) -> Vec<i64> {
    f64s(&Philox::new(seed, 0).uniform(&[n], 0.0, 1.0).unwrap())
        .iter()
        .map(|&u| ((1 << 24) + (u * (1u64 << 24) as f64) as i64) | 1)
        .collect()
}

#[test]
fn f64_products_of_integers_beyond_2_pow_24_are_exact() {
    // Products up to 2^50, sums of four up to 2^52: every partial sum is an exact f64.
    let (m, k, n) = (3, 4, 5);
    let (a, b) = (big_ints(m * k, 1), big_ints(k * n, 2));
    let to_t = |v: &[i64], shape: &[usize]| {
        Tensor::from_vec(v.iter().map(|&i| i as f64).collect::<Vec<_>>(), shape).unwrap()
    };
    let got = to_t(&a, &[m, k])
        .matmul(&to_t(&b, &[k, n]))
        .unwrap()
        .to_vec::<f64>()
        .unwrap();
    let want: Vec<f64> = (0..m * n)
        .map(|ij| {
            let (i, j) = (ij / n, ij % n);
            (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum::<i64>() as f64
        })
        .collect();
    assert_eq!(got, want);
    // The same numbers in f32 are already rounded.
    let a32 = to_t(&a, &[m, k]).to_dtype(DType::F32).unwrap();
    assert_ne!(f64s(&a32), a.iter().map(|&i| i as f64).collect::<Vec<_>>());
}

#[test]
fn f64_convolution_of_integers_is_exact() {
    // Values below 2^21 (odd ones above 2^24 shifted down), 2 * 3 * 3 taps: sums below 2^47,
    // exact in f64. Checked against the definition written as loops.
    let (n, c, h, w, co, kh, kw) = (2, 2, 6, 5, 3, 3, 3);
    let (s, pad) = (2, 1);
    let ints = |len, seed| -> Vec<i64> {
        big_ints(len, seed)
            .iter()
            .map(|&v| (v >> 4) - (1 << 19))
            .collect()
    };
    let (x, wt) = (ints(n * c * h * w, 3), ints(co * c * kh * kw, 4));
    let as_f64 = |v: &[i64]| v.iter().map(|&i| i as f64).collect::<Vec<f64>>();
    let xt = Tensor::from_vec(as_f64(&x), &[n, c, h, w]).unwrap();
    let wt_t = Tensor::from_vec(as_f64(&wt), &[co, c, kh, kw]).unwrap();
    let y = xt.conv2d(&wt_t, None, Conv2dParams::new(s, pad)).unwrap();
    let (ho, wo) = ((h + 2 * pad - kh) / s + 1, (w + 2 * pad - kw) / s + 1);
    assert_eq!(y.shape(), [n, co, ho, wo]);
    let mut want = vec![0f64; n * co * ho * wo];
    for (at, out) in want.iter_mut().enumerate() {
        let (b, o, oy, ox) = (
            at / (co * ho * wo),
            at / (ho * wo) % co,
            at / wo % ho,
            at % wo,
        );
        let mut acc = 0i64;
        for ci in 0..c {
            for i in 0..kh {
                for j in 0..kw {
                    let (iy, ix) = (
                        (oy * s + i) as i64 - pad as i64,
                        (ox * s + j) as i64 - pad as i64,
                    );
                    if iy < 0 || ix < 0 || iy >= h as i64 || ix >= w as i64 {
                        continue;
                    }
                    let xv = x[((b * c + ci) * h + iy as usize) * w + ix as usize];
                    acc += xv * wt[((o * c + ci) * kh + i) * kw + j];
                }
            }
        }
        *out = acc as f64;
    }
    assert_eq!(y.to_vec::<f64>().unwrap(), want);
}

#[test]
fn f64_softmax_rows_sum_to_one_to_f64_precision() {
    let x = rand(&[4, 50], 400).mul_scalar(10.0).unwrap();
    let p = to64(&x).softmax(1).unwrap().sum(&[1], false).unwrap();
    for s in p.to_vec::<f64>().unwrap() {
        assert!((s - 1.0).abs() < 1e-14, "{s}");
    }
}

// ------------------------------------------------------------------ construction, dtypes

#[test]
fn f64_tensors_are_built_converted_and_printed() {
    let t = Tensor::from_vec(vec![1.5f64, -2.0], &[2]).unwrap();
    assert_eq!(t.dtype(), DType::F64);
    assert_eq!(DType::F64.size_in_bytes(), 8);
    assert_eq!(DType::F64.to_string(), "f64");
    assert_eq!(format!("{t:?}"), "Tensor[[2], f64] [1.5, -2.0]");
    assert_eq!(
        Tensor::from_slice(&[1.0f64; 6], &[2, 3]).unwrap().dtype(),
        DType::F64
    );

    // f32 -> f64 -> f32 gives back the same bits; f64 -> i64 truncates toward zero.
    let x = rand(&[100], 500);
    let back = to64(&x).to_dtype(DType::F32).unwrap();
    assert_eq!(back.to_vec::<f32>().unwrap(), x.to_vec::<f32>().unwrap());
    let r = Tensor::from_vec(vec![-2.7f64, 2.7, 0.5], &[3]).unwrap();
    assert_eq!(
        r.to_dtype(DType::I64).unwrap().to_vec::<i64>().unwrap(),
        [-2, 2, 0]
    );
    // i64 -> f64 keeps integers up to 2^53 (through f32 they would round).
    let big = Tensor::from_indices(&[(1 << 53) - 1, -(1 << 40) - 1], &[2]).unwrap();
    assert_eq!(
        big.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap(),
        [((1u64 << 53) - 1) as f64, -((1u64 << 40) as f64) - 1.0]
    );
    // f64 -> f16 and bf16 go through f32, as PyTorch's: 1 + 2^-11 + 2^-40 rounds to the
    // f16 midpoint 1 + 2^-11 in f32, then to even (1).
    let x = rand(&[1000], 501).mul_scalar(70000.0).unwrap();
    for dt in [DType::F16, DType::BF16] {
        let direct = to64(&x).to_dtype(dt).unwrap();
        let via_f32 = x.to_dtype(dt).unwrap();
        assert_eq!(f64s(&direct), f64s(&via_f32), "{dt}");
    }
    let just_above = 1.0 + 2f64.powi(-11) + 2f64.powi(-40);
    let h = Tensor::from_vec(vec![just_above, 1.0 + 2f64.powi(-10)], &[2])
        .unwrap()
        .to_dtype(DType::F16)
        .unwrap();
    assert_eq!(h.dtype(), DType::F16);
    // f16 -> f64 exactly.
    assert_eq!(f64s(&h), [1.0, 1.0 + 2f64.powi(-10)]);
    let b = Tensor::from_vec(vec![1.0 + 2f64.powi(-7)], &[1])
        .unwrap()
        .to_dtype(DType::BF16)
        .unwrap();
    assert_eq!(f64s(&b), [1.0 + 2f64.powi(-7)]);
}

// ------------------------------------------------------------------ errors

/// `r` is an `Error::DType` from `op`, expecting `expected` and given `got`.
fn assert_dtype_error(r: Result<Tensor>, op: &str, expected: DType, got: DType) {
    match r {
        Err(Error::DType {
            op: o,
            expected: e,
            got: g,
        }) => assert_eq!((o, e, g), (op, expected, got), "{op}"),
        other => panic!("{op}: expected a dtype error, got {other:?}"),
    }
}

#[test]
fn mixing_f32_and_f64_is_an_error_naming_the_op() {
    let a32 = rand(&[2, 3, 6, 6], 600);
    let a64 = to64(&a32);
    let w32 = rand(&[4, 3, 3, 3], 601);
    let w64 = to64(&w32);
    let p = Conv2dParams::new(1, 1);
    let (f32_, f64_) = (DType::F32, DType::F64);
    let binary: &[(&str, BinaryOp)] = &[
        ("add", |a, b| a.add(b)),
        ("sub", |a, b| a.sub(b)),
        ("mul", |a, b| a.mul(b)),
        ("div", |a, b| a.div(b)),
        ("pow", |a, b| a.pow(b)),
        ("maximum", |a, b| a.maximum(b)),
        ("minimum", |a, b| a.minimum(b)),
        ("eq", |a, b| a.eq(b)),
        ("lt", |a, b| a.lt(b)),
        ("ge", |a, b| a.ge(b)),
    ];
    for (name, op) in binary {
        assert_dtype_error(op(&a64, &a32), name, f64_, f32_);
        assert_dtype_error(op(&a32, &a64), name, f32_, f64_);
    }
    let m32 = rand(&[3, 4], 602);
    let m64 = to64(&m32);
    assert_dtype_error(m64.matmul(&m32.t().unwrap()), "matmul", f64_, f32_);
    assert_dtype_error(m32.matmul(&m64.t().unwrap()), "matmul", f32_, f64_);
    assert_dtype_error(a64.where_cond(&a64, &a32), "where_cond", f64_, f32_);
    assert_dtype_error(a64.where_cond(&a32, &a64), "where_cond", f64_, f32_);
    assert_dtype_error(a32.where_cond(&a64, &a32), "where_cond", f32_, f64_);
    assert_dtype_error(a64.conv2d(&w32, None, p), "conv2d", f64_, f32_);
    assert_dtype_error(a32.conv2d(&w64, None, p), "conv2d", f32_, f64_);
    let b32 = rand(&[4], 603);
    assert_dtype_error(a64.conv2d(&w64, Some(&b32), p), "conv2d", f64_, f32_);
    let dy64 = a64.conv2d(&w64, None, p).unwrap();
    assert_dtype_error(
        dy64.conv2d_backward_input(&w32, a32.shape(), p),
        "conv2d_backward_input",
        f64_,
        f32_,
    );
    assert_dtype_error(
        dy64.conv2d_backward_weight(&a32, [3, 3], p),
        "conv2d_backward_weight",
        f64_,
        f32_,
    );
    let ids = Tensor::from_indices(&[0, 1], &[2]).unwrap();
    let src32 = rand(&[2, 4], 604);
    assert_dtype_error(m64.index_add(0, &ids, &src32), "index_add", f64_, f32_);
    let index = Tensor::from_indices(&[0, 1, 2], &[1, 3]).unwrap();
    assert_dtype_error(
        m64.scatter_add(1, &index, &src32),
        "scatter_add",
        f64_,
        f32_,
    );
    match Tensor::cat(&[&m64, &m32], 0) {
        Err(e) => assert_eq!(e.op(), "cat"),
        Ok(_) => panic!("cat of f64 and f32 succeeded"),
    }
}

#[test]
fn i64_and_f16_inputs_to_arithmetic_are_errors() {
    let ids = Tensor::from_indices(&[1, 2, 3, 4, 5, 6], &[1, 1, 2, 3]).unwrap();
    let half = rand(&[1, 1, 2, 3], 700).to_dtype(DType::F16).unwrap();
    let p = Conv2dParams::new(1, 0);
    for t in [&ids, &half] {
        let got = t.dtype();
        let expect = |r: Result<Tensor>, op: &str| assert_dtype_error(r, op, DType::F32, got);
        expect(t.exp(), "exp");
        expect(t.relu(), "relu");
        expect(t.sigmoid(), "sigmoid");
        expect(t.affine(2.0, 1.0), "affine");
        expect(t.clamp(0.0, 1.0), "clamp");
        expect(t.powf(2.0), "powf");
        expect(t.add(t), "add");
        expect(t.pow(t), "pow");
        expect(t.gt(t), "gt");
        expect(t.where_cond(t, t), "where_cond");
        expect(t.sum(&[3], false), "sum");
        expect(t.sum_all(), "sum");
        expect(t.mean(&[3], false), "mean");
        expect(t.var(&[3], false, true), "var");
        expect(t.max(&[3], false), "max");
        expect(t.min(&[3], false), "min");
        expect(t.argmax(3, false), "argmax");
        expect(t.argmin(3, false), "argmin");
        expect(t.softmax(3), "softmax");
        expect(t.log_softmax(3), "log_softmax");
        expect(t.matmul(&t.t().unwrap()), "matmul");
        expect(t.conv2d(t, None, p), "conv2d");
        expect(t.im2col(1, 1, p), "im2col");
        expect(t.max_pool2d([1, 1], p).map(|r| r.0), "max_pool2d");
        expect(t.avg_pool2d([1, 1], p), "avg_pool2d");
        expect(t.adaptive_avg_pool2d([1, 1]), "adaptive_avg_pool2d");
        expect(
            t.pad2d_backward(&[1, 1, 2, 1], [1, 1, 0, 0], PadMode::Zeros),
            "pad2d_backward",
        );
        let index = Tensor::from_indices(&[0], &[1]).unwrap();
        expect(
            t.index_add(3, &index, &t.narrow(3, 0, 1).unwrap()),
            "index_add",
        );
    }
}

#[test]
fn clamp_refuses_nan_bounds_in_both_dtypes() {
    let x = rand(&[5], 800);
    for t in [x.clone(), to64(&x)] {
        for (lo, hi) in [(f32::NAN, 1.0), (0.0, f32::NAN), (1.0, 0.0)] {
            match t.clamp(lo, hi) {
                Err(Error::Bounds { op, lo: l, hi: h }) => {
                    assert_eq!(op, "clamp");
                    assert_eq!(
                        (l.to_bits(), h.to_bits()),
                        (f64::from(lo).to_bits(), f64::from(hi).to_bits())
                    );
                }
                other => panic!("clamp({lo}, {hi}) gave {other:?}"),
            }
        }
    }
}

// ------------------------------------------------------------------ no panics in f64

fn small_shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..4, 0..5)
}

fn small_shape4() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..5, 4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    /// The f64 paths meet empty dimensions and 0-d tensors as the f32 ones do: a result or
    /// an error, never a panic.
    #[test]
    fn f64_ops_never_panic(a in prop_oneof![small_shape(), small_shape4()], b in prop_oneof![small_shape(), small_shape4()], d in 0usize..4, seed in 0u64..100) {
        let x = to64(&rand(&a, seed));
        let y = to64(&rand(&b, seed + 1));
        let _ = x.add(&y);
        let _ = x.gt(&y).and_then(|m| m.where_cond(&x, &y));
        let _ = x.matmul(&y);
        let _ = x.sum(&[d], true);
        let _ = x.mean(&[d], false);
        let _ = x.var(&[d], false, true);
        let _ = x.max(&[d], false);
        let _ = x.argmax(d, false);
        let _ = x.log_softmax(d);
        let _ = x.softmax(d);
        let _ = x.sum_all();
        let _ = x.mean_all();
        let _ = x.exp();
        let _ = x.clamp(-0.5, 0.5);
        let idx = Tensor::from_indices(&[0, 2, -1], &[3]).unwrap();
        let _ = x.index_add(d, &idx, &y);
        let _ = x.scatter_add(d, &idx, &y);
        for mode in [PadMode::Zeros, PadMode::Reflect, PadMode::Replicate] {
            let _ = x.pad2d_backward(&b, [d, 1, 0, d], mode);
        }
        if a.len() == 4 && b.len() == 4 {
            let p = Conv2dParams::new(d, d / 2);
            let _ = x.conv2d(&y, None, p);
            let _ = x.im2col(b[2], b[3], p);
            let _ = x.col2im(&b, 2, 2, p);
            let _ = x.conv2d_backward_input(&y, &b, p);
            let _ = x.conv2d_backward_weight(&y, [2, 2], p);
            let _ = x
                .max_pool2d([d, 2], p)
                .and_then(|(v, i)| v.max_pool2d_backward(&i, &a, [d, 2], p));
            let _ = x
                .adaptive_max_pool2d([2, d])
                .and_then(|(v, i)| v.adaptive_max_pool2d_backward(&i, &a));
            let _ = x.avg_pool2d([2, d], p);
            let _ = x.avg_pool2d_backward(&b, [2, 2], p);
            let _ = x.adaptive_avg_pool2d([d, 2]);
            let _ = x.adaptive_avg_pool2d_backward(&b);
        }
    }
}
