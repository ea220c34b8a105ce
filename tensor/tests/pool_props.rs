//! Max pooling's separable fast path against the definition: a scan of each window in
//! row-major order with PyTorch's rule (start at -inf with the window's first pixel, take a
//! strictly greater value or any NaN). The data is drawn from a handful of values, with
//! NaNs and infinities among them, so that ties (the common case after a ReLU) and NaNs are
//! everywhere; values and indices must agree exactly, and the values-only path must give the
//! same maxima.
use proptest::prelude::*;
use tensor::{Conv2dParams, Tensor};

/// The scan of the definition over fixed windows: (values, indices) of one plane.
fn scan(x: &[f32], h: usize, w: usize, k: usize, p: Conv2dParams) -> (Vec<f32>, Vec<i64>) {
    let (s, pad) = (p.stride[0], p.padding[0]);
    let out = |n: usize| (n + 2 * pad - k) / s + 1;
    let (mut vals, mut idx) = (Vec::new(), Vec::new());
    for oy in 0..out(h) {
        for ox in 0..out(w) {
            let rows = (oy * s).saturating_sub(pad)..(oy * s + k - pad).min(h);
            let cols = (ox * s).saturating_sub(pad)..(ox * s + k - pad).min(w);
            let (mut best, mut at) = (f32::NEG_INFINITY, rows.start * w + cols.start);
            for y in rows {
                for c in cols.clone() {
                    let v = x[y * w + c];
                    if v > best || v.is_nan() {
                        (best, at) = (v, y * w + c);
                    }
                }
            }
            vals.push(best);
            idx.push(at as i64);
        }
    }
    (vals, idx)
}

const PALETTE: [f32; 7] = [
    0.0,
    -0.0,
    1.0,
    2.0,
    f32::NEG_INFINITY,
    f32::INFINITY,
    f32::NAN,
];

fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn separable_max_pool_equals_the_windowed_scan(
        planes in 1usize..4, h in 1usize..12, w in 1usize..12, k in 1usize..5,
        s in 1usize..4, pad in 0usize..3, nan_every in 3usize..40,
        codes in prop::collection::vec(0usize..6, 432)
    ) {
        let pad = pad.min(k / 2);
        prop_assume!(h + 2 * pad >= k && w + 2 * pad >= k);
        let p = Conv2dParams::new(s, pad);
        let data: Vec<f32> = (0..planes * h * w)
            .map(|i| if i % nan_every == nan_every - 1 { f32::NAN } else { PALETTE[codes[i % codes.len()]] })
            .collect();
        let x = Tensor::from_vec(data.clone(), &[1, planes, h, w]).unwrap();
        let (v, i) = x.max_pool2d([k, k], p).unwrap();
        let only = x.max_pool2d_values([k, k], p).unwrap();
        let (v, i, only) = (v.to_vec::<f32>().unwrap(), i.to_vec::<i64>().unwrap(), only.to_vec::<f32>().unwrap());
        let per_plane = v.len() / planes;
        for plane in 0..planes {
            let (ev, ei) = scan(&data[plane * h * w..(plane + 1) * h * w], h, w, k, p);
            let r = plane * per_plane..(plane + 1) * per_plane;
            prop_assert_eq!(&i[r.clone()], &ei[..]);
            for ((&a, &b), &c) in v[r.clone()].iter().zip(&ev).zip(&only[r]) {
                prop_assert!(same(a, b) && same(c, b), "{} {} {}", a, b, c);
            }
        }
    }
}
