//! Image augmentation against PyTorch (`tests/reference/make_vision_goldens.py`):
//! `grid_sample` with align-corners semantics in the three padding modes, and one whole
//! augmentation (warp, rotation, zoom, lighting, flip, crop) with fixed parameters, written
//! independently with torch ops. Tolerance 1e-5 absolute on values in [0, 1]. Then the
//! random draws, image decoding with its bad inputs, and batches. (The labelled folder and
//! the embedded shapes are in `datasets/tests/images.rs`.)
#[path = "../../tests/reference/support.rs"]
mod support;

#[path = "shared/images.rs"]
#[allow(dead_code)] // each test file uses part of it
mod images;

use images::labelled;
use nn::vision::{grid_sample, load_image, save_png, Augment, Padding, Transforms, FLIP_LR};
use support::{assert_each_close, load_tensors};
use tensor::random::Philox;
use tensor::Tensor;

const MODES: [(&str, Padding); 3] = [
    ("zeros", Padding::Zeros),
    ("border", Padding::Border),
    ("reflection", Padding::Reflection),
];

#[test]
fn grid_sample_matches_pytorch() {
    let g = load_tensors("vision");
    for (name, mode) in MODES {
        let got = grid_sample(&g["img"], &g["grid"], mode).unwrap();
        assert_each_close(
            &format!("grid_sample {name}"),
            &got,
            &g[&format!("grid_{name}")],
            0.0,
            1e-5,
        );
    }
}

#[test]
fn one_augmentation_matches_pytorch() {
    let g = load_tensors("vision");
    let a = Augment {
        warp: Some([0.1, -0.2, 0.3, 0.05]),
        dihedral: FLIP_LR,
        rotate: Some(15.0),
        zoom: Some((1.2, 0.3, 0.7)),
        brightness: Some(0.6),
        contrast: Some(1.3),
        crop: (0.25, 0.8),
    };
    for (name, mode) in MODES {
        let got = a.apply(&g["img"], 8, mode).unwrap();
        assert_each_close(
            &format!("augment {name}"),
            &got,
            &g[&format!("aug_{name}")],
            0.0,
            1e-5,
        );
    }
}

#[test]
fn draws_follow_the_lessons_ranges_and_the_stream() {
    let t = Transforms::lesson6();
    let mut flips = 0;
    for i in 0..400 {
        let a = t.draw(Philox::new(3, i));
        assert_eq!(
            a,
            t.draw(Philox::new(3, i)),
            "a pure function of the stream"
        );
        let m = a.warp.expect("p_affine = 1");
        assert!(m.iter().all(|v| v.abs() <= 0.4));
        assert!(a.rotate.unwrap().abs() <= 20.0);
        let (s, r, c) = a.zoom.unwrap();
        assert!((1.0..=1.3).contains(&s) && (0.0..1.0).contains(&r) && (0.0..1.0).contains(&c));
        assert!((0.3..=0.7).contains(&a.brightness.unwrap()));
        assert!((0.6..=1.0 / 0.6).contains(&a.contrast.unwrap()));
        flips += (a.dihedral == FLIP_LR) as usize;
    }
    assert!(
        (150..250).contains(&flips),
        "{flips} flips in 400 draws at p = 0.5"
    );
    let plain = Transforms::none().draw(Philox::new(3, 0));
    assert!(
        plain.warp.is_none()
            && plain.rotate.is_none()
            && plain.brightness.is_none()
            && plain.dihedral == 0
    );
}

#[test]
fn the_centre_crop_of_an_unaugmented_image_is_the_image() {
    // An 8 x 8 image at size 8: the identity map samples every pixel exactly; a wider one is
    // cropped in its middle; a small one (4 x 4) is upsampled, never an error.
    let img = Philox::new(1, 0).uniform(&[3, 8, 8], 0.0, 1.0).unwrap();
    let same = Augment::centre()
        .apply(&img, 8, Padding::Reflection)
        .unwrap();
    assert_each_close("identity", &same, &img, 0.0, 1e-6);
    let wide = Philox::new(2, 0).uniform(&[3, 8, 12], 0.0, 1.0).unwrap();
    let mid = Augment::centre().apply(&wide, 8, Padding::Zeros).unwrap();
    assert_each_close(
        "centre",
        &mid,
        &wide.narrow(2, 2, 8).unwrap().contiguous().unwrap(),
        0.0,
        1e-6,
    );
    let small = Augment::centre()
        .apply(
            &img.narrow(1, 0, 4).unwrap().narrow(2, 0, 4).unwrap(),
            8,
            Padding::Reflection,
        )
        .unwrap();
    assert_eq!(small.shape(), [3, 8, 8]);
    assert!(Augment::centre()
        .apply(&Tensor::zeros(&[3, 0, 4]), 8, Padding::Zeros)
        .is_err());
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("lesson6-vision-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_png_saved_loads_back_within_rounding() {
    let img = Philox::new(1, 0).uniform(&[3, 6, 5], 0.0, 1.0).unwrap();
    let path = tmp("png").join("noise.png");
    save_png(&img, &path).unwrap();
    let loaded = load_image(&path).unwrap();
    assert_each_close("png round trip", &loaded, &img, 0.0, 0.5 / 255.0 + 1e-6);
}

#[test]
fn corrupt_and_truncated_images_are_errors_naming_the_file() {
    let dir = tmp("bad");
    let img = Philox::new(1, 0).uniform(&[3, 16, 16], 0.0, 1.0).unwrap();
    save_png(&img, dir.join("good.png")).unwrap();
    let bytes = std::fs::read(dir.join("good.png")).unwrap();
    std::fs::write(dir.join("cut.png"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(dir.join("junk.jpg"), b"\xff\xd8\xff\xe0 this is no jpeg").unwrap();
    for name in ["cut.png", "junk.jpg", "missing.jpg"] {
        let err = load_image(dir.join(name)).unwrap_err().to_string();
        assert!(err.contains(name), "{err}");
    }
}

#[test]
fn batches_are_normalised_reproducible_and_skip_unreadable_images() {
    use nn::learner::DataBunch;
    use nn::vision::{ImageData, IMAGENET_STATS};
    let dir = tmp("loader");
    let names = [
        "cat_1.jpg",
        "cat_2.jpg",
        "cat_3.jpg",
        "cat_9.jpg",
        "dog_1.jpg",
        "dog_2.jpg",
        "dog_3.jpg",
        "dog_4.jpg",
        "dog_5.jpg",
    ];
    for (k, n) in names.iter().enumerate() {
        let img = Philox::new(k as u64, 0)
            .uniform(&[3, 12 + k, 10], 0.0, 1.0)
            .unwrap();
        save_png(&img, dir.join(n)).unwrap();
    }
    std::fs::write(dir.join("cat_9.jpg"), b"truncated").unwrap();
    // The truncated cat_9.jpg held out for validation, behind a readable image.
    let images = labelled(&dir, &names, &[0, 3]);
    let data = ImageData::new(&images, Transforms::lesson6(), 8, Padding::Reflection, 3, 5);
    assert_eq!(
        data.train_batches(),
        2,
        "7 images in batches of 3, the last partial one dropped"
    );
    let epoch = |e| -> Vec<(Vec<f32>, Vec<i64>)> {
        data.train(e)
            .map(|b| {
                let b = b.unwrap();
                assert_eq!(&b.inputs[0].shape()[1..], [3, 8, 8]);
                (
                    b.inputs[0].to_vec::<f32>().unwrap(),
                    b.target.to_vec::<i64>().unwrap(),
                )
            })
            .collect()
    };
    let (a, b) = (epoch(0), epoch(0));
    assert_eq!(a, b, "the same epoch twice: the same batches");
    assert_ne!(
        a,
        epoch(1),
        "another epoch: another order and other transforms"
    );
    let images: usize = a.iter().map(|(_, l)| l.len()).sum();
    assert_eq!(images, 6, "two batches of 3 readable images");
    // Validation: centre crops, normalised with ImageNet's statistics.
    let (img, _) = data.valid_image(0).unwrap();
    let v: Vec<_> = data.valid().map(|b| b.unwrap()).collect();
    let first = v[0].inputs[0]
        .narrow(0, 0, 1)
        .unwrap()
        .reshape(&[3, 8, 8])
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let raw = img.to_vec::<f32>().unwrap();
    for (i, (&x, &n)) in raw.iter().zip(&first).enumerate() {
        let c = i / 64;
        assert!((n - (x - IMAGENET_STATS.0[c]) / IMAGENET_STATS.1[c]).abs() < 1e-5);
    }
    // The truncated cat_9.jpg: left out, counted, never a crash.
    assert!(data.skipped() >= 1);
    // A resized copy (the lesson's second size) counts into the same total.
    let bigger = data.resized(10, 3);
    let before = data.skipped();
    let _: Vec<_> = bigger.valid().collect();
    let _: Vec<_> = bigger.train(0).collect();
    assert!(data.skipped() > before && bigger.skipped() == data.skipped());
}

/// A batch's own statistics normalise it to mean 0 and standard deviation 1 per channel
/// (within f32 rounding), and `denormalize` undoes `normalize_batch`.
#[test]
fn batch_stats_normalise_a_batch_and_denormalize_undoes_it() {
    use nn::vision::{batch_stats, denormalize, normalize_batch};
    let x = Philox::new(3, 0)
        .uniform(&[4, 3, 5, 6], 0.0, 1.0)
        .unwrap()
        .affine(2.0, 1.0)
        .unwrap();
    let stats = batch_stats(&x).unwrap();
    let y = normalize_batch(&x, stats).unwrap();
    let (mean, std) = batch_stats(&y).unwrap();
    for c in 0..3 {
        assert!(
            mean[c].abs() < 1e-5 && (std[c] - 1.0).abs() < 1e-5,
            "{mean:?} {std:?}"
        );
        // Each channel really has its own statistics: x's channel c has mean about 2.
        assert!((stats.0[c] - 2.0).abs() < 0.3, "{:?}", stats.0);
    }
    let back = denormalize(&y, stats).unwrap().to_vec::<f32>().unwrap();
    for (a, b) in back.iter().zip(x.to_vec::<f32>().unwrap()) {
        assert!((a - b).abs() < 1e-5);
    }
    assert!(batch_stats(&Tensor::zeros(&[2, 4, 3, 3])).is_err());
}
