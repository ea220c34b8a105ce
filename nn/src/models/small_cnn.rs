//! A small CNN for 32 x 32 images, small enough to train in seconds on two cores: three 3x3
//! stride-2 convolutions of 16, 32 and 64 channels, each followed by a ReLU (and, with
//! `bn`, a `BatchNorm2d` between the two, which makes the convolution's bias redundant),
//! average pooling to one value per channel, and a linear layer to the classes. Its
//! penultimate activations, the 64 pooled channels, are what [`features`] returns.
use crate::layers::{AdaptiveAvgPool2d, BatchNorm, Conv2d, Flatten, Linear, ReLU, Sequential};
use crate::vars::Path;
use crate::Mode;
use autograd::Var;
use tensor::Conv2dParams;

/// The small CNN at `p` (layers named `0`, `1`, ... as PyTorch's `nn.Sequential`).
pub fn small_cnn(p: Path, classes: usize, bn: bool) -> crate::Result<Sequential> {
    let mut m = Sequential::new();
    let mut i = 0;
    for (cin, cout) in [(3, 16), (16, 32), (32, 64)] {
        m = m.push(Conv2d::new(
            p.pp(i),
            cin,
            cout,
            3,
            Conv2dParams::new(2, 1),
            !bn,
        )?);
        i += 1;
        if bn {
            m = m.push(BatchNorm::new_2d(p.pp(i), cout)?);
            i += 1;
        }
        m = m.push(ReLU);
        i += 1;
    }
    let m = m.push(AdaptiveAvgPool2d { out: [1, 1] }).push(Flatten);
    Ok(m.push(Linear::new(p.pp(i + 2), 64, classes, true)?))
}

/// The input of a `Sequential`'s last layer (for [`small_cnn`], the 64 pooled channels):
/// every layer but the last, run in `mode`.
pub fn features(model: &Sequential, x: Var, mode: Mode) -> autograd::Result<Var> {
    let keep = model.layers.len().saturating_sub(1);
    model.layers[..keep]
        .iter()
        .try_fold(x, |x, layer| layer.forward(x, mode))
}
