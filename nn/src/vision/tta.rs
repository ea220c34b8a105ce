//! Test-time augmentation as fastai v1's `learn.TTA()` (`fastai/vision/tta.py`): the
//! validation set is predicted once as usual and 8 more times under augmentation, and the
//! final probabilities are `beta * plain + (1 - beta) * mean(passes)` (`beta` 0.4).
//!
//! Pass `i` (0 to 7) keeps the training transforms other than the crop, the flip, the
//! dihedral and the zoom (the random warp, rotation, brightness and contrast, drawn afresh
//! for every image), zooms by `scale` (1.35) about the corner `(row, col) = (i & 1, i & 2
//! != 0)`, crops at that same corner, and flips left-right when `i & 4`. The flip is on
//! the resized grid before the crop, as fastai's pixel `flip_lr` comes before `crop_pad`.
//!
//! Differences from fastai: the activation is always the softmax (fastai picks it from the
//! loss function; lesson 6's is cross-entropy); the random transforms of a pass come from a
//! Philox stream per (pass, image) seeded by the data's seed, so TTA is reproducible where
//! fastai draws from the global generator; and the validation set is the data's at its size
//! (fastai's `learn.data`), with no progress bar.
use super::{Augment, ImageData, FLIP_LR};
use crate::learner::{DataBunch, Inputs, Learner};
use crate::module::Module;
use crate::Result;
use autograd::Var;
use tensor::random::Philox;
use tensor::Tensor;

/// The number of augmented passes.
pub const TTA_PASSES: usize = 8;

/// The transform of validation image `item` in pass `pass` (0 to 7) of [`tta`] on `data`
/// with zoom `scale`.
pub fn tta_augment(data: &ImageData, pass: usize, item: usize, scale: f64) -> Augment {
    // The training's draw, its zoom, crop and flip (or dihedral) then replaced.
    let stream = (pass * data.rows().valid + item) as u64;
    let drawn = data
        .transforms()
        .draw(Philox::new(data.seed() ^ 0x77a, stream));
    let corner = |bit: usize| if pass & bit != 0 { 1.0 } else { 0.0 };
    let (row, col) = (corner(1), corner(2));
    Augment {
        zoom: Some((scale, row, col)),
        crop: (row, col),
        dihedral: if pass & 4 != 0 { FLIP_LR } else { 0 },
        ..drawn
    }
}

/// `beta * plain + (1 - beta) * mean(passes)`, all the same shape.
pub fn tta_blend(plain: &Tensor, passes: &[Tensor], beta: f32) -> tensor::Result<Tensor> {
    let mut sum = Tensor::zeros(plain.shape());
    for p in passes {
        sum = sum.add(p)?;
    }
    let avg = sum.mul_scalar(1.0 / passes.len() as f32)?;
    plain.mul_scalar(beta)?.add(&avg.mul_scalar(1.0 - beta)?)
}

/// fastai's `learn.TTA(beta, scale)` on `data`'s validation set: the blended softmax
/// probabilities `[N, C]` and the targets `[N]`, on the host.
pub fn tta<M, I>(
    learn: &Learner<M, I>,
    data: &ImageData,
    beta: f32,
    scale: f64,
) -> Result<(Tensor, Tensor)>
where
    M: Module<I, Output = Var> + 'static,
    I: Inputs,
{
    let (plain, targets) = learn.get_preds(data.valid())?;
    let passes = (0..TTA_PASSES)
        .map(|pass| {
            let draw = |item| tta_augment(data, pass, item, scale);
            let (out, _) = learn.get_preds(data.valid_with(draw))?;
            Ok(out.softmax(1)?)
        })
        .collect::<Result<Vec<Tensor>>>()?;
    Ok((tta_blend(&plain.softmax(1)?, &passes, beta)?, targets))
}
