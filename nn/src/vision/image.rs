//! Images in and out: decoding with the `image` crate (JPEG and PNG; grayscale, CMYK and
//! alpha converted to RGB, as PIL's `convert('RGB')` in fastai's `open_image`) into a CHW f32
//! tensor in [0, 1], the layout the convolutions take; and writing a CHW tensor as PNG.
use image::{DynamicImage, ImageReader, RgbImage};
use std::path::Path;
use tensor::Tensor;

/// Decodes `path` into `[3, H, W]` f32 in [0, 1]. A missing, truncated or corrupt file, or
/// a format it cannot read, is an error naming the file.
pub fn load_image(path: impl AsRef<Path>) -> Result<Tensor, String> {
    let path = path.as_ref();
    let img = ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| format!("{}: {e}", path.display()))?
        .decode()
        .map_err(|e| format!("{}: not a readable image: {e}", path.display()))?;
    Ok(rgb_tensor(&img.to_rgb8()))
}

/// An RGB image as `[3, H, W]` f32 in [0, 1].
pub fn rgb_tensor(img: &RgbImage) -> Tensor {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut data = vec![0f32; 3 * h * w];
    for (i, px) in img.pixels().enumerate() {
        for c in 0..3 {
            data[c * h * w + i] = px[c] as f32 / 255.0;
        }
    }
    Tensor::from_vec(data, &[3, h, w]).expect("3 x h x w values")
}

/// `[3, H, W]` (or `[1, H, W]`, repeated to grey) values in [0, 1] as an 8-bit RGB image,
/// clamped and rounded.
pub fn tensor_rgb(t: &Tensor) -> Result<RgbImage, String> {
    let s = t.shape();
    if s.len() != 3 || (s[0] != 3 && s[0] != 1) {
        return Err(format!(
            "an image tensor is [3, H, W] or [1, H, W], not {s:?}"
        ));
    }
    let (c, h, w) = (s[0], s[1], s[2]);
    let v = t.to_vec::<f32>().map_err(|e| e.to_string())?;
    let byte = |x: f32| (x.clamp(0.0, 1.0) * 255.0).round() as u8;
    Ok(RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let i = y as usize * w + x as usize;
        image::Rgb(std::array::from_fn(|k| byte(v[(k % c) * h * w + i])))
    }))
}

/// Writes a `[3, H, W]` tensor in [0, 1] as a PNG, atomically.
pub fn save_png(t: &Tensor, path: impl AsRef<Path>) -> Result<(), String> {
    save(t, path.as_ref(), image::ImageFormat::Png)
}

/// Writes a `[3, H, W]` tensor in [0, 1] as a JPEG (quality 75), atomically.
pub fn save_jpeg(t: &Tensor, path: impl AsRef<Path>) -> Result<(), String> {
    save(t, path.as_ref(), image::ImageFormat::Jpeg)
}

fn save(t: &Tensor, path: &Path, format: image::ImageFormat) -> Result<(), String> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(tensor_rgb(t)?)
        .write_to(&mut bytes, format)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    crate::atomic::write_atomic(path, bytes.get_ref())
        .map_err(|e| format!("{}: {e}", path.display()))
}
