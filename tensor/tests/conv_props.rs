//! Convolution properties, on random geometries (batch, channels, sizes, kernels, strides,
//! padding) with random data:
//! - conv2d (implicit im2col + GEMM) equals a direct seven-loop convolution;
//! - explicit `im2col` followed by `matmul` equals the same direct convolution;
//! - a convolution equals multiplication by its weight-tied sparse matrix (the lesson's
//!   "a convolution is just a matrix multiply");
//! - both gradients are adjoints of the convolution: <conv(x), g> == <x, d_input(g)> and
//!   == <w, d_weight(g)>; col2im is the adjoint of im2col.
//!
//! Tolerance: 1e-4 relative to the sum of absolute products (f32 rounding over k terms).
//! Winograd's F(4x4, 3x3), which the 3x3 stride-1 convolutions with many channels take, holds
//! it too (its own, tighter-derived check is in `cpu/conv_winograd.rs`).
use proptest::prelude::*;
use tensor::random::Philox;
use tensor::{Conv2dParams, Tensor};

#[derive(Debug, Clone, Copy)]
struct Case {
    n: usize,
    c: usize,
    co: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    s: [usize; 2],
    p: [usize; 2],
}

impl Case {
    fn params(&self) -> Conv2dParams {
        Conv2dParams {
            stride: self.s,
            padding: self.p,
        }
    }
    fn out(&self) -> (usize, usize) {
        (
            (self.h + 2 * self.p[0] - self.kh) / self.s[0] + 1,
            (self.w + 2 * self.p[1] - self.kw) / self.s[1] + 1,
        )
    }
}

fn case() -> impl Strategy<Value = Case> {
    (
        1usize..4,
        1usize..5,
        1usize..20,
        1usize..4,
        1usize..4,
        1usize..3,
        1usize..3,
        0usize..3,
        0usize..3,
    )
        .prop_flat_map(|(n, c, co, kh, kw, sh, sw, ph, pw)| {
            let hmin = (kh.saturating_sub(2 * ph)).max(1);
            let wmin = (kw.saturating_sub(2 * pw)).max(1);
            (hmin..hmin + 12, wmin..wmin + 12).prop_map(move |(h, w)| Case {
                n,
                c,
                co,
                h,
                w,
                kh,
                kw,
                s: [sh, sw],
                p: [ph.min(kh - 1), pw.min(kw - 1)],
            })
        })
}

fn rand(shape: &[usize], seed: u64) -> Tensor {
    Philox::new(seed, 3).uniform(shape, -1.0, 1.0).unwrap()
}

/// The direct definition, in f64: (value, sum of |terms|) per output element.
fn direct(cs: &Case, x: &[f32], w: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let (ho, wo) = cs.out();
    let mut y = vec![0f64; cs.n * cs.co * ho * wo];
    let mut scale = y.clone();
    for n in 0..cs.n {
        for o in 0..cs.co {
            for oy in 0..ho {
                for ox in 0..wo {
                    let idx = ((n * cs.co + o) * ho + oy) * wo + ox;
                    for c in 0..cs.c {
                        for i in 0..cs.kh {
                            for j in 0..cs.kw {
                                let iy = (oy * cs.s[0] + i) as isize - cs.p[0] as isize;
                                let ix = (ox * cs.s[1] + j) as isize - cs.p[1] as isize;
                                if iy < 0 || ix < 0 || iy >= cs.h as isize || ix >= cs.w as isize {
                                    continue;
                                }
                                let xv = x
                                    [((n * cs.c + c) * cs.h + iy as usize) * cs.w + ix as usize]
                                    as f64;
                                let wv = w[((o * cs.c + c) * cs.kh + i) * cs.kw + j] as f64;
                                y[idx] += xv * wv;
                                scale[idx] += (xv * wv).abs();
                            }
                        }
                    }
                }
            }
        }
    }
    (y, scale)
}

fn check(name: &str, got: &[f32], want: &[f64], scale: &[f64]) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len());
    for (i, ((&g, &w), &s)) in got.iter().zip(want).zip(scale).enumerate() {
        prop_assert!(
            (g as f64 - w).abs() <= 1e-4 * s + 1e-6,
            "{}[{}] = {}, expected {}",
            name,
            i,
            g,
            w
        );
    }
    Ok(())
}

fn dot(a: &[f32], b: &[f32]) -> (f64, f64) {
    a.iter().zip(b).fold((0.0, 0.0), |(s, m), (&x, &y)| {
        (s + x as f64 * y as f64, m + (x as f64 * y as f64).abs())
    })
}

/// Images at least 32 output pixels wide, as in ResNet's first layers: whole NR-wide slivers
/// of the column matrix lie inside one output row, and others straddle two (the small cases
/// above never have an output row as wide as a sliver).
fn wide_case() -> impl Strategy<Value = Case> {
    (
        1usize..3,
        1usize..4,
        1usize..20,
        1usize..4,
        1usize..4,
        1usize..3,
        0usize..2,
        32usize..100,
        1usize..4,
    )
        .prop_map(|(n, c, co, kh, kw, s, p, wo, ho)| Case {
            n,
            c,
            co,
            h: (ho - 1) * s + kh,
            w: (wo - 1) * s + kw,
            kh,
            kw,
            s: [s, s],
            p: [p.min(kh - 1), p.min(kw - 1)],
        })
}

/// 3x3 stride-1 convolutions as `conv2d` sends them to Winograd's F(4x4, 3x3): at least 64
/// channels in and out, outputs at least 7 x 7, at least one image per thread; sizes that are
/// and are not multiples of the 4x4 tiles, padding 0, 1 or 2.
fn winograd_case() -> impl Strategy<Value = Case> {
    let threads = rayon::current_num_threads();
    (
        threads..threads + 2,
        64usize..70,
        64usize..70,
        0usize..3,
        0usize..3,
        0usize..10,
        0usize..10,
    )
        .prop_map(|(n, c, co, ph, pw, dh, dw)| Case {
            n,
            c,
            co,
            h: 9 - 2 * ph + dh,
            w: 9 - 2 * pw + dw,
            kh: 3,
            kw: 3,
            s: [1, 1],
            p: [ph, pw],
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn winograd_sized_conv2d_equals_direct(cs in winograd_case(), seed in 0u64..10_000, with_bias: bool) {
        let x = rand(&[cs.n, cs.c, cs.h, cs.w], seed);
        let w = rand(&[cs.co, cs.c, 3, 3], seed + 1);
        let b = rand(&[cs.co], seed + 2);
        let (mut want, scale) = direct(&cs, &x.to_vec().unwrap(), &w.to_vec().unwrap());
        let y = x.conv2d(&w, with_bias.then_some(&b), cs.params()).unwrap();
        if with_bias {
            let (ho, wo) = cs.out();
            let bv = b.to_vec::<f32>().unwrap();
            for (i, v) in want.iter_mut().enumerate() {
                *v += bv[i / (ho * wo) % cs.co] as f64;
            }
        }
        check("conv2d", &y.to_vec().unwrap(), &want, &scale)?;
    }

    #[test]
    fn winograd_sized_gradients_are_the_adjoint(cs in winograd_case(), seed in 0u64..10_000) {
        // Both gradients take Winograd at these sizes too (the input gradient as the
        // convolution of the output gradient with the flipped kernel).
        let x = rand(&[cs.n, cs.c, cs.h, cs.w], seed);
        let w = rand(&[cs.co, cs.c, 3, 3], seed + 1);
        let (ho, wo) = cs.out();
        let g = rand(&[cs.n, cs.co, ho, wo], seed + 2);
        let (lhs, s1) = dot(&x.conv2d(&w, None, cs.params()).unwrap().to_vec().unwrap(), &g.to_vec().unwrap());
        let dx = g.conv2d_backward_input(&w, x.shape(), cs.params()).unwrap();
        let (rhs, s2) = dot(&x.to_vec().unwrap(), &dx.to_vec().unwrap());
        prop_assert!((lhs - rhs).abs() <= 1e-4 * (s1 + s2), "input adjoint: {} vs {}", lhs, rhs);
        let dw = g.conv2d_backward_weight(&x, [3, 3], cs.params()).unwrap();
        let (rhs, s3) = dot(&w.to_vec().unwrap(), &dw.to_vec().unwrap());
        prop_assert!((lhs - rhs).abs() <= 1e-4 * (s1 + s3), "weight adjoint: {} vs {}", lhs, rhs);
    }

    #[test]
    fn wide_conv2d_equals_direct(cs in wide_case(), seed in 0u64..10_000) {
        let x = rand(&[cs.n, cs.c, cs.h, cs.w], seed);
        let w = rand(&[cs.co, cs.c, cs.kh, cs.kw], seed + 1);
        let (want, scale) = direct(&cs, &x.to_vec().unwrap(), &w.to_vec().unwrap());
        let y = x.conv2d(&w, None, cs.params()).unwrap();
        check("conv2d", &y.to_vec().unwrap(), &want, &scale)?;
    }

    #[test]
    fn conv2d_equals_direct_and_im2col_matmul(cs in case(), seed in 0u64..10_000) {
        let x = rand(&[cs.n, cs.c, cs.h, cs.w], seed);
        let w = rand(&[cs.co, cs.c, cs.kh, cs.kw], seed + 1);
        let (want, scale) = direct(&cs, &x.to_vec().unwrap(), &w.to_vec().unwrap());
        let y = x.conv2d(&w, None, cs.params()).unwrap();
        let (ho, wo) = cs.out();
        prop_assert_eq!(y.shape(), &[cs.n, cs.co, ho, wo]);
        check("conv2d", &y.to_vec().unwrap(), &want, &scale)?;
        // Explicit im2col, then one batched matmul: [co, k] x [n, k, pixels].
        let cols = x.im2col(cs.kh, cs.kw, cs.params()).unwrap();
        let y2 = w.reshape(&[cs.co, cs.c * cs.kh * cs.kw]).unwrap().matmul(&cols).unwrap();
        check("im2col+matmul", &y2.to_vec().unwrap(), &want, &scale)?;
    }

    #[test]
    fn conv2d_is_a_weight_tied_matrix(cs in case(), seed in 0u64..10_000) {
        // The [co*ho*wo, c*h*w] matrix whose entries are kernel weights (tied: the same
        // weight appears once per output pixel), then y = M x against the direct convolution.
        let cs = Case { n: 1, ..cs };
        let x = rand(&[1, cs.c, cs.h, cs.w], seed);
        let w = rand(&[cs.co, cs.c, cs.kh, cs.kw], seed + 1);
        let wv = w.to_vec::<f32>().unwrap();
        let cols = cs.c * cs.h * cs.w;
        let m = w.conv2d_matrix([cs.h, cs.w], cs.params()).unwrap();
        let y = m.matmul(&x.reshape(&[cols]).unwrap()).unwrap();
        let (want, scale) = direct(&cs, &x.to_vec().unwrap(), &wv);
        check("weight-tied matrix", &y.to_vec().unwrap(), &want, &scale)?;
    }

    #[test]
    fn conv2d_backward_is_the_adjoint(cs in case(), seed in 0u64..10_000) {
        let x = rand(&[cs.n, cs.c, cs.h, cs.w], seed);
        let w = rand(&[cs.co, cs.c, cs.kh, cs.kw], seed + 1);
        let (ho, wo) = cs.out();
        let g = rand(&[cs.n, cs.co, ho, wo], seed + 2);
        let y = x.conv2d(&w, None, cs.params()).unwrap();
        // <conv(x), g> == <x, d_input(g)>
        let dx = g.conv2d_backward_input(&w, x.shape(), cs.params()).unwrap();
        let (lhs, s1) = dot(&y.to_vec().unwrap(), &g.to_vec().unwrap());
        let (rhs, s2) = dot(&x.to_vec().unwrap(), &dx.to_vec().unwrap());
        prop_assert!((lhs - rhs).abs() <= 1e-4 * (s1 + s2) + 1e-6, "input adjoint: {} vs {}", lhs, rhs);
        // <conv(x), g> == <w, d_weight(g)>: the weight gradient is the adjoint in w.
        let dw = g.conv2d_backward_weight(&x, [cs.kh, cs.kw], cs.params()).unwrap();
        let (rhs, s3) = dot(&w.to_vec().unwrap(), &dw.to_vec().unwrap());
        prop_assert!((lhs - rhs).abs() <= 1e-4 * (s1 + s3) + 1e-6, "weight adjoint: {} vs {}", lhs, rhs);
        // col2im is the adjoint of im2col.
        let cols = x.im2col(cs.kh, cs.kw, cs.params()).unwrap();
        let gc = rand(cols.shape(), seed + 3);
        let back = gc.col2im(x.shape(), cs.kh, cs.kw, cs.params()).unwrap();
        let (a, s4) = dot(&cols.to_vec().unwrap(), &gc.to_vec().unwrap());
        let (b, s5) = dot(&x.to_vec().unwrap(), &back.to_vec().unwrap());
        prop_assert!((a - b).abs() <= 1e-4 * (s4 + s5) + 1e-6, "col2im adjoint: {} vs {}", a, b);
    }
}

#[test]
fn bias_is_added_per_output_channel() {
    let x = Tensor::zeros(&[2, 3, 5, 5]);
    let w = rand(&[4, 3, 3, 3], 1);
    let b = Tensor::from_slice(&[1.0f32, -2.0, 3.0, 0.5], &[4]).unwrap();
    let y = x.conv2d(&w, Some(&b), Conv2dParams::new(1, 1)).unwrap();
    let v = y.to_vec::<f32>().unwrap();
    for (i, chunk) in v.chunks(25).enumerate() {
        assert!(chunk.iter().all(|&e| e == [1.0, -2.0, 3.0, 0.5][i % 4]));
    }
}

#[test]
fn mismatched_channels_name_the_shapes() {
    let x = Tensor::zeros(&[1, 3, 8, 8]);
    let w = Tensor::zeros(&[4, 2, 3, 3]);
    let err = x
        .conv2d(&w, None, Conv2dParams::new(1, 0))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("[1, 3, 8, 8]") && err.contains("[4, 2, 3, 3]"),
        "{err}"
    );
    let err = Tensor::zeros(&[1, 3, 2, 2])
        .conv2d(&Tensor::zeros(&[1, 3, 5, 5]), None, Conv2dParams::new(1, 0))
        .unwrap_err();
    assert!(err.to_string().contains("smaller than the kernel"), "{err}");
}
