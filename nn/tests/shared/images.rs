//! Images for the tests of image input: small noisy pictures as JPEG and PNG bytes (noise, so
//! that every part of the file carries picture data), a valid black PNG too large to decode
//! within the pixel limit, and files labelled for the loader as an image folder would be.
use image::{DynamicImage, GrayImage, ImageFormat};
use nn::vision::{tensor_rgb, LabelledImages};
use std::io::Cursor;
use std::path::Path;
use tensor::random::Philox;

/// An `h` x `w` RGB noise picture drawn from `seed`.
pub fn picture(seed: u64, h: usize, w: usize) -> DynamicImage {
    let t = Philox::new(seed, 0).uniform(&[3, h, w], 0.0, 1.0).unwrap();
    DynamicImage::ImageRgb8(tensor_rgb(&t).unwrap())
}

/// `img` encoded as `format`.
pub fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    img.write_to(&mut bytes, format).unwrap();
    bytes.into_inner()
}

/// The bytes of an `h` x `w` noise picture drawn from `seed`, encoded as `format`.
pub fn encoded(format: ImageFormat, seed: u64, h: usize, w: usize) -> Vec<u8> {
    encode(&picture(seed, h, w), format)
}

/// A valid 12000 x 12000 black grayscale PNG (about 700 KB): 144 million pixels, which would
/// take gigabytes decoded into an f32 tensor.
pub fn huge_black_png() -> Vec<u8> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let img = GrayImage::new(12000, 12000);
    let mut bytes = Vec::new();
    img.write_with_encoder(PngEncoder::new_with_quality(
        &mut bytes,
        CompressionType::Fast,
        FilterType::NoFilter,
    ))
    .unwrap();
    bytes
}

/// The files `names` of `dir`, labelled by the text before their last `_` (`cat_1.jpg`:
/// `cat`), classes sorted, with the files `valid` (indices into `names`) held out for
/// validation: what an image folder gives, without the walk.
pub fn labelled(dir: &Path, names: &[&str], valid: &[usize]) -> LabelledImages {
    let label = |n: &str| n.rsplit_once('_').expect("a name `label_n`").0.to_string();
    let mut classes: Vec<String> = names.iter().map(|n| label(n)).collect();
    classes.sort();
    classes.dedup();
    let items = names
        .iter()
        .map(|n| (dir.join(n), classes.binary_search(&label(n)).unwrap()))
        .collect();
    LabelledImages {
        items,
        classes,
        train: (0..names.len()).filter(|i| !valid.contains(i)).collect(),
        valid: valid.to_vec(),
    }
}

/// Writes an `h` x `w` noise PNG for each of `names` into `dir` (the i-th drawn from seed
/// i) and labels them as [`labelled`] does.
pub fn noise_folder(
    dir: &Path,
    names: &[&str],
    valid: &[usize],
    (h, w): (usize, usize),
) -> LabelledImages {
    for (i, n) in names.iter().enumerate() {
        std::fs::write(dir.join(n), encoded(ImageFormat::Png, i as u64, h, w)).unwrap();
    }
    labelled(dir, names, valid)
}
