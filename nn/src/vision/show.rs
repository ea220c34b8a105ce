//! The pictures fastai draws of images and mistakes: `data.show_batch` (a training batch as
//! the model sees it, augmented, with its labels) and `interp.plot_top_losses(k,
//! heatmap=True)` (the validation images the model got most wrong, each captioned
//! prediction/actual/loss/probability and, optionally, overlaid with the Grad-CAM of its
//! actual class, as fastai v1 does).
use super::{grad_cam_of, normalize, overlay, tensor_rgb, ImageData};
use crate::interpret::ClassificationInterpretation;
use crate::layers::Sequential;
use crate::learner::Learner;
use crate::plot::image_grid;
use crate::{Error, Result};
use std::path::Path;
use tensor::Tensor;

/// fastai's `data.show_batch(rows)`: the first `n` images of the first training batch,
/// denormalised, each under its label, `cols` to a row, as a PNG at `path`.
pub fn plot_batch(data: &ImageData, n: usize, cols: usize, path: impl AsRef<Path>) -> Result<()> {
    let cells = data
        .show_batch(n)?
        .iter()
        .map(|(image, label)| Ok((tensor_rgb(image)?, vec![label.clone()])))
        .collect::<Result<Vec<_>>>()?;
    image_grid(path, &cells, cols)
}

/// fastai's `interp.plot_top_losses(k)`: the `k` validation images of `data` with the largest
/// losses in `interp`, captioned `predicted/actual` and `loss / probability of the actual
/// class`, `cols` to a row, as a PNG at `path`. With `heatmap`, each image is overlaid with
/// the Grad-CAM of its actual class under `learn`'s model (its first layer is the body).
/// `interp` must come from `data`'s validation set: an image whose label is not the one
/// `interp` recorded for its index is an error rather than a mislabelled picture.
pub fn plot_top_losses(
    interp: &ClassificationInterpretation,
    learn: &Learner<Sequential>,
    data: &ImageData,
    k: usize,
    cols: usize,
    heatmap: bool,
    path: impl AsRef<Path>,
) -> Result<()> {
    let name = |c: usize| interp.classes[c].as_str();
    let mut cells = Vec::new();
    for top in interp.top_losses(k) {
        let (image, label) = data.valid_image(top.index)?;
        if label != top.actual {
            return Err(Error::Invalid(format!(
                "validation image {} is a {}, the interpretation has a {} there: it was made on other data",
                top.index,
                name(label),
                name(top.actual)
            )));
        }
        let shown = if heatmap {
            let s = image.shape().to_vec();
            let x = Tensor::from_vec(normalize(&image, data.stats())?, &[1, s[0], s[1], s[2]])?
                .to_device(learn.device())?;
            let (_, cam) = grad_cam_of(learn.model(), &x, top.actual)?;
            overlay(&image, &cam, 0.6)?
        } else {
            image
        };
        let caption = vec![
            format!("{}/{}", name(top.predicted), name(top.actual)),
            format!("{:.2} / {:.2}", top.loss, top.prob_actual),
        ];
        cells.push((tensor_rgb(&shown)?, caption));
    }
    image_grid(path, &cells, cols)
}
