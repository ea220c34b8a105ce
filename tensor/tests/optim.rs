//! The fused optimiser steps against their formulas written element by element, on a tensor
//! long enough to be split into parallel chunks (with a ragged last chunk) and on a short
//! one; state shared with another tensor is not written through; bad operands are refused
//! before anything is touched.
use tensor::random::Philox;
use tensor::{AdamStep, Error, SgdStep, Tensor};

/// An AdamW step without weight decay, for the tests that are not about its formula.
const PLAIN_ADAM: AdamStep = AdamStep {
    decay: 1.0,
    beta1: 0.9,
    beta2: 0.99,
    step_size: 1e-2,
    eps: 1e-8,
};

fn draw(n: usize, seed: u64) -> Tensor {
    Philox::new(seed, 3).uniform(&[n], -1.0, 1.0).unwrap()
}

fn f32s(t: &Tensor) -> Vec<f32> {
    t.to_vec::<f32>().unwrap()
}

#[test]
fn adamw_step_is_the_formula_on_every_element() {
    for n in [5, 3 * (1 << 14) + 7] {
        let (mut p, g) = (draw(n, 1), draw(n, 2));
        let (mut m, mut v) = (draw(n, 3), draw(n, 4).abs().unwrap());
        let (p0, g0, m0, v0) = (f32s(&p), f32s(&g), f32s(&m), f32s(&v));
        let h = AdamStep {
            decay: 0.998,
            beta1: 0.9,
            beta2: 0.99,
            step_size: 1e-3,
            eps: 1e-8,
        };
        p.adamw_step(&g, &mut m, &mut v, h).unwrap();
        let (p1, m1, v1) = (f32s(&p), f32s(&m), f32s(&v));
        for i in 0..n {
            let mi = 0.9 * m0[i] + (1.0 - 0.9) * g0[i];
            let vi = 0.99 * v0[i] + (1.0 - 0.99) * g0[i] * g0[i];
            let pi = p0[i] * 0.998 - 1e-3 * mi / (vi.sqrt() + 1e-8);
            assert_eq!((p1[i], m1[i], v1[i]), (pi, mi, vi), "n {n}, element {i}");
        }
    }
}

#[test]
fn sgd_step_is_the_formula_on_every_element() {
    for n in [5, 3 * (1 << 14) + 7] {
        let (mut p, g, mut buf) = (draw(n, 5), draw(n, 6), draw(n, 7));
        let (p0, g0, b0) = (f32s(&p), f32s(&g), f32s(&buf));
        for first in [true, false] {
            let h = SgdStep {
                decay: 0.99,
                lr: 0.1,
                momentum: 0.9,
                first,
            };
            p.sgd_step(&g, &mut buf, h).unwrap();
        }
        let (p1, b1) = (f32s(&p), f32s(&buf));
        for i in 0..n {
            let b = 0.9 * g0[i] + g0[i];
            let pi = (p0[i] * 0.99 - 0.1 * g0[i]) * 0.99 - 0.1 * b;
            assert_eq!(
                (p1[i], b1[i]),
                (pi, b),
                "n {n}, element {i} (buffer was {})",
                b0[i]
            );
        }
    }
}

#[test]
fn a_shared_state_is_copied_not_written_through() {
    let (mut p, g, mut m, mut v) = (
        draw(9, 1),
        draw(9, 2),
        draw(9, 3),
        draw(9, 4).abs().unwrap(),
    );
    let view_of_m = m.clone();
    let before = f32s(&view_of_m);
    let h = PLAIN_ADAM;
    p.adamw_step(&g, &mut m, &mut v, h).unwrap();
    assert_eq!(f32s(&view_of_m), before);
    assert_ne!(f32s(&m), before);
}

#[test]
fn bad_operands_are_refused_and_leave_the_parameter_alone() {
    let (mut p, mut m, mut v) = (draw(4, 1), draw(4, 2), draw(4, 3));
    let before = f32s(&p);
    let h = PLAIN_ADAM;
    let err = p.adamw_step(&draw(5, 4), &mut m, &mut v, h).unwrap_err();
    assert!(
        matches!(&err, Error::Shape { shapes, .. } if shapes == &[vec![4], vec![5]]),
        "{err}"
    );
    let g64 = draw(4, 4).to_dtype(tensor::DType::F64).unwrap();
    assert!(matches!(
        p.adamw_step(&g64, &mut m, &mut v, h),
        Err(Error::DType { .. })
    ));
    assert_eq!(f32s(&p), before);
}
