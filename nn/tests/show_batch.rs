//! fastai's `data.show_batch()`: for images, the first training batch brought back from
//! ImageNet normalisation equals each image under its drawn transform before normalisation;
//! for tables, the first rows after the procs as text, computed by hand on a tiny table. The
//! pictures of a batch and of the worst mistakes are captioned grids of those images.
#[path = "shared/images.rs"]
#[allow(dead_code)] // each test file uses part of it
mod images;

use images::noise_folder;
use nn::interpret::ClassificationInterpretation;
use nn::layers::{AdaptiveAvgPool2d, Conv2d, Flatten, Linear, ReLU, Sequential};
use nn::learner::Learner;
use nn::loss::cross_entropy;
use nn::plot::grid_size;
use nn::tabular::{Column, Procs, Table};
use nn::vision::{
    denormalize, load_image, plot_batch, plot_top_losses, tensor_rgb, ImageData, LabelledImages,
    Padding, Transforms, IMAGENET_STATS,
};
use nn::Vars;
use std::path::{Path, PathBuf};
use tensor::{Conv2dParams, Tensor};

/// A fresh scratch folder for test `name`.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lesson6-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Six 12 x 9 noise images of classes a and b in `dir`, two of them for validation, in
/// batches of 4 at 8 x 8 under the lesson's transforms.
fn six_images(dir: &Path) -> (LabelledImages, ImageData) {
    let names = [
        "a_1.png", "a_2.png", "a_3.png", "b_1.png", "b_2.png", "b_3.png",
    ];
    let images = noise_folder(dir, &names, &[2, 5], (12, 9));
    let data = ImageData::new(&images, Transforms::lesson6(), 8, Padding::Reflection, 4, 1);
    (images, data)
}

/// The width and height of the PNG at `path`.
fn png_size(path: &Path) -> (u32, u32) {
    image::image_dimensions(path).unwrap()
}

#[test]
fn show_batch_gives_the_augmented_images_before_normalisation() {
    let dir = scratch("show-batch");
    let (images, data) = six_images(&dir);
    let size = 8;
    let shown = data.show_batch(3).unwrap();
    assert_eq!(shown.len(), 3);
    for (position, (image, label)) in shown.iter().enumerate() {
        let (item, augment) = data.train_item(0, position).unwrap();
        let (path, class) = &images.items[item];
        assert_eq!(label, &images.classes[*class]);
        let img = load_image(path).unwrap();
        let want = augment.apply(&img, size, Padding::Reflection).unwrap();
        assert_eq!(image.shape(), [3, size, size]);
        let (g, w) = (
            image.to_vec::<f32>().unwrap(),
            want.to_vec::<f32>().unwrap(),
        );
        let worst = g
            .iter()
            .zip(&w)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "image {position}: off by {worst}");
    }
    assert_eq!(data.show_batch(10).unwrap().len(), 4, "one batch at most");
}

#[test]
fn denormalize_is_times_std_plus_mean_per_channel() {
    let x = Tensor::from_vec(vec![0f32, 1.0, -1.0, 2.0, 0.5, -0.5], &[1, 3, 1, 2]).unwrap();
    let (mean, std) = IMAGENET_STATS;
    let got = denormalize(&x, IMAGENET_STATS)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let want = [
        mean[0],
        std[0] + mean[0],
        -std[1] + mean[1],
        2.0 * std[1] + mean[1],
        0.5 * std[2] + mean[2],
        -0.5 * std[2] + mean[2],
    ];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
    }
    assert!(denormalize(&Tensor::zeros(&[1, 2, 1, 1]), IMAGENET_STATS).is_err());
}

#[test]
fn tabular_show_batch_shows_class_names_and_normalised_values() {
    let mut t = Table::new();
    let store = ["b", "a", "", "a"].map(|s| (!s.is_empty()).then(|| s.to_string()));
    t.set("Store", Column::Cat(store.to_vec())).unwrap();
    t.set("Temp", Column::Num(vec![1.0, f64::NAN, 3.0, 5.0]))
        .unwrap();
    let procs = Procs::fit(&t, &["Store"], &["Temp"]).unwrap();
    // Temp is filled with its median 3: [1, 3, 3, 5], mean 3, sample std sqrt(8/3), so row
    // 0 is -2 / 1.63299 = -1.2247 and rows 1 and 2 are 0; Temp_na marks row 1.
    let want = "\
Store  Temp_na  Temp
b      False    -1.2247
a      True     0.0000
#na#   False    0.0000
";
    assert_eq!(procs.show_batch(&t, 3).unwrap(), want);
    assert_eq!(procs.show_batch(&t, 10).unwrap().lines().count(), 5);
}

#[test]
fn the_batch_and_the_worst_mistakes_are_captioned_grids() {
    let dir = scratch("plot-mistakes");
    let (_, data) = six_images(&dir);
    plot_batch(&data, 3, 2, dir.join("batch.png")).unwrap();
    let cells: Vec<_> = (data.show_batch(3).unwrap().iter())
        .map(|(t, label)| (tensor_rgb(t).unwrap(), vec![label.clone()]))
        .collect();
    assert_eq!(png_size(&dir.join("batch.png")), grid_size(&cells, 2));

    // A small CNN whose first layer is its body, as Grad-CAM wants.
    let vars = Vars::new(3);
    let p = vars.root();
    let conv = Conv2d::new(p.pp(0).pp(0), 3, 4, 3, Conv2dParams::new(1, 1), false).unwrap();
    let head = Sequential::new()
        .push(AdaptiveAvgPool2d { out: [1, 1] })
        .push(Flatten)
        .push(Linear::new(p.pp(1).pp(2), 4, 2, true).unwrap());
    let model = Sequential::new()
        .push(Sequential::new().push(conv).push(ReLU))
        .push(head);
    let learn = Learner::builder(model, vars, data.resized(8, 4), cross_entropy)
        .build()
        .unwrap();
    let interp = ClassificationInterpretation::from_learner(&learn).unwrap();
    let path = |name: &str| dir.join(name);
    plot_top_losses(&interp, &learn, &data, 2, 2, false, path("plain.png")).unwrap();
    plot_top_losses(&interp, &learn, &data, 2, 2, true, path("heat.png")).unwrap();
    // Two cells, each the 8 x 8 validation image under "predicted/actual" and "loss / prob".
    let cells: Vec<_> = (interp.top_losses(2).iter())
        .map(|t| {
            let (image, _) = data.valid_image(t.index).unwrap();
            let name = |c: usize| &interp.classes[c];
            let caption = vec![
                format!("{}/{}", name(t.predicted), name(t.actual)),
                format!("{:.2} / {:.2}", t.loss, t.prob_actual),
            ];
            (tensor_rgb(&image).unwrap(), caption)
        })
        .collect();
    assert_eq!(png_size(&path("plain.png")), grid_size(&cells, 2));
    assert_eq!(png_size(&path("heat.png")), grid_size(&cells, 2));
    let pixels = |name: &str| image::open(path(name)).unwrap().to_rgb8().into_raw();
    assert_ne!(
        pixels("plain.png"),
        pixels("heat.png"),
        "no heat map laid over"
    );

    // An interpretation of other data (every label swapped) is refused, not drawn.
    let other = ClassificationInterpretation {
        targets: interp.targets.iter().map(|&t| 1 - t).collect(),
        ..interp
    };
    let err = plot_top_losses(&other, &learn, &data, 1, 1, false, path("x.png")).unwrap_err();
    assert!(err.to_string().contains("made on other data"), "{err}");
}
