//! Layers whose maths the tensor and autograd tests already check against PyTorch: here,
//! that each layer wires it as PyTorch and fastai do (concat pooling puts max first, the
//! sigmoid range from either end, flatten, dropout only in training, keeping 1 - p scaled by
//! 1 / (1 - p)), and that initialisation draws from the right distributions.
use autograd::Var;
use nn::layers::{
    AdaptiveConcatPool2d, Conv2d, Dropout, Embedding, Flatten, Linear, MaxPool2d, SigmoidRange,
};
use nn::{Mode, Module, Vars};
use tensor::random::Philox;
use tensor::{Conv2dParams, Tensor};

fn rand(shape: &[usize], seed: u64) -> Tensor {
    Philox::new(seed, 1).uniform(shape, -1.0, 1.0).unwrap()
}

#[test]
fn concat_pool_puts_max_first_then_average() {
    let x = rand(&[2, 3, 5, 4], 1);
    let y = AdaptiveConcatPool2d { out: [1, 1] }
        .forward(Var::constant(x.clone()), Mode::Eval)
        .unwrap();
    assert_eq!(y.shape(), &[2, 6, 1, 1]);
    let max = x.max(&[2, 3], false).unwrap().to_vec::<f32>().unwrap();
    let avg = x.mean(&[2, 3], false).unwrap().to_vec::<f32>().unwrap();
    let v = y.tensor().to_vec::<f32>().unwrap();
    for n in 0..2 {
        for c in 0..3 {
            assert_eq!(v[n * 6 + c], max[n * 3 + c]);
            assert!((v[n * 6 + 3 + c] - avg[n * 3 + c]).abs() < 1e-6);
        }
    }
    let flat = Flatten.forward(y, Mode::Eval).unwrap();
    assert_eq!(flat.shape(), &[2, 6]);
}

#[test]
fn sigmoid_range_squeezes_into_the_range() {
    let x = Tensor::from_slice(&[-100.0f32, 0.0, 100.0], &[3]).unwrap();
    let y = SigmoidRange {
        lo: 0.0,
        hi: 10.817,
    }
    .forward(Var::constant(x), Mode::Eval)
    .unwrap();
    let v = y.tensor().to_vec::<f32>().unwrap();
    assert!(
        v[0].abs() < 1e-6 && (v[1] - 10.817 / 2.0).abs() < 1e-5 && (v[2] - 10.817).abs() < 1e-5,
        "{v:?}"
    );
}

/// fastai's `y_range` with a low end that is not 0: `(hi - lo) * sigmoid(x) + lo`, so that
/// sigmoid(ln 3) = 3/4 lands three quarters of the way from -2 to 3.
#[test]
fn sigmoid_range_starts_at_its_low_end() {
    let x = Tensor::from_slice(&[-100.0f32, 0.0, 3f32.ln(), 100.0], &[4]).unwrap();
    let y = SigmoidRange { lo: -2.0, hi: 3.0 }
        .forward(Var::constant(x), Mode::Eval)
        .unwrap();
    let want = [-2.0, 0.5, 1.75, 3.0];
    for (got, want) in y.tensor().to_vec::<f32>().unwrap().iter().zip(want) {
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }
}

#[test]
fn conv_and_pool_layers_are_the_tensor_ops() {
    let vars = Vars::new(3);
    let conv = Conv2d::new(vars.root(), 3, 8, 3, Conv2dParams::new(2, 1), true).unwrap();
    let x = rand(&[2, 3, 9, 9], 2);
    let y = conv.forward(Var::constant(x.clone()), Mode::Eval).unwrap();
    let want = x
        .conv2d(
            &conv.weight.value(),
            Some(&conv.bias.as_ref().unwrap().value()),
            Conv2dParams::new(2, 1),
        )
        .unwrap();
    assert_eq!(
        y.tensor().to_vec::<f32>().unwrap(),
        want.to_vec::<f32>().unwrap()
    );
    let pool = MaxPool2d {
        kernel: 3,
        params: Conv2dParams::new(2, 1),
    };
    assert_eq!(pool.forward(y, Mode::Eval).unwrap().shape(), &[2, 8, 3, 3]);
    assert!(conv
        .to_string()
        .starts_with("Conv2d(3, 8, kernel_size=(3, 3)"));
}

#[test]
fn dropout_only_in_training() {
    let x = Var::constant(Tensor::ones(&[1000]));
    let d = Dropout::new(0.5, 1);
    assert_eq!(
        d.forward(x.clone(), Mode::Eval)
            .unwrap()
            .tensor()
            .to_vec::<f32>()
            .unwrap(),
        vec![1.0; 1000]
    );
    let a = d
        .forward(x.clone(), Mode::Train)
        .unwrap()
        .tensor()
        .to_vec::<f32>()
        .unwrap();
    let b = d
        .forward(x.clone(), Mode::Train)
        .unwrap()
        .tensor()
        .to_vec::<f32>()
        .unwrap();
    assert!(a.iter().all(|&v| v == 0.0 || v == 2.0));
    assert_ne!(a, b, "each call draws a new mask");
    let again = Dropout::new(0.5, 1)
        .forward(x.clone(), Mode::Train)
        .unwrap()
        .tensor()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(a, again, "the same seed gives the same masks");
}

#[path = "shared/dropout_of_ones.rs"]
mod dropout_of_ones;

/// At p = 0.3, where dropping p and keeping p differ (unlike p = 0.5), a training pass keeps
/// about 70% of 100,000 ones, each divided by 0.7, and zeroes the rest.
#[test]
fn dropout_keeps_one_minus_p_scaled_by_its_inverse() {
    let x = Var::constant(Tensor::ones(&[100_000]));
    let y = Dropout::new(0.3, 2).forward(x, Mode::Train).unwrap();
    dropout_of_ones::assert_dropout_of_ones("Dropout(0.3)", &y.tensor().to_vec().unwrap(), 0.3);
}

#[test]
fn initialisation_distributions() {
    let vars = Vars::new(0);
    let lin = Linear::new(vars.root().pp("lin"), 400, 300, true).unwrap();
    let w = lin.weight.value().to_vec::<f32>().unwrap();
    let bound = 1.0 / 20.0;
    assert!(w.iter().all(|v| v.abs() <= bound));
    let var = w.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / w.len() as f64;
    assert!(
        (var - (bound as f64).powi(2) / 3.0).abs() < 0.05 * (bound as f64).powi(2) / 3.0,
        "variance {var}"
    );
    let emb = Embedding::new(vars.root().pp("emb"), 1000, 50)
        .unwrap()
        .weight
        .value()
        .to_vec::<f32>()
        .unwrap();
    assert!(
        emb.iter().all(|v| v.abs() < 0.02),
        "fastai's trunc normal stays within ±2 * 0.01"
    );
    let std = (emb.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / emb.len() as f64).sqrt();
    assert!(
        (std - 0.0088).abs() < 0.0005,
        "std {std}: N(0,1) fmod 2 has std about 0.88"
    );
    let k = (vars.root().init())
        .kaiming_normal(&[512, 1024], 1024)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let kstd = (k.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / k.len() as f64).sqrt();
    assert!(
        (kstd - (2.0f64 / 1024.0).sqrt()).abs() < 0.01 * (2.0f64 / 1024.0).sqrt(),
        "kaiming std {kstd}"
    );
}
