//! The model of fastai's `cnn_learner(data, models.resnet34, bn_final=True)` (docs/lesson6.md,
//! Pets model): `Sequential[body, head]`, so that `m[0]` is the pretrained body (whose output
//! the heat map hooks) and `m[1]` the new head. The head pools each of the body's 512 feature
//! maps two ways (max and average: 1024 features), then two `[BatchNorm1d, Dropout, Linear]`
//! blocks with a ReLU between them, and a final batch norm on the class scores.
use crate::layers::{AdaptiveConcatPool2d, BatchNorm, Dropout, Flatten, Linear, ReLU, Sequential};
use crate::models::ResNet;
use crate::vars::Path;

/// Parameter-name prefixes of the three layer groups fastai splits this model into at
/// `(m[0][6], m[1])`: the body up to layer2, layer3 and layer4, the head. Discriminative
/// learning rates (`slice(1e-6, 1e-3)`) give each group its own rate.
pub const CNN_GROUPS: [&[&str]; 3] = [
    &["0.0.", "0.1.", "0.4.", "0.5."],
    &["0.6.", "0.7."],
    &["1."],
];

/// The head's dropout probabilities, fastai's `ps`: one value `p` gives the first dropout p/2
/// and the last p (fastai's default, 0.5, gives 0.25 and 0.5); `Each` gives each its own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ps {
    One(f32),
    Each([f32; 2]),
}

impl Default for Ps {
    fn default() -> Self {
        Ps::One(0.5)
    }
}

impl Ps {
    /// The probabilities of the head's first and last dropout.
    pub fn per_layer(self) -> [f32; 2] {
        match self {
            Ps::One(p) => [p / 2.0, p],
            Ps::Each(ps) => ps,
        }
    }
}

/// fastai's `create_head(nf, classes, ps, bn_final=True)` at `p`: AdaptiveConcatPool2d,
/// Flatten, BatchNorm1d(nf), Dropout(ps[0]), Linear(nf, 512), ReLU, BatchNorm1d(512),
/// Dropout(ps[1]), Linear(512, classes), BatchNorm1d(classes, momentum 0.01), named `p.0` ..
/// `p.9`. The linear layers are initialised kaiming normal with zero bias (fastai's
/// `apply_init`), the batch norms as PyTorch's; `seed` seeds the two dropouts.
pub fn create_head(
    p: Path,
    nf: usize,
    classes: usize,
    ps: Ps,
    seed: u64,
) -> crate::Result<Sequential> {
    let [first, last] = ps.per_layer();
    let linear = |at: usize, inputs: usize, outputs: usize| -> crate::Result<Linear> {
        let l = Linear::new(p.pp(at), inputs, outputs, true)?;
        l.weight
            .set(p.init().kaiming_normal(&[outputs, inputs], inputs)?);
        if let Some(b) = &l.bias {
            b.set(tensor::Tensor::zeros(&[outputs]));
        }
        Ok(l)
    };
    Ok(Sequential::new()
        .push(AdaptiveConcatPool2d { out: [1, 1] })
        .push(Flatten)
        .push(BatchNorm::new_1d(p.pp(2), nf)?)
        .push(Dropout::new(first, seed))
        .push(linear(4, nf, 512)?)
        .push(ReLU)
        .push(BatchNorm::new_1d(p.pp(6), 512)?)
        .push(Dropout::new(last, seed.wrapping_add(1)))
        .push(linear(8, 512, classes)?)
        .push(BatchNorm::new_1d(p.pp(9), classes)?.with_momentum(0.01)))
}

/// `Sequential[body, head]` from a ResNet (ImageNet weights already loaded into it, or a
/// random initialisation) and a new head for `classes`, in the ResNet's place `p`: the body
/// is `p.0` (see [`ResNet::into_body`]), the head `p.1` with dropouts `ps`.
pub fn cnn_model(resnet: ResNet, classes: usize, ps: Ps, seed: u64) -> crate::Result<Sequential> {
    let p = resnet.path().clone();
    let nf = 2 * resnet.fc.weight.value().shape()[1];
    let body = resnet.into_body(&p.pp(0))?;
    Ok(Sequential::new()
        .push(body)
        .push(create_head(p.pp(1), nf, classes, ps, seed)?))
}
