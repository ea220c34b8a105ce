//! The errors carry their data: a caller matches on the shapes, the dimension, the index and
//! the argument instead of parsing a message, and the message is a sentence built from them.
use tensor::{Device, Error, Tensor};

#[test]
fn broadcast_names_both_shapes() {
    let e = Tensor::zeros(&[2, 3])
        .add(&Tensor::zeros(&[4]))
        .unwrap_err();
    assert_eq!(
        e,
        Error::Broadcast {
            op: "add",
            lhs: vec![2, 3],
            rhs: vec![4]
        }
    );
    assert_eq!(e.op(), "add");
    assert_eq!(
        e.to_string(),
        "add: shapes [2, 3] and [4] cannot be broadcast together"
    );
}

#[test]
fn a_dimension_out_of_range_names_it_and_the_shape() {
    let x = Tensor::zeros(&[2, 3]);
    for e in [
        x.sum(&[2], false).unwrap_err(),
        x.unsqueeze(3).unwrap_err(),
        x.flatten_from(3).unwrap_err(),
    ] {
        assert!(
            matches!(&e, Error::Dim { dim, shape, .. } if *dim >= 2 && shape == &[2, 3]),
            "{e}"
        );
    }
    let e = x.narrow(1, 2, 2).unwrap_err();
    assert!(
        matches!(&e, Error::Range { op: "narrow", start: 2, end: 4, dim: 1, shape } if shape == &[2, 3]),
        "{e}"
    );
}

#[test]
fn element_counts_that_do_not_fill_a_shape() {
    let e = Tensor::from_vec(vec![0f32; 5], &[2, 3]).unwrap_err();
    assert_eq!(
        e,
        Error::ElementCount {
            op: "from_vec",
            shape: vec![2, 3],
            elements: 5
        }
    );
    assert_eq!(
        e.to_string(),
        "from_vec: 5 elements cannot fill shape [2, 3] (6 elements)"
    );
    let e = Tensor::zeros(&[2, 3]).to_scalar().unwrap_err();
    assert!(
        matches!(
            e,
            Error::ElementCount {
                op: "to_scalar",
                elements: 6,
                ..
            }
        ),
        "{e}"
    );
    // A tensor's reshape copies a strided view; its layout alone cannot.
    let view = tensor::Layout::contiguous(&[2, 3]).transpose(0, 1).unwrap();
    let e = view.reshape(&[6]).unwrap_err();
    assert!(
        matches!(&e, Error::NotContiguous { shape, strides, .. } if shape == &[3, 2] && strides == &[1, 3]),
        "{e}"
    );
}

#[test]
fn shape_rules_name_the_shapes_and_the_rule() {
    let e = Tensor::zeros(&[4, 3])
        .matmul(&Tensor::zeros(&[5, 2]))
        .unwrap_err();
    assert_eq!(
        e,
        Error::InnerDim {
            op: "matmul",
            lhs: vec![4, 3],
            rhs: vec![5, 2]
        }
    );
    let p = tensor::Conv2dParams::new(1, 0);
    let e = Tensor::zeros(&[1, 3, 5, 5])
        .conv2d(&Tensor::zeros(&[8, 4, 3, 3]), None, p)
        .unwrap_err();
    assert!(
        matches!(&e, Error::Shape { op: "conv2d", shapes, .. }
            if shapes == &[vec![1, 3, 5, 5], vec![8, 4, 3, 3]]),
        "{e}"
    );
    assert!(e.to_string().contains("one channel count"), "{e}");
}

#[test]
fn scalar_arguments_out_of_range_name_the_value() {
    let x = Tensor::ones(&[4]);
    let e = x
        .dropout(1.5, tensor::random::Philox::new(0, 0))
        .unwrap_err();
    assert_eq!(
        e,
        Error::Argument {
            op: "dropout",
            name: "p",
            value: 1.5,
            expected: "in [0, 1]"
        }
    );
    assert_eq!(e.to_string(), "dropout: p is 1.5, expected in [0, 1]");
    let e = x.clamp(2.0, 1.0).unwrap_err();
    assert_eq!(
        e,
        Error::Bounds {
            op: "clamp",
            lo: 2.0,
            hi: 1.0
        }
    );
}

#[test]
fn a_device_name_that_is_not_one() {
    assert_eq!(
        Device::parse("gpu"),
        Err(Error::DeviceName { name: "gpu".into() })
    );
    assert_eq!(Device::parse("cuda:1"), Ok(Device::Cuda(1)));
}
