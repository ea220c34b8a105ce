//! The symmetries of the square (fastai's `dihedral` and `get_transforms(flip_vert=True)`) and
//! the area pre-shrink before a downscale by more than 2x, against expectations written out
//! here (the PyTorch comparisons are in `vision.rs`).
use nn::vision::{grid_sample, Augment, Padding, Transforms};
use tensor::random::Philox;
use tensor::Tensor;

fn centre(dihedral: u8) -> Augment {
    Augment {
        dihedral,
        ..Augment::centre()
    }
}

#[test]
fn each_dihedral_is_its_pixel_permutation() {
    // Pixel values 0 to 8 row by row, all different, so any permutation shows. fastai's k:
    // bit 1 flips the rows, bit 2 the columns, bit 4 then transposes.
    let img = Tensor::from_vec((0..9).map(|v| v as f32).collect(), &[1, 3, 3]).unwrap();
    let expected: [[f32; 9]; 8] = [
        [0., 1., 2., 3., 4., 5., 6., 7., 8.], // identity
        [6., 7., 8., 3., 4., 5., 0., 1., 2.], // vertical flip
        [2., 1., 0., 5., 4., 3., 8., 7., 6.], // horizontal flip
        [8., 7., 6., 5., 4., 3., 2., 1., 0.], // rotation by 180
        [0., 3., 6., 1., 4., 7., 2., 5., 8.], // transpose
        [6., 3., 0., 7., 4., 1., 8., 5., 2.], // rotation by 90 clockwise
        [2., 5., 8., 1., 4., 7., 0., 3., 6.], // rotation by 90 anticlockwise
        [8., 5., 2., 7., 4., 1., 6., 3., 0.], // the other diagonal's transpose
    ];
    for (k, want) in expected.iter().enumerate() {
        let got = centre(k as u8).apply(&img, 3, Padding::Zeros).unwrap();
        assert_eq!(got.to_vec::<f32>().unwrap(), want, "k = {k}");
    }
}

#[test]
fn a_transposed_wide_grid_is_cropped_along_its_new_sides() {
    // 3 x 4 at size 3: the transposed grid is 4 x 3 and the centre crop takes its rows 1 to 3,
    // the image's columns 1 to 3.
    let img = Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[1, 3, 4]).unwrap();
    let got = centre(4).apply(&img, 3, Padding::Zeros).unwrap();
    let want: Vec<f32> = (0..3)
        .flat_map(|y| (0..3).map(move |x| (4 * x + 1 + y) as f32))
        .collect();
    assert_eq!(got.to_vec::<f32>().unwrap(), want);
}

#[test]
fn flip_vert_draws_all_eight_symmetries_alike() {
    let t = Transforms {
        flip_vert: true,
        ..Transforms::lesson6()
    };
    let mut counts = [0usize; 8];
    for i in 0..1600 {
        counts[t.draw(Philox::new(5, i)).dihedral as usize] += 1;
    }
    assert!(
        counts.iter().all(|n| (140..260).contains(n)),
        "{counts:?} in 1600 draws, 200 each expected"
    );
}

/// The align-corners grid of an `n` x `n` output over the source's [-1, 1] square divided by
/// `zoom` (a centred zoom-in), then rotated by `degrees`.
fn grid(n: usize, zoom: f64, degrees: f64) -> Tensor {
    let lin = |i: usize| (-1.0 + 2.0 * i as f64 / (n - 1) as f64) / zoom;
    let (s, c) = degrees.to_radians().sin_cos();
    let pts = (0..n)
        .flat_map(|i| (0..n).map(move |j| (lin(j), lin(i))))
        .flat_map(|(x, y)| [(c * x - s * y) as f32, (s * x + c * y) as f32])
        .collect();
    Tensor::from_vec(pts, &[n, n, 2]).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.shape(), b.shape());
    let (a, b) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn a_downscale_by_four_first_averages_two_by_two_blocks() {
    // 16 x 16 to 4: d = 16 / 4 / 2 = 2, so the image is first shrunk to 8 x 8, each pixel the
    // mean of a 2 x 2 block. Tolerance 1e-6: the sums round differently.
    let img = Philox::new(7, 0).uniform(&[2, 16, 16], 0.0, 1.0).unwrap();
    let v = img.to_vec::<f32>().unwrap();
    let at = |k: usize, r: usize, q: usize| v[(k * 16 + r) * 16 + q];
    let shrunk: Vec<f32> = (0..2)
        .flat_map(|k| (0..8).flat_map(move |i| (0..8).map(move |j| (k, i, j))))
        .map(|(k, i, j)| {
            (at(k, 2 * i, 2 * j)
                + at(k, 2 * i, 2 * j + 1)
                + at(k, 2 * i + 1, 2 * j)
                + at(k, 2 * i + 1, 2 * j + 1))
                / 4.0
        })
        .collect();
    let shrunk = Tensor::from_vec(shrunk, &[2, 8, 8]).unwrap();
    let got = Augment::centre().apply(&img, 4, Padding::Border).unwrap();
    let want = grid_sample(&shrunk, &grid(4, 1.0, 0.0), Padding::Border).unwrap();
    assert!(max_diff(&got, &want) < 1e-6, "{}", max_diff(&got, &want));
    let direct = grid_sample(&img, &grid(4, 1.0, 0.0), Padding::Border).unwrap();
    assert!(
        max_diff(&got, &direct) > 1e-2,
        "the shrink changes the result"
    );
}

#[test]
fn downscales_of_two_or_less_and_zooms_in_are_sampled_directly() {
    // 8 to 4 and 12 to 8 (d = 1 and 0.75, the latter under a rotation by 45 whose map spans
    // 2 sqrt 2, z = 0.71 < d), and 20 to 4 under a zoom of 3 (d = 2.5 < z = 3): the image is
    // sampled as it is.
    for (side, size, zoom, degrees) in [(8, 4, 1.0, 0.0), (12, 8, 1.0, 45.0), (20, 4, 3.0, 0.0)] {
        let img = Philox::new(8, side as u64)
            .uniform(&[1, side, side], 0.0, 1.0)
            .unwrap();
        let a = Augment {
            zoom: Some((zoom, 0.5, 0.5)),
            rotate: Some(degrees),
            ..Augment::centre()
        };
        let got = a.apply(&img, size, Padding::Border).unwrap();
        let want = grid_sample(&img, &grid(size, zoom, degrees), Padding::Border).unwrap();
        assert!(
            max_diff(&got, &want) < 1e-6,
            "{side} to {size} at zoom {zoom}: {}",
            max_diff(&got, &want)
        );
    }
}
