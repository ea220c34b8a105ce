//! What a CNN looks at, as the lesson draws it: a heat map of the body's activations (their
//! mean over channels) and Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from
//! Deep Networks via Gradient-based Localization", 2017), both upsampled bilinearly to the
//! image, coloured with matplotlib's magma map and laid over the image at alpha 0.6.
use crate::hooks::hook_output;
use crate::layers::Sequential;
use crate::module::{Mode, Module};
use autograd::Tape;
use tensor::{Result, Tensor};

fn shape_error(op: &'static str, shapes: &[&[usize]], expected: &'static str) -> tensor::Error {
    tensor::Error::Shape {
        op,
        shapes: shapes.iter().map(|s| s.to_vec()).collect(),
        expected,
    }
}

/// The activations' mean over channels: `[C, h, w]` -> `[h, w]` (the lesson's
/// `acts.mean(0)`): bright where many features fire.
pub fn activation_map(acts: &Tensor) -> Result<Tensor> {
    acts.mean(&[0], false)
}

/// Grad-CAM as the lesson's notebook computes it, from the activations `[C, h, w]` and the
/// gradient of one class score with respect to them: each channel's weight is its gradient's
/// spatial mean (`grad.mean(1).mean(1)`), and the map is the weighted activations' mean over
/// channels (`(acts * w[:, None, None]).mean(0)`). Returns (weights `[C]`, map `[h, w]`).
pub fn grad_cam(acts: &Tensor, grad: &Tensor) -> Result<(Tensor, Tensor)> {
    if acts.rank() != 3 || grad.shape() != acts.shape() {
        return Err(shape_error(
            "grad_cam",
            &[acts.shape(), grad.shape()],
            "activations [C, h, w] and their gradient of the same shape",
        ));
    }
    let weights = grad.mean(&[1, 2], false)?;
    let c = weights.elem_count();
    let map = acts.mul(&weights.reshape(&[c, 1, 1])?)?.mean(&[0], false)?;
    Ok((weights, map))
}

/// Grad-CAM of class `k` for one normalised image `x` (`[1, 3, H, W]`) under `model`, a CNN
/// whose first layer is its body (fastai's `m[0]`): a forward in eval mode with the body's
/// output hooked (its gradient kept), the class score's backward, then [`grad_cam`] of the
/// body's activations. Returns (channel weights `[C]`, map `[h, w]`).
pub fn grad_cam_of(model: &Sequential, x: &Tensor, k: usize) -> crate::Result<(Tensor, Tensor)> {
    let body = model
        .layers
        .first()
        .ok_or_else(|| crate::Error::Invalid("Grad-CAM needs a model with a body".into()))?;
    let hook = hook_output(body.as_ref(), true);
    let out = model.forward(Tape::new().input(x.clone()), Mode::Eval)?;
    let no_body = || crate::Error::Invalid("the body's activations did not reach the hook".into());
    let acts = hook.stored().ok_or_else(no_body)?;
    let grads = out.narrow(1, k, 1)?.sum_all()?.backward()?;
    let grad = hook.grad(&grads).ok_or_else(no_body)?.squeeze(0)?;
    Ok(grad_cam(&acts.tensor().squeeze(0)?, &grad)?)
}

/// matplotlib's magma colour map at nine evenly spaced points (its table at 0, 1/8, ... 1),
/// interpolated linearly between them: black, through purple and red, to pale yellow.
const MAGMA: [[f32; 3]; 9] = [
    [0.001, 0.000, 0.014],
    [0.079, 0.054, 0.212],
    [0.232, 0.060, 0.438],
    [0.390, 0.100, 0.502],
    [0.550, 0.161, 0.506],
    [0.716, 0.215, 0.475],
    [0.869, 0.288, 0.409],
    [0.968, 0.440, 0.360],
    [0.987, 0.991, 0.750],
];

/// The magma colour of `v` in [0, 1] (clamped).
pub fn magma(v: f32) -> [f32; 3] {
    let t = v.clamp(0.0, 1.0) * 8.0;
    let i = (t.floor() as usize).min(7);
    let f = t - i as f32;
    std::array::from_fn(|c| MAGMA[i][c] * (1.0 - f) + MAGMA[i + 1][c] * f)
}

/// `map` (`[h, w]`) resized to `[out_h, out_w]` by bilinear interpolation, pixel centres
/// aligned (PyTorch's `align_corners=False`, and what matplotlib's `extent` + `bilinear`
/// shows): each output pixel reads the map at its centre's position, clamped at the edges.
pub fn upsample_bilinear(map: &Tensor, out_h: usize, out_w: usize) -> Result<Tensor> {
    let (h, w) = match *map.shape() {
        [h, w] if h > 0 && w > 0 => (h, w),
        _ => {
            return Err(shape_error(
                "upsample_bilinear",
                &[map.shape()],
                "a map [h, w] with h, w > 0",
            ))
        }
    };
    // Read on the host, wherever the map was computed: pictures are drawn there.
    let v = map.to_vec::<f32>()?;
    let at = |o: usize, n_out: usize, n: usize| {
        let s = ((o as f32 + 0.5) * n as f32 / n_out as f32 - 0.5).clamp(0.0, (n - 1) as f32);
        let i = (s.floor() as usize).min(n.saturating_sub(2));
        (i, (i + 1).min(n - 1), s - i as f32)
    };
    let mut out = Vec::with_capacity(out_h * out_w);
    for y in 0..out_h {
        let (y0, y1, fy) = at(y, out_h, h);
        for x in 0..out_w {
            let (x0, x1, fx) = at(x, out_w, w);
            let top = v[y0 * w + x0] * (1.0 - fx) + v[y0 * w + x1] * fx;
            let bottom = v[y1 * w + x0] * (1.0 - fx) + v[y1 * w + x1] * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    Tensor::from_vec(out, &[out_h, out_w])
}

/// The heat map `map` (`[h, w]`, any range: scaled to [0, 1] by its minimum and maximum) as
/// magma colours over `image` (`[3, H, W]` in [0, 1]) at opacity `alpha` (the lesson's 0.6):
/// `[3, H, W]` in [0, 1].
pub fn overlay(image: &Tensor, map: &Tensor, alpha: f32) -> Result<Tensor> {
    let (ih, iw) = match *image.shape() {
        [3, h, w] => (h, w),
        _ => {
            return Err(shape_error(
                "overlay",
                &[image.shape()],
                "an image [3, H, W]",
            ))
        }
    };
    let up = upsample_bilinear(map, ih, iw)?.to_vec::<f32>()?;
    let (lo, hi) = up
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let range = (hi - lo).max(1e-12);
    let img = image.to_vec::<f32>()?;
    let mut out = vec![0f32; 3 * ih * iw];
    for (p, &v) in up.iter().enumerate() {
        for (c, colour) in magma((v - lo) / range).into_iter().enumerate() {
            let i = c * ih * iw + p;
            out[i] = (1.0 - alpha) * img[i] + alpha * colour;
        }
    }
    Tensor::from_vec(out, &[3, ih, iw])
}
