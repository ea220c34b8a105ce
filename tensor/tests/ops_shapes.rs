//! Pooling, indexing, cat/stack and padding: small hand-computed examples (checked against
//! PyTorch 2.x), error cases, and one property per backward pass: it is the adjoint of its
//! forward, `<forward(x), g> == <x, backward(g)>` for random `x` and `g`, accumulated in f64
//! and compared to 1e-4 relative to the sum of the absolute products.
use proptest::prelude::*;
use tensor::random::Philox;
use tensor::{Conv2dParams, DType, Error, PadMode, Tensor};

fn t(data: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(data, shape).unwrap()
}

fn ids(data: &[i64], shape: &[usize]) -> Tensor {
    Tensor::from_indices(data, shape).unwrap()
}

fn f32s(x: &Tensor) -> Vec<f32> {
    x.to_vec::<f32>().unwrap()
}

fn i64s(x: &Tensor) -> Vec<i64> {
    x.to_vec::<i64>().unwrap()
}

fn rand(shape: &[usize], seed: u64) -> Tensor {
    Philox::new(seed, 0).uniform(shape, -1.0, 1.0).unwrap()
}

/// `n` random indices in `0..size` (repeats likely).
fn rand_ids(n: usize, size: usize, seed: u64) -> Vec<i64> {
    let u = Philox::new(seed, 1).uniform(&[n], 0.0, 1.0).unwrap();
    f32s(&u)
        .iter()
        .map(|&v| ((v * size as f32) as i64).min(size as i64 - 1))
        .collect()
}

/// `<a, b>` in f64 and the sum of `|a_i * b_i|` (the scale of its rounding error).
fn dot(a: &Tensor, b: &Tensor) -> (f64, f64) {
    assert_eq!(a.shape(), b.shape());
    f32s(a)
        .iter()
        .zip(&f32s(b))
        .fold((0.0, 0.0), |(s, m), (&x, &y)| {
            let p = x as f64 * y as f64;
            (s + p, m + p.abs())
        })
}

/// `<y, g> == <x, dx>` to 1e-4 relative.
fn check_adjoint(x: &Tensor, dx: &Tensor, y: &Tensor, g: &Tensor) -> Result<(), TestCaseError> {
    let (lhs, lscale) = dot(y, g);
    let (rhs, rscale) = dot(x, dx);
    let tol = 1e-4 * (lscale + rscale) + 1e-12;
    prop_assert!(
        (lhs - rhs).abs() <= tol,
        "<forward(x), g> = {lhs} but <x, backward(g)> = {rhs}"
    );
    Ok(())
}

// ---------------------------------------------------------------- pooling

#[test]
fn max_pool_4x4_values_and_indices() {
    #[rustfmt::skip]
    let x = t(&[1., 2., 5., 6.,
                3., 4., 8., 7.,
                9., 12., 13., 16.,
                10., 11., 14., 15.], &[1, 1, 4, 4]);
    let (v, i) = x.max_pool2d([2, 2], Conv2dParams::new(2, 0)).unwrap();
    assert_eq!(v.shape(), [1, 1, 2, 2]);
    assert_eq!(f32s(&v), [4., 8., 12., 16.]);
    assert_eq!(i.dtype(), DType::I64);
    assert_eq!(i64s(&i), [5, 6, 9, 11]);
    // The backward pass puts each gradient at its index.
    let dx = t(&[1., 2., 3., 4.], &[1, 1, 2, 2])
        .max_pool2d_backward(&i, &[1, 1, 4, 4], [2, 2], Conv2dParams::new(2, 0))
        .unwrap();
    let mut want = vec![0f32; 16];
    for (&at, g) in [5, 6, 9, 11].iter().zip([1., 2., 3., 4.]) {
        want[at] = g;
    }
    assert_eq!(f32s(&dx), want);
}

#[test]
fn max_pool_padding_is_never_selected() {
    // All values negative: a zero-padded max would pick the padding.
    let x = t(
        &(1..=16).map(|v| -(v as f32)).collect::<Vec<_>>(),
        &[1, 1, 4, 4],
    );
    let (v, i) = x.max_pool2d([3, 3], Conv2dParams::new(2, 1)).unwrap();
    assert_eq!(f32s(&v), [-1., -2., -5., -6.]);
    assert_eq!(i64s(&i), [0, 1, 4, 5]);
}

#[test]
fn max_pool_propagates_nan_like_pytorch() {
    let nan = f32::NAN;
    let x = t(&[1., nan, 3., nan, 0., 7., 2., 2., 9.], &[1, 1, 3, 3]);
    let (v, i) = x.max_pool2d([2, 2], Conv2dParams::new(1, 0)).unwrap();
    let v = f32s(&v);
    assert!(v[0].is_nan() && v[1].is_nan() && v[2].is_nan());
    assert_eq!(v[3], 9.0);
    // PyTorch: the last NaN of the window in row-major order.
    assert_eq!(i64s(&i), [3, 1, 3, 8]);
}

#[test]
fn max_pool_of_a_view_matches_its_copy() {
    let x = rand(&[2, 5, 6, 3], 4).permute(&[0, 3, 1, 2]).unwrap();
    assert!(!x.is_contiguous());
    let p = Conv2dParams::new(2, 1);
    let (a, ai) = x.max_pool2d([3, 2], p).unwrap();
    let (b, bi) = x.contiguous().unwrap().max_pool2d([3, 2], p).unwrap();
    assert_eq!(f32s(&a), f32s(&b));
    assert_eq!(i64s(&ai), i64s(&bi));
}

#[test]
fn avg_pool_counts_padding() {
    let x = Tensor::ones(&[1, 1, 2, 2]);
    let y = x.avg_pool2d([2, 2], Conv2dParams::new(1, 1)).unwrap();
    assert_eq!(y.shape(), [1, 1, 3, 3]);
    assert_eq!(f32s(&y), [0.25, 0.5, 0.25, 0.5, 1.0, 0.5, 0.25, 0.5, 0.25]);
    let dx = Tensor::ones(&[1, 1, 3, 3])
        .avg_pool2d_backward(&[1, 1, 2, 2], [2, 2], Conv2dParams::new(1, 1))
        .unwrap();
    // Every input pixel lies in 4 windows, each passing 1/4.
    assert_eq!(f32s(&dx), [1.0; 4]);
}

#[test]
fn adaptive_pools_3x3_to_2x2() {
    let x = t(
        &(1..=9).map(|v| v as f32).collect::<Vec<_>>(),
        &[1, 1, 3, 3],
    );
    // Windows rows/cols 0..2 and 1..3: they overlap on the middle row and column.
    let y = x.adaptive_avg_pool2d([2, 2]).unwrap();
    assert_eq!(f32s(&y), [3., 4., 6., 7.]);
    let (v, i) = x.adaptive_max_pool2d([2, 2]).unwrap();
    assert_eq!(f32s(&v), [5., 6., 8., 9.]);
    assert_eq!(i64s(&i), [4, 5, 7, 8]);
    // The middle pixel is in all four windows.
    let dx = Tensor::ones(&[1, 1, 2, 2])
        .adaptive_avg_pool2d_backward(&[1, 1, 3, 3])
        .unwrap();
    assert_eq!(f32s(&dx), [0.25, 0.5, 0.25, 0.5, 1.0, 0.5, 0.25, 0.5, 0.25]);
}

#[test]
fn adaptive_avg_uneven_windows() {
    // Width 5 into 3: windows 0..2, 1..4, 3..5.
    let x = t(&[0., 1., 2., 3., 4.], &[1, 1, 1, 5]);
    let y = x.adaptive_avg_pool2d([1, 3]).unwrap();
    assert_eq!(f32s(&y), [0.5, 2.0, 3.5]);
    // Global average pooling, as ResNet's head.
    let g = rand(&[2, 3, 7, 5], 9).adaptive_avg_pool2d([1, 1]).unwrap();
    assert_eq!(g.shape(), [2, 3, 1, 1]);
}

#[test]
fn pooling_errors() {
    let x = Tensor::zeros(&[1, 4, 4]);
    let e = x.max_pool2d([2, 2], Conv2dParams::new(2, 0)).unwrap_err();
    assert!(e.to_string().contains("[1, 4, 4]"), "{e}");
    let x = Tensor::zeros(&[1, 1, 4, 4]);
    // PyTorch: pad should be at most half of the kernel size.
    assert!(x.max_pool2d([2, 2], Conv2dParams::new(2, 2)).is_err());
    assert!(x.avg_pool2d([5, 5], Conv2dParams::new(1, 0)).is_err());
    assert!(x.max_pool2d([2, 2], Conv2dParams::new(0, 0)).is_err());
    assert!(x.adaptive_avg_pool2d([0, 1]).is_err());
    assert!(Tensor::zeros(&[1, 1, 0, 4])
        .adaptive_avg_pool2d([1, 1])
        .is_err());
    // Indices outside the input plane, or inside it but outside their window (the one
    // window of a 4x4 kernel over 4x4 holds all; the four of 2x2/2 hold a quarter each).
    let whole = ([4, 4], Conv2dParams::new(1, 0));
    let e = Tensor::ones(&[1, 1, 1, 1])
        .max_pool2d_backward(&ids(&[16], &[1, 1, 1, 1]), &[1, 1, 4, 4], whole.0, whole.1)
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::OutsideWindow {
                index: 16,
                position: 0,
                ..
            }
        ),
        "{e}"
    );
    assert!(Tensor::ones(&[1, 1, 1, 1])
        .max_pool2d_backward(&ids(&[-1], &[1, 1, 1, 1]), &[1, 1, 4, 4], whole.0, whole.1)
        .is_err());
    let quarters = ([2, 2], Conv2dParams::new(2, 0));
    let e = Tensor::ones(&[1, 1, 2, 2])
        .max_pool2d_backward(
            &ids(&[0, 2, 10, 15], &[1, 1, 2, 2]),
            &[1, 1, 4, 4],
            quarters.0,
            quarters.1,
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::OutsideWindow {
                index: 10,
                position: 2,
                ..
            }
        ) && e.to_string().contains("index 10 (output 2"),
        "{e}"
    );
    assert!(Tensor::ones(&[1, 1, 2, 2])
        .adaptive_max_pool2d_backward(&ids(&[1, 0, 8, 15], &[1, 1, 2, 2]), &[1, 1, 4, 4])
        .is_err());
    // A gradient whose shape does not fit the input.
    assert!(Tensor::ones(&[1, 1, 3, 3])
        .avg_pool2d_backward(&[1, 1, 4, 4], [2, 2], Conv2dParams::new(2, 0))
        .is_err());
}

// ---------------------------------------------------------------- indexing

#[test]
fn index_select_is_an_embedding_lookup() {
    let w = t(&[0., 1., 2., 3., 4., 5., 6., 7.], &[4, 2]);
    let y = w.index_select(0, &ids(&[3, 0, 3], &[3])).unwrap();
    assert_eq!(y.shape(), [3, 2]);
    assert_eq!(f32s(&y), [6., 7., 0., 1., 6., 7.]);
    let cols = w.index_select(1, &ids(&[1], &[1])).unwrap();
    assert_eq!(cols.shape(), [4, 1]);
    assert_eq!(f32s(&cols), [1., 3., 5., 7.]);
    // Any dtype.
    let l = ids(&[10, 20, 30], &[3])
        .index_select(0, &ids(&[2, 2], &[2]))
        .unwrap();
    assert_eq!(i64s(&l), [30, 30]);
}

#[test]
fn index_select_errors_name_index_and_size() {
    let w = Tensor::zeros(&[4, 2]);
    let e = w.index_select(0, &ids(&[1, 7], &[2])).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(
            e,
            Error::IndexOutOfRange {
                index: 7,
                position: 1,
                dim: 0,
                size: 4,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("index_select") && msg.contains('7') && msg.contains("size 4"),
        "{msg}"
    );
    let e = w.index_select(0, &ids(&[-1], &[1])).unwrap_err();
    assert!(
        matches!(
            e,
            Error::IndexOutOfRange {
                index: -1,
                position: 0,
                ..
            }
        ) && e.to_string().contains("-1"),
        "{e}"
    );
    assert!(w.index_select(2, &ids(&[0], &[1])).is_err());
    assert!(
        w.index_select(0, &Tensor::zeros(&[1])).is_err(),
        "f32 indices"
    );
    assert!(
        w.index_select(0, &ids(&[0, 1], &[1, 2])).is_err(),
        "2-D indices"
    );
}

#[test]
fn index_add_accumulates_duplicates() {
    let src = t(&[1., 1., 2., 2., 3., 3.], &[3, 2]);
    let y = Tensor::zeros(&[3, 2])
        .index_add(0, &ids(&[0, 2, 0], &[3]), &src)
        .unwrap();
    assert_eq!(f32s(&y), [4., 4., 0., 0., 2., 2.]);
    // Added to self, along dimension 1.
    let y = Tensor::ones(&[2, 3])
        .index_add(1, &ids(&[2, 2], &[2]), &t(&[1., 2., 3., 4.], &[2, 2]))
        .unwrap();
    assert_eq!(f32s(&y), [1., 1., 4., 1., 1., 8.]);
    let e = Tensor::zeros(&[3, 2]).index_add(0, &ids(&[3], &[1]), &Tensor::zeros(&[1, 2]));
    assert!(matches!(
        e,
        Err(Error::IndexOutOfRange {
            index: 3,
            dim: 0,
            size: 3,
            ..
        })
    ));
    let e = Tensor::zeros(&[3, 2]).index_add(0, &ids(&[0], &[1]), &Tensor::zeros(&[2, 2]));
    assert!(
        matches!(e, Err(Error::Shape { ref shapes, .. }) if shapes == &[vec![2, 2], vec![1, 2]])
    );
}

#[test]
fn gather_and_scatter_add_like_torch_docs() {
    let x = t(&[1., 2., 3., 4.], &[2, 2]);
    let y = x.gather(1, &ids(&[0, 0, 1, 0], &[2, 2])).unwrap();
    assert_eq!(f32s(&y), [1., 1., 4., 3.]);
    // Cross-entropy's pick: one target per row.
    let lp = t(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], &[2, 3]);
    let picked = lp.gather(1, &ids(&[2, 0], &[2, 1])).unwrap();
    assert_eq!(picked.shape(), [2, 1]);
    assert_eq!(f32s(&picked), [0.3, 0.4]);
    // Gather from a transposed view reads through its strides.
    let xt = x.t().unwrap();
    let yt = xt.gather(0, &ids(&[1, 0], &[1, 2])).unwrap();
    assert_eq!(
        f32s(&yt),
        f32s(
            &xt.contiguous()
                .unwrap()
                .gather(0, &ids(&[1, 0], &[1, 2]))
                .unwrap()
        )
    );
    assert_eq!(f32s(&yt), [2., 3.]);

    let out = Tensor::zeros(&[3, 5])
        .scatter_add(0, &ids(&[0, 1, 2, 0, 0], &[1, 5]), &Tensor::ones(&[2, 5]))
        .unwrap();
    #[rustfmt::skip]
    assert_eq!(f32s(&out), [1., 0., 0., 1., 1.,
                            0., 1., 0., 0., 0.,
                            0., 0., 1., 0., 0.]);
    let out = Tensor::ones(&[2, 3])
        .scatter_add(
            1,
            &ids(&[2, 2, 0, 1], &[2, 2]),
            &t(&[1., 2., 3., 4., 5., 6.], &[2, 3]),
        )
        .unwrap();
    assert_eq!(f32s(&out), [1., 1., 4., 5., 6., 1.]);
}

#[test]
fn gather_scatter_errors() {
    let x = Tensor::zeros(&[2, 3]);
    let e = x.gather(1, &ids(&[3], &[1, 1])).unwrap_err();
    assert!(
        matches!(
            e,
            Error::IndexOutOfRange {
                index: 3,
                position: 0,
                dim: 1,
                size: 3,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        x.gather(1, &ids(&[0, 0, 0], &[3, 1])).is_err(),
        "index larger outside dim"
    );
    assert!(x.gather(1, &ids(&[0], &[1])).is_err(), "rank mismatch");
    assert!(x
        .scatter_add(0, &ids(&[0, 0], &[1, 2]), &Tensor::zeros(&[1, 1]))
        .is_err());
    assert!(x
        .scatter_add(0, &ids(&[-2], &[1, 1]), &Tensor::zeros(&[1, 1]))
        .is_err());
}

// ---------------------------------------------------------------- cat and stack

#[test]
fn cat_and_stack() {
    let a = t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
    let b = t(&[7., 8.], &[2, 1]);
    let c = Tensor::cat(&[&a, &b], 1).unwrap();
    assert_eq!(c.shape(), [2, 4]);
    assert_eq!(f32s(&c), [1., 2., 3., 7., 4., 5., 6., 8.]);
    let r = Tensor::cat(&[&a, &a.narrow(0, 1, 1).unwrap()], 0).unwrap();
    assert_eq!(f32s(&r), [1., 2., 3., 4., 5., 6., 4., 5., 6.]);
    let l = Tensor::cat(&[&ids(&[1, 2], &[2]), &ids(&[3], &[1])], 0).unwrap();
    assert_eq!((l.dtype(), i64s(&l)), (DType::I64, vec![1, 2, 3]));

    let x = t(&[1., 2.], &[2]);
    let y = t(&[3., 4.], &[2]);
    let s0 = Tensor::stack(&[&x, &y], 0).unwrap();
    assert_eq!(
        (s0.shape(), f32s(&s0)),
        (&[2usize, 2][..], vec![1., 2., 3., 4.])
    );
    let s1 = Tensor::stack(&[&x, &y], 1).unwrap();
    assert_eq!(
        (s1.shape(), f32s(&s1)),
        (&[2usize, 2][..], vec![1., 3., 2., 4.])
    );
}

#[test]
fn cat_and_stack_errors() {
    let a = Tensor::zeros(&[2, 3]);
    let b = Tensor::zeros(&[3, 1]);
    let e = Tensor::cat(&[&a, &b], 1).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("cat") && msg.contains("[2, 3]") && msg.contains("[3, 1]"),
        "{msg}"
    );
    assert!(msg.contains("dimension 1"), "{msg}");
    assert!(Tensor::cat(&[], 0).is_err());
    assert!(Tensor::stack(&[], 0).is_err());
    assert!(Tensor::cat(&[&a], 2).is_err());
    assert!(
        Tensor::cat(&[&a, &ids(&[0; 6], &[2, 3])], 0).is_err(),
        "mixed dtypes"
    );
    let e = Tensor::stack(&[&a, &Tensor::zeros(&[2, 4])], 0).unwrap_err();
    assert!(e.to_string().contains("[2, 4]"), "{e}");
    assert!(Tensor::stack(&[&a], 3).is_err());
}

// ---------------------------------------------------------------- padding

#[test]
fn pad_modes_on_a_row() {
    let x = t(&[1., 2., 3.], &[1, 3]);
    let pad = |m| f32s(&x.pad2d([2, 2, 0, 0], m).unwrap());
    assert_eq!(pad(PadMode::Reflect), [3., 2., 1., 2., 3., 2., 1.]);
    assert_eq!(pad(PadMode::Replicate), [1., 1., 1., 2., 3., 3., 3.]);
    assert_eq!(pad(PadMode::Zeros), [0., 0., 1., 2., 3., 0., 0.]);
}

#[test]
fn reflect_pad_2d_matches_pytorch() {
    let x = t(&(0..9).map(|v| v as f32).collect::<Vec<_>>(), &[1, 1, 3, 3]);
    let y = x.pad2d([1, 2, 2, 1], PadMode::Reflect).unwrap();
    assert_eq!(y.shape(), [1, 1, 6, 6]);
    #[rustfmt::skip]
    assert_eq!(f32s(&y), [7., 6., 7., 8., 7., 6.,
                          4., 3., 4., 5., 4., 3.,
                          1., 0., 1., 2., 1., 0.,
                          4., 3., 4., 5., 4., 3.,
                          7., 6., 7., 8., 7., 6.,
                          4., 3., 4., 5., 4., 3.]);
    // Replicated edges collect the gradient of every copy.
    let dx = Tensor::ones(&[1, 5])
        .pad2d_backward(&[1, 3], [2, 0, 0, 0], PadMode::Replicate)
        .unwrap();
    assert_eq!(f32s(&dx), [3., 1., 1.]);
}

#[test]
fn pad_errors() {
    let x = Tensor::zeros(&[1, 3]);
    let e = x.pad2d([3, 0, 0, 0], PadMode::Reflect).unwrap_err();
    assert!(e.to_string().contains("size 3"), "{e}");
    assert!(x.pad2d([0, 0, 1, 0], PadMode::Reflect).is_err(), "H = 1");
    assert!(x.pad2d([0, 0, 1, 0], PadMode::Replicate).is_ok());
    assert!(Tensor::zeros(&[3])
        .pad2d([1, 1, 1, 1], PadMode::Zeros)
        .is_err());
    assert!(Tensor::zeros(&[1, 4])
        .pad2d_backward(&[1, 3], [2, 0, 0, 0], PadMode::Zeros)
        .is_err());
    let l = ids(&[5], &[1, 1])
        .pad2d([1, 0, 0, 0], PadMode::Replicate)
        .unwrap();
    assert_eq!(i64s(&l), [5, 5]);
}

// ---------------------------------------------------------------- adjoint properties

/// A naive max pool (PyTorch's rule) of one plane, for the forward check.
fn naive_max_pool(
    x: &[f32],
    h: usize,
    w: usize,
    k: [usize; 2],
    s: usize,
    p: usize,
) -> Vec<(f32, i64)> {
    let out = |n: usize, k: usize| (n + 2 * p - k) / s + 1;
    let mut res = Vec::new();
    for oy in 0..out(h, k[0]) {
        for ox in 0..out(w, k[1]) {
            let mut best = (f32::NEG_INFINITY, -1i64);
            for i in 0..k[0] {
                for j in 0..k[1] {
                    let (y, xx) = (
                        (oy * s + i) as i64 - p as i64,
                        (ox * s + j) as i64 - p as i64,
                    );
                    if y >= 0 && xx >= 0 && (y as usize) < h && (xx as usize) < w {
                        let v = x[y as usize * w + xx as usize];
                        if best.1 < 0 || v > best.0 {
                            best = (v, y * w as i64 + xx);
                        }
                    }
                }
            }
            res.push(best);
        }
    }
    res
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn avg_pool2d_backward_is_adjoint(n in 1usize..3, c in 1usize..4, h in 1usize..10,
                                      w in 1usize..10, kh in 1usize..5, kw in 1usize..5,
                                      s in 1usize..4, p in 0usize..3, seed in 0u64..1000) {
        let p = p.min(kh / 2).min(kw / 2);
        prop_assume!(h + 2 * p >= kh && w + 2 * p >= kw);
        let params = Conv2dParams::new(s, p);
        let x = rand(&[n, c, h, w], seed);
        let y = x.avg_pool2d([kh, kw], params).unwrap();
        let g = rand(y.shape(), seed + 1);
        let dx = g.avg_pool2d_backward(x.shape(), [kh, kw], params).unwrap();
        check_adjoint(&x, &dx, &y, &g)?;
    }

    #[test]
    fn max_pool2d_matches_naive_and_backward_is_adjoint(
        n in 1usize..3, c in 1usize..4, h in 1usize..10, w in 1usize..10, kh in 1usize..5,
        kw in 1usize..5, s in 1usize..4, p in 0usize..3, seed in 0u64..1000) {
        let p = p.min(kh / 2).min(kw / 2);
        prop_assume!(h + 2 * p >= kh && w + 2 * p >= kw);
        let params = Conv2dParams::new(s, p);
        let x = rand(&[n, c, h, w], seed);
        let (y, idx) = x.max_pool2d([kh, kw], params).unwrap();
        let (xs, ys, is) = (f32s(&x), f32s(&y), i64s(&idx));
        let per = ys.len() / (n * c);
        for plane in 0..n * c {
            let want = naive_max_pool(&xs[plane * h * w..][..h * w], h, w, [kh, kw], s, p);
            for (o, &(v, i)) in want.iter().enumerate() {
                prop_assert_eq!(ys[plane * per + o], v);
                prop_assert_eq!(is[plane * per + o], i);
            }
        }
        let g = rand(y.shape(), seed + 1);
        let dx = g.max_pool2d_backward(&idx, x.shape(), [kh, kw], params).unwrap();
        check_adjoint(&x, &dx, &y, &g)?;
    }

    #[test]
    fn adaptive_pools_backward_are_adjoint(n in 1usize..3, c in 1usize..4, h in 1usize..10,
                                           w in 1usize..10, oh in 1usize..7, ow in 1usize..7,
                                           seed in 0u64..1000) {
        let x = rand(&[n, c, h, w], seed);
        let g = rand(&[n, c, oh, ow], seed + 1);
        let y = x.adaptive_avg_pool2d([oh, ow]).unwrap();
        let dx = g.adaptive_avg_pool2d_backward(x.shape()).unwrap();
        check_adjoint(&x, &dx, &y, &g)?;
        let (y, idx) = x.adaptive_max_pool2d([oh, ow]).unwrap();
        let dx = g.adaptive_max_pool2d_backward(&idx, x.shape()).unwrap();
        check_adjoint(&x, &dx, &y, &g)?;
    }

    #[test]
    fn pad2d_backward_is_adjoint(lead in prop::collection::vec(1usize..3, 0..3), h in 1usize..7,
                                 w in 1usize..7, pads in prop::array::uniform4(0usize..5),
                                 mode in prop_oneof![Just(PadMode::Zeros), Just(PadMode::Reflect),
                                                     Just(PadMode::Replicate)],
                                 seed in 0u64..1000) {
        let mut pads = pads;
        if mode == PadMode::Reflect {
            // PyTorch's rule: each pad smaller than its dimension.
            for (i, pad) in pads.iter_mut().enumerate() {
                *pad = (*pad).min(if i < 2 { w - 1 } else { h - 1 });
            }
        }
        let mut shape = lead;
        shape.extend([h, w]);
        let x = rand(&shape, seed);
        let y = x.pad2d(pads, mode).unwrap();
        let g = rand(y.shape(), seed + 1);
        let dx = g.pad2d_backward(x.shape(), pads, mode).unwrap();
        check_adjoint(&x, &dx, &y, &g)?;
    }

    #[test]
    fn index_add_is_adjoint_of_index_select(shape in prop::collection::vec(1usize..5, 1..4),
                                            dim in 0usize..3, len in 0usize..7,
                                            seed in 0u64..1000) {
        let dim = dim % shape.len();
        let x = rand(&shape, seed);
        let idx = ids(&rand_ids(len, shape[dim], seed + 2), &[len]);
        let y = x.index_select(dim, &idx).unwrap();
        let g = rand(y.shape(), seed + 1);
        let dx = Tensor::zeros(&shape).index_add(dim, &idx, &g).unwrap();
        check_adjoint(&x, &dx, &y, &g)?;
    }

    #[test]
    fn scatter_add_is_adjoint_of_gather(shape in prop::collection::vec(1usize..5, 1..4),
                                        dim in 0usize..3, extent in 1usize..6,
                                        shrink in prop::collection::vec(0usize..2, 3),
                                        seed in 0u64..1000) {
        let dim = dim % shape.len();
        // The index may be smaller than x outside `dim`, and any size along it.
        let ishape: Vec<usize> = shape.iter().enumerate()
            .map(|(d, &s)| if d == dim { extent } else { s - shrink[d].min(s - 1) })
            .collect();
        let x = rand(&shape, seed);
        let count = ishape.iter().product();
        let idx = ids(&rand_ids(count, shape[dim], seed + 2), &ishape);
        let y = x.gather(dim, &idx).unwrap();
        let g = rand(y.shape(), seed + 1);
        let dx = Tensor::zeros(&shape).scatter_add(dim, &idx, &g).unwrap();
        check_adjoint(&x, &dx, &y, &g)?;
    }
}

/// Large enough to run the parallel paths (more than `PAR_THRESHOLD` elements), checked
/// against the serial result of the same op on slices.
#[test]
fn parallel_paths_agree_with_small_pieces() {
    let x = rand(&[4, 16, 40, 40], 77);
    let (y, _) = x.max_pool2d([3, 3], Conv2dParams::new(2, 1)).unwrap();
    let (y0, _) = x
        .narrow(0, 1, 1)
        .unwrap()
        .max_pool2d([3, 3], Conv2dParams::new(2, 1))
        .unwrap();
    assert_eq!(f32s(&y.narrow(0, 1, 1).unwrap()), f32s(&y0));
    let a = x.adaptive_avg_pool2d([3, 3]).unwrap();
    let a0 = x
        .narrow(0, 3, 1)
        .unwrap()
        .adaptive_avg_pool2d([3, 3])
        .unwrap();
    assert_eq!(f32s(&a.narrow(0, 3, 1).unwrap()), f32s(&a0));

    // An embedding backward with many repeated ids: equal to a serial scatter.
    let (vocab, dim, tokens) = (50, 64, 3000);
    let idx = rand_ids(tokens, vocab, 5);
    let grad = rand(&[tokens, dim], 6);
    let dw = Tensor::zeros(&[vocab, dim])
        .index_add(0, &ids(&idx, &[tokens]), &grad)
        .unwrap();
    let gv = f32s(&grad);
    let mut want = vec![0f32; vocab * dim];
    for (j, &i) in idx.iter().enumerate() {
        for k in 0..dim {
            want[i as usize * dim + k] += gv[j * dim + k];
        }
    }
    assert_eq!(f32s(&dw), want);
    let c = Tensor::cat(&[&x, &x], 1).unwrap();
    assert_eq!(
        f32s(&c.narrow(1, 16, 16).unwrap().contiguous().unwrap()),
        f32s(&x)
    );
    let pd = x.pad2d([2, 2, 2, 2], PadMode::Reflect).unwrap();
    let back = pd.narrow(2, 2, 40).unwrap().narrow(3, 2, 40).unwrap();
    assert_eq!(f32s(&back.contiguous().unwrap()), f32s(&x));
}

/// Batch norm and its inference form on images large enough to run a channel (or a plane)
/// per thread, against plain loops over the definition (f64 accumulation, 1e-5 relative).
#[test]
fn batch_norm_on_images_split_over_threads_matches_the_definition() {
    let (n, c, s) = (3, 5, 48 * 48);
    let x = Philox::new(7, 0)
        .uniform(&[n, c, 48, 48], -2.0, 3.0)
        .unwrap();
    let dy = Philox::new(8, 0)
        .uniform(&[n, c, 48, 48], -1.0, 1.0)
        .unwrap();
    let g = Tensor::from_slice(&[0.5f32, 1.0, 1.5, -1.0, 2.0], &[c]).unwrap();
    let b = Tensor::from_slice(&[0.1f32, -0.2, 0.3, 0.0, 1.0], &[c]).unwrap();
    let (xs, dys) = (x.to_vec::<f32>().unwrap(), dy.to_vec::<f32>().unwrap());
    let (gs, bs) = (g.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    let (y, mean, var) = x.batch_norm(&g, &b, 1e-5, None).unwrap();
    let (dx, dg, db) = dy.batch_norm_backward(&x, &g, &mean, &var, 1e-5).unwrap();
    let (y, dx) = (y.to_vec::<f32>().unwrap(), dx.to_vec::<f32>().unwrap());
    let (dg, db) = (dg.to_vec::<f32>().unwrap(), db.to_vec::<f32>().unwrap());
    let close = |a: f32, e: f64| ((a as f64) - e).abs() <= 1e-5 * (1.0 + e.abs());
    let m = (n * s) as f64;
    for ch in 0..c {
        let at = |i: usize, p: usize| (i * c + ch) * s + p;
        let vals: Vec<(f64, f64)> = (0..n)
            .flat_map(|i| (0..s).map(move |p| at(i, p)))
            .map(|k| (xs[k] as f64, dys[k] as f64))
            .collect();
        let mu = vals.iter().map(|v| v.0).sum::<f64>() / m;
        let sigma = (vals.iter().map(|v| (v.0 - mu).powi(2)).sum::<f64>() / m + 1e-5).sqrt();
        let sum_dy: f64 = vals.iter().map(|v| v.1).sum();
        let sum_dy_xhat: f64 = vals.iter().map(|v| v.1 * (v.0 - mu) / sigma).sum();
        assert!(
            close(db[ch], sum_dy) && close(dg[ch], sum_dy_xhat),
            "channel {ch}"
        );
        for i in 0..n {
            for p in (0..s).step_by(97) {
                let (xv, dyv) = (xs[at(i, p)] as f64, dys[at(i, p)] as f64);
                let xhat = (xv - mu) / sigma;
                assert!(close(y[at(i, p)], xhat * gs[ch] as f64 + bs[ch] as f64));
                let e = gs[ch] as f64 / sigma * (dyv - sum_dy / m - xhat * sum_dy_xhat / m);
                assert!(
                    close(dx[at(i, p)], e),
                    "dx at {i} {ch} {p}: {} vs {e}",
                    dx[at(i, p)]
                );
            }
        }
    }
    // channel_affine with scale and shift, and its backward.
    let z = x.channel_affine(&g, &b).unwrap().to_vec::<f32>().unwrap();
    let (dx, da, dsh) = dy.channel_affine_backward(Some(&x), &g).unwrap();
    let (dx, da, dsh) = (
        dx.to_vec::<f32>().unwrap(),
        da.unwrap().to_vec::<f32>().unwrap(),
        dsh.to_vec::<f32>().unwrap(),
    );
    for ch in 0..c {
        let mut sums = (0f64, 0f64);
        for i in 0..n {
            for p in 0..s {
                let k = (i * c + ch) * s + p;
                assert_eq!(z[k], xs[k] * gs[ch] + bs[ch]);
                assert_eq!(dx[k], dys[k] * gs[ch]);
                sums.0 += dys[k] as f64 * xs[k] as f64;
                sums.1 += dys[k] as f64;
            }
        }
        assert!(close(da[ch], sums.0) && close(dsh[ch], sums.1));
    }
}

#[test]
fn channel_affine_names_mismatched_shapes() {
    let x = Tensor::zeros(&[2, 3, 4]);
    let e = x
        .channel_affine(&Tensor::zeros(&[4]), &Tensor::zeros(&[3]))
        .unwrap_err();
    assert!(
        e.to_string().contains("[4]") && e.to_string().contains("[2, 3, 4]"),
        "{e}"
    );
    let e = x
        .channel_affine(&Tensor::zeros(&[3]), &Tensor::zeros(&[2]))
        .unwrap_err();
    assert!(e.to_string().contains("shift"), "{e}");
}

/// Batch norm's fold at inference: the composite it replaces, bit for bit, and a statistic
/// of the wrong length named.
#[test]
fn batch_norm_fold_is_the_composite_and_names_mismatched_shapes() {
    let c = [0.5f32, 2.0, 1.25];
    let (w, b) = (t(&c, &[3]), t(&[0.1, -0.2, 0.3], &[3]));
    let (mean, var) = (t(&[1.0, -3.0, 0.7], &[3]), t(&[0.9, 0.01, 4.0], &[3]));
    let (scale, shift) = Tensor::batch_norm_fold(&w, &b, &mean, &var, 1e-5).unwrap();
    let want_scale = w
        .div(&var.add_scalar(1e-5).unwrap().sqrt().unwrap())
        .unwrap();
    let want_shift = b.sub(&mean.mul(&want_scale).unwrap()).unwrap();
    assert_eq!(f32s(&scale), f32s(&want_scale));
    assert_eq!(f32s(&shift), f32s(&want_shift));
    let e = Tensor::batch_norm_fold(&w, &b, &mean, &Tensor::ones(&[4]), 1e-5).unwrap_err();
    assert!(
        e.to_string().contains("running var") && e.to_string().contains("[4]"),
        "{e}"
    );
    let e = Tensor::batch_norm_fold(&Tensor::ones(&[1, 3]), &b, &mean, &var, 1e-5).unwrap_err();
    assert!(e.to_string().contains("[1, 3]"), "{e}");
}

/// The grouped lookup is the per-table `index_select` and a `cat`, bit for bit, and its
/// adjoint each table's `index_add`; codes out of range and shapes that do not fit are
/// errors naming them.
#[test]
fn embeddings_cat_is_the_lookups_and_their_cat() {
    let tables = [rand(&[7, 3], 40), rand(&[2, 1], 41), rand(&[11, 4], 42)];
    let refs: Vec<&Tensor> = tables.iter().collect();
    let n = 37;
    let cols = [rand_ids(n, 7, 43), rand_ids(n, 2, 44), rand_ids(n, 11, 45)];
    let flat: Vec<i64> = (0..n)
        .flat_map(|b| cols.iter().map(move |c| c[b]))
        .collect();
    let codes = ids(&flat, &[n, 3]);
    let y = Tensor::embeddings_cat(&refs, &codes).unwrap();
    let parts: Vec<Tensor> = tables
        .iter()
        .zip(&cols)
        .map(|(t, c)| t.index_select(0, &ids(c, &[n])).unwrap())
        .collect();
    let want = Tensor::cat(&parts.iter().collect::<Vec<_>>(), 1).unwrap();
    assert_eq!(f32s(&y), f32s(&want));
    let dy = rand(y.shape(), 46);
    let sizes = [[7, 3], [2, 1], [11, 4]];
    let grads = dy.embeddings_cat_backward(&codes, &sizes).unwrap();
    let mut at = 0;
    for ((g, c), &[rows, w]) in grads.iter().zip(&cols).zip(&sizes) {
        let block = dy.narrow(1, at, w).unwrap();
        let want = Tensor::zeros(&[rows, w])
            .index_add(0, &ids(c, &[n]), &block)
            .unwrap();
        assert_eq!(f32s(g), f32s(&want), "table of {rows} rows");
        at += w;
    }
    let mut bad = flat.clone();
    bad[3 * 5 + 2] = 11;
    let e = Tensor::embeddings_cat(&refs, &ids(&bad, &[n, 3])).unwrap_err();
    assert!(
        matches!(
            e,
            Error::CodeOutOfRange {
                code: 11,
                row: 5,
                table: 2,
                ..
            }
        ) && e.to_string().contains("code 11 at [5, 2]"),
        "{e}"
    );
    assert!(dy
        .embeddings_cat_backward(&ids(&bad, &[n, 3]), &sizes)
        .is_err());
    let e = Tensor::embeddings_cat(&refs, &ids(&flat[..2 * n], &[n, 2])).unwrap_err();
    assert!(e.to_string().contains("[37, 2]"), "{e}");
    let e = Tensor::embeddings_cat(&refs, &t(&[0.0; 3], &[1, 3])).unwrap_err();
    assert!(matches!(e, Error::DType { .. }), "{e}");
    let f64_table = tables[1].to_dtype(DType::F64).unwrap();
    let e = Tensor::embeddings_cat(&[&tables[0], &f64_table, &tables[2]], &codes).unwrap_err();
    assert!(matches!(e, Error::DType { .. }), "{e}");
    let flat_table = rand(&[5], 47);
    let e = Tensor::embeddings_cat(&[&tables[0], &flat_table, &tables[2]], &codes).unwrap_err();
    assert!(
        matches!(&e, Error::Shape { shapes, .. } if shapes[1] == [5] && shapes.len() == 3),
        "{e}"
    );
    let e = dy
        .embeddings_cat_backward(&codes, &[[7, 3], [2, 1], [11, 5]])
        .unwrap_err();
    assert!(e.to_string().contains("[37, 9]"), "{e}");
}
