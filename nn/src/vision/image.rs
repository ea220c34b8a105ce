//! Images in and out: decoding with the `image` crate (JPEG and PNG; grayscale, CMYK and
//! alpha converted to RGB, as PIL's `convert('RGB')` in fastai's `open_image`) into a CHW f32
//! tensor in [0, 1], the layout the convolutions take; and writing a CHW tensor as PNG.
//!
//! Reading is bounded before anything is allocated: a file must be a regular file of at most
//! [`MAX_IMAGE_BYTES`], and an image at most [`MAX_IMAGE_PIXELS`] by its header. A file cut
//! short is an error, not an image with a grey lower half: the JPEG decoder fills missing data
//! silently, so the bytes must reach the marker that ends their format first.
use crate::{Error, Result};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};
use std::io::{Cursor, Read};
use std::path::Path;
use tensor::Tensor;

/// The largest image file read: 128 MiB (a PNG of [`MAX_IMAGE_PIXELS`] photo pixels fits).
pub const MAX_IMAGE_BYTES: u64 = 128 << 20;

/// The most pixels an image may have: 40 megapixels (a 7300 x 5500 photo). Decoding one takes
/// from 15 to 23 bytes a pixel at most together (the decoder's 3 to 8, the RGB copy's 3, the
/// f32 tensor's 12), so 0.6 to 0.9 GB at the limit.
pub const MAX_IMAGE_PIXELS: u64 = 40_000_000;

/// Decodes `path` into `[3, H, W]` f32 in [0, 1]. A missing, special (a device, a pipe, a
/// folder), oversized, truncated or corrupt file, or a format it cannot read, is an error
/// naming the file.
pub fn load_image(path: impl AsRef<Path>) -> Result<Tensor> {
    let path = path.as_ref();
    let bytes = read_bounded(path)?;
    decode_image(&bytes, &path.display().to_string())
}

/// The bytes of `path`, a regular file of at most [`MAX_IMAGE_BYTES`]
/// ([`crate::user_file::open`]).
fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let (file, len) =
        crate::user_file::open(path, MAX_IMAGE_BYTES).map_err(|source| Error::File {
            path: path.to_path_buf(),
            source,
            read_as: None,
        })?;
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(len)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    Ok(bytes)
}

/// Decodes the bytes of a JPEG or PNG file (`name` labels the errors) into `[3, H, W]` f32 in
/// [0, 1]. An unknown format, a file cut short, an image of more than [`MAX_IMAGE_PIXELS`]
/// (checked from the header, before the pixels are allocated) or corrupt data is an error
/// naming the file and the format it was read as.
pub fn decode_image(bytes: &[u8], name: &str) -> Result<Tensor> {
    // An error about this image, read as `format` once that is known.
    let fail = |format: Option<&'static str>, msg: String| Error::Image {
        name: name.to_string(),
        format,
        msg,
    };
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| fail(None, e.to_string()))?;
    let format = match reader.format() {
        Some(f @ (ImageFormat::Jpeg | ImageFormat::Png)) => f,
        _ => return Err(fail(None, "neither a JPEG nor a PNG image".into())),
    };
    let (kind, end) = match format {
        ImageFormat::Png => ("PNG", "IEND chunk"),
        _ => ("JPEG", "end-of-image marker"),
    };
    if !reaches_its_end(bytes, format) {
        let msg = format!(
            "cut short (or corrupt): its {} bytes end before the {end} that closes the image",
            bytes.len()
        );
        return Err(fail(Some(kind), msg));
    }
    let unreadable = |e: image::ImageError| fail(Some(kind), format!("not a readable image: {e}"));
    let decoder = reader.into_decoder().map_err(unreadable)?;
    let (w, h) = decoder.dimensions();
    let pixels = w as u64 * h as u64;
    if pixels > MAX_IMAGE_PIXELS {
        let msg = format!(
            "{w} x {h} = {pixels} pixels, more than the {MAX_IMAGE_PIXELS} an image may have"
        );
        return Err(fail(Some(kind), msg));
    }
    let img = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    Ok(rgb_tensor(&img.to_rgb8()))
}

/// Whether `bytes`, read as `format`, reach the marker that ends it (bytes after the end are
/// allowed: some cameras append data there).
fn reaches_its_end(bytes: &[u8], format: ImageFormat) -> bool {
    match format {
        ImageFormat::Png => png_reaches_iend(bytes),
        _ => jpeg_reaches_eoi(bytes),
    }
}

/// Walks a PNG's chunks by their lengths, from after its 8-byte signature, to the IEND chunk.
fn png_reaches_iend(bytes: &[u8]) -> bool {
    let mut at = 8;
    while at < bytes.len() {
        // A chunk: its length (4 bytes), its type (4), its data, a CRC (4).
        let Some(head) = bytes.get(at..at + 8) else {
            return false;
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let end = at.saturating_add(12).saturating_add(len);
        if &head[4..] == b"IEND" {
            return end <= bytes.len();
        }
        at = end;
    }
    false
}

/// Walks a JPEG, from after its start-of-image marker, to its end-of-image marker: segments
/// are skipped by their lengths (so the marker ending a thumbnail inside one does not count),
/// and in entropy-coded data 0xFF is followed only by a stuffed 0 or a restart marker.
fn jpeg_reaches_eoi(bytes: &[u8]) -> bool {
    let mut at = 2;
    while at + 1 < bytes.len() {
        match (bytes[at], bytes[at + 1]) {
            (0xFF, 0xD9) => return true,
            // A stand-alone marker (start of image, TEM).
            (0xFF, 0xD8 | 0x01) => at += 2,
            // A marker with a segment, whose 2-byte length counts itself.
            (0xFF, code) if !matches!(code, 0x00 | 0xD0..=0xD7 | 0xFF) => {
                let Some(len) = bytes.get(at + 2..at + 4) else {
                    return false;
                };
                at += 2 + u16::from_be_bytes([len[0], len[1]]) as usize;
            }
            // Entropy-coded data, a stuffed byte, a restart marker or a fill byte.
            _ => at += 1,
        }
    }
    false
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
pub fn tensor_rgb(t: &Tensor) -> Result<RgbImage> {
    let s = t.shape();
    if s.len() != 3 || (s[0] != 3 && s[0] != 1) {
        return Err(Error::Invalid(format!(
            "an image tensor is [3, H, W] or [1, H, W], not {s:?}"
        )));
    }
    let (c, h, w) = (s[0], s[1], s[2]);
    let v = t.to_vec::<f32>()?;
    let byte = |x: f32| (x.clamp(0.0, 1.0) * 255.0).round() as u8;
    Ok(RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let i = y as usize * w + x as usize;
        image::Rgb(std::array::from_fn(|k| byte(v[(k % c) * h * w + i])))
    }))
}

/// Writes a `[3, H, W]` tensor in [0, 1] as a PNG, atomically.
pub fn save_png(t: &Tensor, path: impl AsRef<Path>) -> Result<()> {
    save(t, path.as_ref(), image::ImageFormat::Png)
}

/// Writes a `[3, H, W]` tensor in [0, 1] as a JPEG (quality 75), atomically.
pub fn save_jpeg(t: &Tensor, path: impl AsRef<Path>) -> Result<()> {
    save(t, path.as_ref(), image::ImageFormat::Jpeg)
}

/// Encodes `t` as `format` in memory, then writes it to `path` atomically.
fn save(t: &Tensor, path: &Path, format: image::ImageFormat) -> Result<()> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(tensor_rgb(t)?)
        .write_to(&mut bytes, format)
        .map_err(|e| Error::Image {
            name: path.display().to_string(),
            format: None,
            msg: e.to_string(),
        })?;
    crate::atomic::write_atomic(path, bytes.get_ref()).map_err(|e| Error::io(path, e))
}
