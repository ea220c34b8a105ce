//! Test-time augmentation as fastai v1's `learn.TTA()`: the blend against its formula on
//! fixed probabilities; the 8 passes' transforms (corners, zoom 1.35, the flip on passes 4
//! to 7, the training's random transforms without their flip and zoom); and `tta` end to end
//! on a linear model, against the model run by hand on each image under each pass.
#[path = "shared/images.rs"]
#[allow(dead_code)] // each test file uses part of it
mod images;

use images::noise_folder;
use nn::layers::{Flatten, Linear, Sequential};
use nn::learner::Learner;
use nn::loss::cross_entropy;
use nn::vision::{
    load_image, tta, tta_augment, tta_blend, Augment, ImageData, LabelledImages, Padding,
    Transforms, FLIP_LR, IMAGENET_STATS, TTA_PASSES,
};
use nn::Vars;
use tensor::Tensor;

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("lesson6-tta-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn the_blend_is_beta_plain_plus_one_minus_beta_the_mean_of_the_passes() {
    let plain = Tensor::from_vec(vec![0.2f32, 0.8, 0.6, 0.4], &[2, 2]).unwrap();
    // Pass k: [[k/10, 1 - k/10], [1 - k/20, k/20]].
    let passes: Vec<Tensor> = (0..8)
        .map(|k| {
            let (a, b) = (k as f32 / 10.0, k as f32 / 20.0);
            Tensor::from_vec(vec![a, 1.0 - a, 1.0 - b, b], &[2, 2]).unwrap()
        })
        .collect();
    let got = tta_blend(&plain, &passes, 0.4)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    // Means of the passes: 0.35, 0.65, 0.825, 0.175.
    let want = [
        0.4 * 0.2 + 0.6 * 0.35,
        0.4 * 0.8 + 0.6 * 0.65,
        0.4 * 0.6 + 0.6 * 0.825,
        0.4 * 0.4 + 0.6 * 0.175,
    ];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
    }
}

/// Images labelled from file names, without files (the transforms do not read them).
fn unread(n: usize) -> LabelledImages {
    LabelledImages {
        items: (0..n)
            .map(|i| (format!("x_{i}.png").into(), i % 2))
            .collect(),
        classes: vec!["a".into(), "b".into()],
        train: (0..n / 2).collect(),
        valid: (n / 2..n).collect(),
    }
}

#[test]
fn each_pass_zooms_and_crops_at_its_corner_and_the_last_four_flip() {
    let data = ImageData::new(&unread(8), Transforms::lesson6(), 8, Padding::Zeros, 2, 5);
    let t = Transforms::lesson6();
    for pass in 0..TTA_PASSES {
        let (row, col) = ((pass & 1) as f64, ((pass & 2) / 2) as f64);
        for item in 0..4 {
            let a = tta_augment(&data, pass, item, 1.35);
            assert_eq!(a.zoom, Some((1.35, row, col)), "pass {pass}");
            assert_eq!(a.crop, (row, col), "pass {pass}");
            let flip = if pass >= 4 { FLIP_LR } else { 0 };
            assert_eq!(a.dihedral, flip, "pass {pass}");
            // The training's random transforms, within their ranges (all drawn at p = 1).
            let rotate = a.rotate.expect("a rotation");
            assert!(rotate.abs() <= t.max_rotate, "{a:?}");
            assert!(a
                .warp
                .expect("a warp")
                .iter()
                .all(|w| w.abs() <= t.max_warp));
            assert!(a.brightness.is_some() && a.contrast.is_some(), "{a:?}");
            assert_eq!(a, tta_augment(&data, pass, item, 1.35), "reproducible");
        }
        // Each image draws its own.
        assert_ne!(
            tta_augment(&data, pass, 0, 1.35).rotate,
            tta_augment(&data, pass, 1, 1.35).rotate
        );
    }
    // Without training transforms a pass is its zoom, crop and flip only.
    let plain = ImageData::new(&unread(8), Transforms::none(), 8, Padding::Zeros, 2, 5);
    assert_eq!(
        tta_augment(&plain, 5, 2, 1.35),
        Augment {
            zoom: Some((1.35, 1.0, 0.0)),
            crop: (1.0, 0.0),
            dihedral: FLIP_LR,
            ..Augment::centre()
        }
    );
}

/// `img` normalised with ImageNet's statistics, as the loader does.
fn normalised(img: &Tensor) -> Vec<f32> {
    let (mean, std) = IMAGENET_STATS;
    let v = img.to_vec::<f32>().unwrap();
    let plane = v.len() / 3;
    (v.iter().enumerate())
        .map(|(k, &x)| (x - mean[k / plane]) / std[k / plane])
        .collect()
}

#[test]
fn tta_equals_the_blend_of_the_model_run_by_hand_on_every_pass() {
    let dir = tmp("end-to-end");
    let names = [
        "a_1.png", "a_2.png", "a_3.png", "a_4.png", "b_1.png", "b_2.png", "b_3.png",
    ];
    let images = noise_folder(&dir, &names, &[1, 3, 4, 6], (10, 13));
    let size = 8;
    // Batches of 3: the 4 validation images come in two batches.
    let data = ImageData::new(
        &images,
        Transforms::lesson6(),
        size,
        Padding::Reflection,
        3,
        7,
    );
    let vars = Vars::new(3);
    let model = Sequential::new()
        .push(Flatten)
        .push(Linear::new(vars.root().pp(1), 3 * size * size, 2, true).unwrap());
    let learn = Learner::builder(model, vars, data.resized(size, 3), cross_entropy)
        .verbose(false)
        .build()
        .unwrap();
    let (got, targets) = tta(&learn, &data, 0.4, 1.35).unwrap();

    // By hand: each validation image under a transform, normalised, through the model.
    let probs = |augment: &dyn Fn(usize) -> Augment| -> Vec<f32> {
        let x: Vec<f32> = (images.valid.iter().enumerate())
            .flat_map(|(i, &r)| {
                let img = load_image(&images.items[r].0).unwrap();
                normalised(&augment(i).apply(&img, size, Padding::Reflection).unwrap())
            })
            .collect();
        let x = Tensor::from_vec(x, &[4, 3, size, size]).unwrap();
        let out = learn.predict(&[x], 100).unwrap().softmax(1).unwrap();
        out.to_vec::<f32>().unwrap()
    };
    let plain = probs(&|_| Augment::centre());
    let passes: Vec<Vec<f32>> = (0..TTA_PASSES)
        .map(|pass| probs(&|i| tta_augment(&data, pass, i, 1.35)))
        .collect();
    let got = got.to_vec::<f32>().unwrap();
    assert_eq!(got.len(), 8);
    let mut moved = 0f32;
    for k in 0..8 {
        let mean = passes.iter().map(|p| p[k]).sum::<f32>() / 8.0;
        let want = 0.4 * plain[k] + 0.6 * mean;
        assert!((got[k] - want).abs() < 1e-5, "{k}: {} vs {want}", got[k]);
        moved = moved.max((mean - plain[k]).abs());
    }
    assert!(moved > 1e-4, "the passes changed nothing: {moved}");
    let labels: Vec<i64> = (images.valid.iter())
        .map(|&r| images.items[r].1 as i64)
        .collect();
    assert_eq!(targets.to_vec::<i64>().unwrap(), labels);
}
