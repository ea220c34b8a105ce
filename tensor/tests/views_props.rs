//! Views agree with their copies: every view (permute, transpose, narrow, expand, unsqueeze,
//! squeeze, reshape) read through its strides equals the same selection done by index
//! arithmetic on a plain vector; views share storage; element-wise ops and reductions on
//! non-contiguous and broadcast inputs equal the same ops on contiguous copies; bad input is
//! an error naming the op and the shapes.
use proptest::prelude::*;
use tensor::random::Philox;
use tensor::{Conv2dParams, DType, Error, Tensor};

fn rand(shape: &[usize], seed: u64) -> Tensor {
    Philox::new(seed, 11).uniform(shape, -2.0, 2.0).unwrap()
}

fn shape3() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..7, 3)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn permute_matches_index_arithmetic(shape in shape3(), perm in Just(vec![0usize, 1, 2]).prop_shuffle(), seed in 0u64..1000) {
        let t = rand(&shape, seed);
        let v = t.to_vec::<f32>().unwrap();
        let p = t.permute(&perm).unwrap();
        prop_assert!(p.shares_storage(&t));
        let got = p.to_vec::<f32>().unwrap();
        let ps = p.shape().to_vec();
        let mut i = 0;
        for a in 0..ps[0] { for b in 0..ps[1] { for c in 0..ps[2] {
            let mut idx = [0usize; 3];
            idx[perm[0]] = a; idx[perm[1]] = b; idx[perm[2]] = c;
            prop_assert_eq!(got[i], v[(idx[0] * shape[1] + idx[1]) * shape[2] + idx[2]]);
            i += 1;
        }}}
    }

    #[test]
    fn narrow_and_expand_match_copies(shape in shape3(), seed in 0u64..1000, d in 0usize..3) {
        let t = rand(&shape, seed);
        let start = shape[d] / 2;
        let len = shape[d] - start;
        let n = t.narrow(d, start, len).unwrap();
        prop_assert!(n.shares_storage(&t));
        let v = t.to_vec::<f32>().unwrap();
        let got = n.to_vec::<f32>().unwrap();
        let mut i = 0;
        for a in 0..shape[0] { for b in 0..shape[1] { for c in 0..shape[2] {
            let idx = [a, b, c];
            if idx[d] >= start {
                prop_assert_eq!(got[i], v[(a * shape[1] + b) * shape[2] + c]);
                i += 1;
            }
        }}}
        prop_assert_eq!(i, got.len());
        // Expand a size-1 axis: every copy equals the original slice.
        let one = t.narrow(d, 0, 1).unwrap();
        let e = one.expand(&shape).unwrap();
        prop_assert!(e.shares_storage(&t));
        if shape[d] > 1 {
            prop_assert_eq!(e.strides()[d], 0);
        }
        let ev = e.to_vec::<f32>().unwrap();
        for a in 0..shape[0] { for b in 0..shape[1] { for c in 0..shape[2] {
            let mut idx = [a, b, c];
            idx[d] = 0;
            prop_assert_eq!(ev[(a * shape[1] + b) * shape[2] + c], v[(idx[0] * shape[1] + idx[1]) * shape[2] + idx[2]]);
        }}}
    }

    #[test]
    fn ops_on_views_equal_ops_on_copies(shape in shape3(), seed in 0u64..1000) {
        let t = rand(&shape, seed);
        let tt = t.permute(&[2, 0, 1]).unwrap();          // non-contiguous
        let copy = tt.contiguous().unwrap();
        let bias = rand(&[shape[1]], seed + 1);             // broadcast over the last axis of tt
        let a = tt.add(&bias).unwrap().exp().unwrap();
        let b = copy.add(&bias.expand(copy.shape()).unwrap().contiguous().unwrap()).unwrap().exp().unwrap();
        prop_assert_eq!(a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
        for dims in [vec![0], vec![1, 2], vec![0, 2]] {
            let x = tt.sum(&dims, true).unwrap().to_vec::<f32>().unwrap();
            let y = copy.sum(&dims, true).unwrap().to_vec::<f32>().unwrap();
            for (p, q) in x.iter().zip(&y) {
                prop_assert!((p - q).abs() <= 1e-5 * (1.0 + q.abs()));
            }
        }
        prop_assert_eq!(tt.log_softmax(1).unwrap().to_vec::<f32>().unwrap(), copy.log_softmax(1).unwrap().to_vec::<f32>().unwrap());
        prop_assert_eq!(tt.argmax(2, false).unwrap().to_vec::<i64>().unwrap(), copy.argmax(2, false).unwrap().to_vec::<i64>().unwrap());
    }

    #[test]
    fn reshape_round_trips(shape in shape3(), seed in 0u64..1000) {
        let t = rand(&shape, seed);
        let n: usize = shape.iter().product();
        let flat = t.reshape(&[n]).unwrap();
        prop_assert!(flat.shares_storage(&t));
        prop_assert_eq!(flat.reshape(&shape).unwrap().to_vec::<f32>().unwrap(), t.to_vec::<f32>().unwrap());
        // A transposed view is not contiguous: reshape copies, and the data is the copy's.
        let tr = t.transpose(0, 2).unwrap();
        let r = tr.reshape(&[n]).unwrap();
        prop_assert_eq!(r.to_vec::<f32>().unwrap(), tr.contiguous().unwrap().to_vec::<f32>().unwrap());
    }
}

/// The lesson's bottom-right-edge kernel, `[[0,-5/3,1],[-5/3,-5/3,1],[1,1,1]]`.
fn lesson_kernel() -> Tensor {
    Tensor::from_slice(
        &[
            0.0f32,
            -5.0 / 3.0,
            1.0,
            -5.0 / 3.0,
            -5.0 / 3.0,
            1.0,
            1.0,
            1.0,
            1.0,
        ],
        &[3, 3],
    )
    .unwrap()
}

#[test]
fn expand_of_the_lesson_kernel_copies_nothing() {
    let k = lesson_kernel();
    let e = k.expand(&[1, 3, 3, 3]).unwrap();
    assert!(e.shares_storage(&k));
    assert_eq!(e.strides(), &[0, 0, 3, 1]);
    assert_eq!(e.contiguous().unwrap().to_vec::<f32>().unwrap().len(), 27);
    let c = k.contiguous().unwrap();
    assert!(
        c.shares_storage(&k),
        "contiguous() of contiguous data must not copy"
    );
}

/// The lesson's bottom-right-edge kernel (`examples/convolution.rs`) responds where dark gives
/// way to bright towards the bottom right, and with nothing on flat regions: its 27 weights
/// sum to zero.
#[test]
fn the_lessons_edge_kernel_finds_bottom_right_edges() {
    let k = lesson_kernel()
        .expand(&[1, 3, 3, 3])
        .unwrap()
        .mul_scalar(1.0 / 6.0)
        .unwrap();
    // Dark (0.1) above and left of a bright (0.9) quarter: the corner at (8, 8) of 16 x 16.
    let (h, w) = (16, 16);
    let img: Vec<f32> = (0..3 * h * w)
        .map(|i| {
            if (i / w) % h >= 8 && i % w >= 8 {
                0.9
            } else {
                0.1
            }
        })
        .collect();
    let x = Tensor::from_vec(img, &[1, 3, h, w]).unwrap();
    let y = x.conv2d(&k, None, Conv2dParams::new(1, 0)).unwrap();
    let y = y.to_vec::<f32>().unwrap();
    let at = |r: usize, c: usize| y[r * (w - 2) + c];
    // Windows at output (r, c) cover input rows r..r+3 and columns c..c+3. Bright pixels
    // add 0.8 times their weights over the dark level, which the zero-sum kernel cancels.
    let close = |v: f32, e: f32| (v - e).abs() < 1e-5;
    assert!(
        close(at(1, 1), 0.0) && close(at(12, 12), 0.0),
        "flat: {} {}",
        at(1, 1),
        at(12, 12)
    );
    // The bright region starts in the window's right column or bottom row: weights 1, 1, 1.
    assert!(
        close(at(12, 6), 1.2) && close(at(6, 12), 1.2),
        "edges: {} {}",
        at(12, 6),
        at(6, 12)
    );
    // Only the bottom-right pixel of the window is bright: weight 1.
    assert!(close(at(6, 6), 0.4), "corner: {}", at(6, 6));
    // One column further the middle column is bright too, whose weights are mostly -5/3.
    assert!(
        close(at(12, 7), 0.8 * (2.0 / 3.0) / 2.0),
        "past the edge: {}",
        at(12, 7)
    );
    let best = y.iter().cloned().fold(f32::MIN, f32::max);
    assert!(
        close(best, 1.2),
        "the strongest response is on the edges: {best}"
    );
}

#[test]
fn errors_name_the_op_and_the_shapes() {
    let e = Tensor::zeros(&[4, 3])
        .matmul(&Tensor::zeros(&[5, 2]))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "matmul: lhs [4, 3] and rhs [5, 2] do not agree on the inner dimension"
    );
    let e = Tensor::zeros(&[2, 3])
        .add(&Tensor::zeros(&[4]))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "add: shapes [2, 3] and [4] cannot be broadcast together"
    );
    let e = Tensor::zeros(&[2, 3]).reshape(&[7]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "reshape: 6 elements cannot fill shape [7] (7 elements)"
    );
    let e = Tensor::zeros(&[2, 3]).narrow(1, 2, 2).unwrap_err();
    assert!(
        e.to_string().contains("out of bounds for shape [2, 3]"),
        "{e}"
    );
    let e = Tensor::zeros(&[2, 3]).permute(&[0, 0]).unwrap_err();
    assert!(
        matches!(&e, Error::Shape { op: "permute", shapes, .. } if shapes == &[vec![0, 0], vec![2, 3]])
            && e.to_string().contains("a permutation"),
        "{e}"
    );
    let e = Tensor::zeros(&[2, 3]).sum(&[2], false).unwrap_err();
    assert!(e.to_string().contains("dimension 2 is out of range"), "{e}");
    let e = Tensor::zeros(&[2, 3]).expand(&[3, 3]).unwrap_err();
    assert!(
        matches!(&e, Error::Shape { op: "expand", shapes, .. } if shapes == &[vec![2, 3], vec![3, 3]]),
        "{e}"
    );
    let idx = Tensor::from_indices(&[1, 2], &[2]).unwrap();
    let e = idx.exp().unwrap_err();
    assert_eq!(
        e.to_string(),
        "exp: expected a f32 tensor, got i64 (convert it with to_dtype first)"
    );
    assert!(Tensor::from_vec(vec![1.0f32; 5], &[2, 3]).is_err());
}

#[test]
fn half_precision_round_trips_through_f32() {
    let t = Tensor::from_slice(&[1.0f32, -2.5, 65504.0, 1e-3, 2.71875], &[5]).unwrap();
    for dt in [DType::F16, DType::BF16] {
        let h = t.to_dtype(dt).unwrap();
        assert_eq!(h.dtype(), dt);
        let back = h.to_dtype(DType::F32).unwrap().to_vec::<f32>().unwrap();
        let tol = if dt == DType::F16 { 1e-3 } else { 8e-3 };
        for (a, b) in back.iter().zip(t.to_vec::<f32>().unwrap()) {
            assert!((a - b).abs() <= tol * b.abs(), "{dt}: {a} vs {b}");
        }
    }
    // Exactly as half's round-to-nearest-even: 1 + 2^-11 rounds to 1 in f16.
    let x = Tensor::from_slice(&[1.0 + 2f32.powi(-11)], &[1]).unwrap();
    assert_eq!(
        x.to_dtype(DType::F16)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![1.0]
    );
}

#[test]
fn reductions_are_accurate_over_many_elements() {
    // 4M copies of 0.1: a naive f32 running sum is off by about 1e-2 relative here.
    let t = Tensor::full(0.1, &[4 << 20]);
    let s = t.sum_all().unwrap().to_scalar().unwrap() as f64;
    let want = 0.1f32 as f64 * (4 << 20) as f64;
    assert!((s - want).abs() / want < 1e-6, "{s} vs {want}");
    let v = Tensor::from_slice(&[1e4f32 + 1.0, 1e4 + 2.0, 1e4 + 3.0, 1e4 + 4.0], &[4]).unwrap();
    assert!((v.var(&[0], false, true).unwrap().to_scalar().unwrap() - 5.0 / 3.0).abs() < 1e-4);
    assert!((v.var(&[0], false, false).unwrap().to_scalar().unwrap() - 1.25).abs() < 1e-4);
}

fn small_shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..4, 0..5)
}

fn small_shape4() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..5, 4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any pair of small shapes, empty dimensions and 0-d tensors included: every op returns
    /// a result or an error, never a panic.
    #[test]
    fn ops_never_panic(a in prop_oneof![small_shape(), small_shape4()], b in prop_oneof![small_shape(), small_shape4()], d in 0usize..4, seed in 0u64..100) {
        let x = rand(&a, seed);
        let y = rand(&b, seed + 1);
        let _ = x.add(&y);
        let _ = x.where_cond(&x, &y);
        let _ = x.matmul(&y);
        let _ = x.sum(&[d], true);
        let _ = x.mean(&[d], false);
        let _ = x.var(&[d], false, true);
        let _ = x.max(&[d], false);
        let _ = x.argmax(d, false);
        let _ = x.log_softmax(d);
        let _ = x.narrow(d, 1, 1);
        let _ = x.transpose(0, d);
        let _ = x.unsqueeze(d).and_then(|u| u.squeeze(d));
        let _ = x.reshape(&b);
        let _ = x.expand(&b);
        let _ = x.sum_all();
        let _ = x.mean_all();
        let _ = x.to_dtype(DType::F16);
        let _ = x.batch_norm(&y, &y, 1e-5, None);
        let _ = x.batch_norm_backward(&x, &y, &y, &y, 1e-5);
        let idx = Tensor::from_indices(&[0, 2, -1], &[3]).unwrap();
        let _ = x.index_select(d, &idx);
        let _ = x.index_add(d, &idx, &y);
        let _ = x.gather(d, &idx);
        let _ = x.scatter_add(d, &idx, &y);
        let _ = Tensor::cat(&[&x, &y], d);
        let _ = Tensor::stack(&[&x, &y], d);
        for mode in [tensor::PadMode::Zeros, tensor::PadMode::Reflect, tensor::PadMode::Replicate] {
            let _ = x.pad2d([d, 1, 0, d], mode);
            let _ = x.pad2d_backward(&b, [d, 1, 0, d], mode);
        }
        if a.len() == 4 && b.len() == 4 {
            let p = tensor::Conv2dParams::new(d, d / 2);
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

/// `into_vec` hands back the very buffer of a tensor that owns its storage alone and covers
/// it (no copy: the same address), and copies a view or a storage another tensor shares.
#[test]
fn into_vec_takes_a_sole_owner_and_copies_a_shared_one() {
    let data = vec![1.0f32, 2.0, 3.0, 4.0];
    let ptr = data.as_ptr();
    let t = Tensor::from_vec(data, &[2, 2]).unwrap();
    let view = t.t().unwrap();
    assert_eq!(view.into_vec::<f32>().unwrap(), vec![1.0, 3.0, 2.0, 4.0]);
    let shared = t.clone();
    let copy = shared.into_vec::<f32>().unwrap();
    assert_eq!(copy, vec![1.0, 2.0, 3.0, 4.0]);
    assert_ne!(
        copy.as_ptr(),
        ptr,
        "a shared storage was taken from its other owner"
    );
    assert_eq!(t.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
    let taken = t.into_vec::<f32>().unwrap();
    assert_eq!(taken.as_ptr(), ptr, "the sole owner's buffer was copied");
    assert_eq!(taken, vec![1.0, 2.0, 3.0, 4.0]);
    assert!(Tensor::ones(&[2]).into_vec::<i64>().is_err());
}
