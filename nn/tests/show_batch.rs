//! fastai's `data.show_batch()`: for images, the first training batch brought back from
//! ImageNet normalisation equals each image under its drawn transform before normalisation;
//! for tables, the first rows after the procs as text, computed by hand on a tiny table.
#[path = "shared/images.rs"]
#[allow(dead_code)] // each test file uses part of it
mod images;

use images::noise_folder;
use nn::tabular::{Column, Procs, Table};
use nn::vision::{denormalize, load_image, ImageData, Padding, Transforms, IMAGENET_STATS};
use tensor::Tensor;

#[test]
fn show_batch_gives_the_augmented_images_before_normalisation() {
    let dir = std::env::temp_dir().join(format!("lesson6-show-batch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let names = [
        "a_1.png", "a_2.png", "a_3.png", "b_1.png", "b_2.png", "b_3.png",
    ];
    let images = noise_folder(&dir, &names, &[2, 5], (12, 9));
    let size = 8;
    let data = ImageData::new(
        &images,
        Transforms::lesson6(),
        size,
        Padding::Reflection,
        4,
        1,
    );
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
