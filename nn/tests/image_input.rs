//! Bad image input (issue 22, items 2 and 4): each case a hostile-input review found, as a
//! user would meet it. A file cut short, an image over the pixel limit, a device or an
//! oversized file, a size beyond the limit, and a batch of which no image can be read: each is
//! a clear error, never a grey image, gigabytes, an abort or an empty batch. (The image
//! folder's cases are in `datasets/tests/images.rs`.)
#[path = "shared/images.rs"]
#[allow(dead_code)] // each test file uses part of it
mod images;

use image::ImageFormat;
use images::{encoded, huge_black_png, labelled};
use nn::learner::DataBunch;
use nn::vision::{
    check_size, decode_image, load_image, Augment, ImageData, Padding, Transforms, MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS, MAX_SIZE,
};
use std::error::Error as _;
use std::path::{Path, PathBuf};
use tensor::Tensor;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lesson6-image-input-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn pixels(t: Tensor) -> Vec<f32> {
    t.to_vec::<f32>().unwrap()
}

/// `bytes` cut at each of `cuts` must be refused as cut short, naming the file and format.
fn assert_cut_short(bytes: &[u8], cuts: &[usize], format: &str) {
    for &cut in cuts {
        let err = decode_image(&bytes[..cut], "cut.img")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cut.img") && err.contains(format) && err.contains("cut short"),
            "cut at {cut} of {}: {err}",
            bytes.len()
        );
    }
}

#[test]
fn a_jpeg_cut_short_is_an_error_not_a_grey_image() {
    let jpeg = encoded(ImageFormat::Jpeg, 1, 48, 64);
    let whole = pixels(decode_image(&jpeg, "whole.jpg").unwrap());
    // All but the end marker, all but its last byte, and half the scan.
    assert_cut_short(
        &jpeg,
        &[jpeg.len() - 2, jpeg.len() - 1, jpeg.len() / 2],
        "JPEG",
    );
    // Bytes after the end (a camera's trailer, even one holding markers) are allowed.
    let mut trailed = jpeg.clone();
    trailed.extend_from_slice(b"trailer \xff\xd8\xff\xe0 \xff\xd9");
    assert_eq!(
        pixels(decode_image(&trailed, "trailed.jpg").unwrap()),
        whole
    );
}

#[test]
fn an_end_marker_inside_a_segment_does_not_end_the_image() {
    // An APP1 segment right after the start marker holding a thumbnail's end marker: a cut
    // file still lacks the image's own.
    let jpeg = encoded(ImageFormat::Jpeg, 2, 32, 32);
    let payload = b"Exif\0\0\xff\xd8 a thumbnail \xff\xd9";
    let mut with_app1 = jpeg[..2].to_vec();
    with_app1.extend_from_slice(&[0xFF, 0xE1, 0, payload.len() as u8 + 2]);
    with_app1.extend_from_slice(payload);
    with_app1.extend_from_slice(&jpeg[2..]);
    assert_eq!(
        pixels(decode_image(&with_app1, "app1.jpg").unwrap()),
        pixels(decode_image(&jpeg, "plain.jpg").unwrap())
    );
    assert_cut_short(&with_app1, &[with_app1.len() / 2], "JPEG");
}

#[test]
fn a_png_cut_short_is_an_error() {
    let png = encoded(ImageFormat::Png, 3, 40, 30);
    let whole = pixels(decode_image(&png, "whole.png").unwrap());
    // All but the 12-byte IEND chunk, all but its last byte, and half the data (the decoder
    // alone says only "unexpected end of file").
    assert_cut_short(&png, &[png.len() - 12, png.len() - 1, png.len() / 2], "PNG");
    let mut trailed = png.clone();
    trailed.extend_from_slice(b"trailing bytes");
    assert_eq!(
        pixels(decode_image(&trailed, "trailed.png").unwrap()),
        whole
    );
}

#[test]
fn an_image_over_the_pixel_limit_is_refused_from_its_header() {
    let dir = tmp("huge");
    let path = dir.join("black.png");
    std::fs::write(&path, huge_black_png()).unwrap();
    let err = load_image(&path).unwrap_err().to_string();
    for part in [
        path.display().to_string(),
        "PNG".into(),
        "12000 x 12000".into(),
        MAX_IMAGE_PIXELS.to_string(),
    ] {
        assert!(err.contains(&part), "{part} in: {err}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn devices_folders_and_oversized_files_are_refused_before_reading() {
    for special in [Path::new("/dev/zero"), Path::new("/")] {
        let err = load_image(special).unwrap_err();
        // The reason is the error's source, the next line of a printed chain.
        let why = err.source().map(|e| e.to_string()).unwrap_or_default();
        assert!(why.starts_with("not a regular file"), "{err}: {why}");
    }
    // A sparse file one byte over the cap: refused from its length, never read.
    let dir = tmp("big");
    let path = dir.join("big.png");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(MAX_IMAGE_BYTES + 1).unwrap();
    let err = load_image(&path).unwrap_err();
    let why = err.source().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.to_string().contains("big.png") && why.contains(&(MAX_IMAGE_BYTES + 1).to_string()),
        "{err}: {why}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn sizes_outside_one_to_max_size_are_refused() {
    assert_eq!(check_size(224).unwrap(), 224);
    assert_eq!(check_size(MAX_SIZE).unwrap(), MAX_SIZE);
    let img = Tensor::zeros(&[3, 8, 8]);
    // `classify --size 100000` asked for a 120 GB tensor and aborted.
    for size in [0, MAX_SIZE + 1, 100_000] {
        assert!(check_size(size).is_err());
        let err = Augment::centre()
            .apply(&img, size, Padding::Zeros)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&size.to_string()) && err.contains(&MAX_SIZE.to_string()),
            "{err}"
        );
    }
}

const TWELVE: [&str; 12] = [
    "cat_1.jpg",
    "cat_2.jpg",
    "cat_3.jpg",
    "cat_4.jpg",
    "cat_5.jpg",
    "cat_6.jpg",
    "dog_1.jpg",
    "dog_2.jpg",
    "dog_3.jpg",
    "dog_4.jpg",
    "dog_5.jpg",
    "dog_6.jpg",
];

#[test]
fn a_batch_of_which_no_image_can_be_read_is_an_error_naming_the_first_reason() {
    let dir = tmp("all-corrupt");
    for n in TWELVE {
        std::fs::write(dir.join(n), b"not an image").unwrap();
    }
    let images = labelled(&dir, &TWELVE, &[0, 6, 11]);
    let data = ImageData::new(&images, Transforms::lesson6(), 8, Padding::Zeros, 3, 0);
    // 9 training images in batches of 3, 3 validation images in one.
    for (batches, count) in [(data.train(0), 3), (data.valid(), 1)] {
        let batches: Vec<_> = batches.collect();
        assert_eq!(batches.len(), count, "every batch reported, none left out");
        for b in batches {
            let err = b.err().unwrap();
            assert!(
                matches!(err, nn::Error::NoImageRead { images: 3, .. }),
                "{err:?}"
            );
            // The first reason is the error's source, the next line of a printed chain.
            let first = err.source().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                err.to_string() == "none of its 3 images could be read"
                    && first.contains("neither a JPEG nor a PNG"),
                "{err}: {first}"
            );
        }
    }
    assert_eq!(data.skipped(), 9 + 3);
}
