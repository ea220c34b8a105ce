//! The tape's behaviour: gradients of a small computation by hand, accumulation over several
//! uses, leaves keeping their id across tapes, intermediate gradients only on request,
//! no_grad, and misuse turned into errors that say what went wrong.
use autograd::{Error, Tape, Var, VarId};
use tensor::{DType, Tensor};

fn t(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape).unwrap()
}

#[test]
fn gradients_of_a_small_expression() {
    // L = sum((w * x + b)^2) with w = [1, 2], x = [3, 4], b = 0.5 (broadcast).
    let tape = Tape::new();
    let (wid, bid) = (VarId::new(), VarId::new());
    let w = tape.leaf(t(&[1.0, 2.0], &[2]), wid);
    let b = tape.leaf(t(&[0.5], &[1]), bid);
    let x = tape.input(t(&[3.0, 4.0], &[2]));
    let loss = w
        .mul(&x)
        .unwrap()
        .add(&b)
        .unwrap()
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap();
    assert_eq!(loss.tensor().to_scalar().unwrap(), 3.5 * 3.5 + 8.5 * 8.5);
    let grads = loss.backward().unwrap();
    // dL/dw = 2 (w x + b) x; dL/db = sum 2 (w x + b) (summed over the broadcast).
    assert_eq!(
        grads.get(wid).unwrap().to_vec::<f32>().unwrap(),
        vec![21.0, 68.0]
    );
    assert_eq!(grads.get(bid).unwrap().to_vec::<f32>().unwrap(), vec![24.0]);
    assert_eq!(grads.get(bid).unwrap().shape(), &[1]);
    assert!(grads.of(&x).is_none(), "inputs get no gradient");
}

#[test]
fn a_value_used_twice_gets_the_sum_of_its_gradients() {
    let tape = Tape::new();
    let id = VarId::new();
    let w = tape.leaf(t(&[3.0], &[1]), id);
    let y = w.mul(&w).unwrap().add(&w).unwrap().sum_all().unwrap(); // w² + w
    let g = y.backward().unwrap();
    assert_eq!(g.get(id).unwrap().to_vec::<f32>().unwrap(), vec![7.0]);
}

#[test]
fn leaves_keep_their_id_across_tapes() {
    let id = VarId::new();
    let w0 = t(&[2.0], &[1]);
    for step in 0..2 {
        let tape = Tape::new();
        let w = tape.leaf(w0.clone(), id);
        let loss = w.mul_scalar(step as f32 + 1.0).unwrap().sum_all().unwrap();
        let g = loss.backward().unwrap();
        assert_eq!(
            g.get(id).unwrap().to_vec::<f32>().unwrap(),
            vec![step as f32 + 1.0]
        );
    }
}

#[test]
fn intermediate_gradients_only_on_request() {
    let tape = Tape::new();
    let id = VarId::new();
    let w = tape.leaf(t(&[1.0, -2.0, 3.0], &[3]), id);
    let hidden = w.relu().unwrap();
    let other = w.exp().unwrap();
    tape.retain_grad(&hidden);
    let loss = hidden
        .mul_scalar(2.0)
        .unwrap()
        .add(&other)
        .unwrap()
        .sum_all()
        .unwrap();
    let g = loss.backward().unwrap();
    assert_eq!(
        g.of(&hidden).unwrap().to_vec::<f32>().unwrap(),
        vec![2.0, 2.0, 2.0]
    );
    assert!(g.of(&other).is_none(), "not retained, so dropped after use");
    assert_eq!(g.len(), 2);
}

#[test]
fn no_grad_records_nothing() {
    let tape = Tape::new();
    let w = tape.leaf(t(&[1.0, 2.0], &[2]), VarId::new());
    let y = tape.no_grad(|| w.exp().unwrap().sum_all().unwrap());
    assert_eq!(tape.len(), 0);
    assert!(!y.is_tracked());
    let err = y.backward().unwrap_err();
    assert_eq!(err, Error::Untracked);
    assert!(
        err.to_string().contains("depends on no tracked parameter"),
        "{err}"
    );
    assert!(tape.is_recording(), "recording is restored after no_grad");
    w.exp().unwrap();
    assert_eq!(tape.len(), 1);
}

#[test]
fn ops_on_untracked_values_record_nothing() {
    let tape = Tape::new();
    let x = tape.input(t(&[1.0, 2.0], &[2]));
    let y = x
        .exp()
        .unwrap()
        .add(&Var::constant(t(&[1.0], &[1])))
        .unwrap();
    assert_eq!(tape.len(), 0);
    assert!(!y.is_tracked());
    assert!(
        y.tape().unwrap().same(&tape),
        "the tape still travels with the data"
    );
}

#[test]
fn misuse_is_an_error_not_a_panic() {
    let tape = Tape::new();
    let w = tape.leaf(t(&[1.0, 2.0], &[2]), VarId::new());
    let y = w.exp().unwrap();
    match y.backward() {
        Err(Error::NotScalar { shape }) => assert_eq!(shape, [2]),
        other => panic!("expected a tape error, got {:?}", other.map(|_| ())),
    }
    let bad_seed = Tensor::ones(&[3]);
    let err = y.backward_with(&bad_seed).unwrap_err();
    assert_eq!(
        err,
        Error::Seed {
            output: (vec![2], DType::F32),
            seed: (vec![3], DType::F32)
        }
    );
    assert!(err.to_string().contains("does not match"), "{err}");

    let other_tape = Tape::new();
    let v = other_tape.leaf(t(&[1.0, 2.0], &[2]), VarId::new());
    let err = w.add(&v).unwrap_err();
    assert_eq!(err, Error::TwoTapes { op: "add" });
    assert!(err.to_string().contains("two different tapes"), "{err}");

    let loss = y.sum_all().unwrap();
    loss.backward().unwrap();
    let err = loss.backward().unwrap_err();
    assert_eq!(err, Error::Consumed { op: "backward" });
    assert!(
        err.to_string().contains("already been through backward"),
        "{err}"
    );
    let err = w.exp().unwrap_err();
    assert_eq!(err, Error::Consumed { op: "exp" });

    // A shape error inside an op names the op and the shapes, as in the tensor crate.
    let tape = Tape::new();
    let a = tape.leaf(t(&[1.0; 6], &[2, 3]), VarId::new());
    let b = tape.input(t(&[1.0; 10], &[5, 2]));
    let err = a.matmul(&b).unwrap_err();
    assert_eq!(
        err.to_string(),
        "matmul: lhs [2, 3] and rhs [5, 2] do not agree on the inner dimension"
    );
}

#[test]
fn views_save_no_data_and_backward_frees_saved_tensors() {
    // The rule of a view holds only shapes: the tape can be large while the data is not.
    let tape = Tape::new();
    let w = tape.leaf(Tensor::ones(&[64, 64]), VarId::new());
    let mut v = w.clone();
    for _ in 0..100 {
        v = v.t().unwrap();
    }
    let loss = v.sum_all().unwrap();
    assert_eq!(tape.len(), 101);
    loss.backward().unwrap();
    assert_eq!(
        tape.len(),
        0,
        "backward consumed the tape and its saved tensors"
    );
}

#[test]
fn a_transposed_weight_gets_a_row_major_gradient() {
    // `x @ w.t()`, a Linear layer: the weight's gradient comes back in the weight's own
    // layout, so the optimiser need not copy a transpose; its values are g^T x.
    let tape = Tape::new();
    let id = VarId::new();
    let w = tape.leaf(t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]), id);
    let x = tape.input(t(&[1.0, -1.0, 0.5, 2.0], &[2, 2]));
    let grads = x
        .matmul(&w.t().unwrap())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g = grads.get(id).unwrap();
    assert!(g.is_contiguous(), "strides {:?}", g.strides());
    // Each row of dW is the column sums of x: [1.5, 1.0].
    assert_eq!(g.to_vec::<f32>().unwrap(), [1.5, 1.0, 1.5, 1.0, 1.5, 1.0]);
}
