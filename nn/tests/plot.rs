//! The pictures of `nn::plot`: the axis choices checked against values worked by hand, and
//! every writer's PNG decoded back and checked for its documented size and, for the heat map
//! and the grid, the colours where the layout says they are.
use image::{Rgb, RgbImage};
use nn::learner::{lr_find_chart, lr_suggestion, plot_lr_find, EpochResult, Recorder};
use nn::plot::{
    confusion_png, grid_size, histograms, image_grid, linear_ticks, log_ticks, skip_start,
    spans_decade, tick_labels, HeatLayout, Histogram, Mark, CHART_SIZE, PANEL_SIZE,
};
use nn::Error;
use std::path::{Path, PathBuf};

/// An empty folder of this test's own under cargo's temporary folder for tests.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("plot")
        .join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove the last run's folder");
    }
    std::fs::create_dir_all(&dir).expect("create the test's folder");
    dir
}

fn decode(path: &Path) -> RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

#[test]
fn skip_start_is_fastais_ten_but_at_most_half_the_points() {
    assert_eq!(skip_start(500), 10);
    assert_eq!(skip_start(20), 10);
    assert_eq!(skip_start(19), 9);
    assert_eq!(skip_start(12), 6);
    assert_eq!(skip_start(1), 0);
    assert_eq!(skip_start(0), 0);
}

#[test]
fn a_log_axis_exactly_when_the_values_span_more_than_a_decade() {
    assert!(!spans_decade(&[1.0, 10.0, 5.0]), "exactly a decade");
    assert!(spans_decade(&[1.0, 10.01]));
    assert!(spans_decade(&[0.02, 0.3, 2.5]));
    assert!(!spans_decade(&[0.5, 4.9]));
    assert!(!spans_decade(&[-1.0, 100.0]), "a negative value has no log");
    assert!(!spans_decade(&[0.0, 100.0]), "nor zero");
    assert!(spans_decade(&[0.1, f64::NAN, 2.0, f64::INFINITY]));
    assert!(!spans_decade(&[]));
}

#[test]
fn linear_ticks_are_round_steps_of_one_two_or_five() {
    // 1 / 8 = 0.125: a step of 0.1 gives 11 ticks, 0.2 gives 6.
    assert_eq!(
        linear_ticks(0.0, 1.0, 8),
        [0.0, 0.2, 0.4, 0.6, 0.8, 1.0].map(|v: f64| v)
    );
    // 0.66 / 8: steps 0.01, 0.02 and 0.05 give 67, 33 and 13 ticks, 0.1 gives 6.
    assert_eq!(linear_ticks(2.31, 2.97, 8), [2.4, 2.5, 2.6, 2.7, 2.8, 2.9]);
    assert_eq!(linear_ticks(-12.0, 37.0, 5), [-10.0, 0.0, 10.0, 20.0, 30.0]);
    assert_eq!(linear_ticks(3.0, 3.0, 5), [3.0]);
}

#[test]
fn log_ticks_are_powers_of_ten_or_one_two_five_on_a_short_range() {
    assert_eq!(
        log_ticks(3e-8, 12.0),
        [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1e1]
    );
    // Only 0.1 and 1 fall inside [0.05, 3]: then 2 and 5 times them too.
    assert_eq!(log_ticks(0.05, 3.0), [0.05, 0.1, 0.2, 0.5, 1.0, 2.0]);
    assert!(log_ticks(0.0, 3.0).is_empty());
}

#[test]
fn tick_labels_are_the_shortest_round_numbers() {
    assert_eq!(tick_labels(&[0.0, 0.5, 1.0, 1.5]), ["0", "0.5", "1", "1.5"]);
    assert_eq!(
        tick_labels(&linear_ticks(2.31, 2.97, 8)),
        ["2.4", "2.5", "2.6", "2.7", "2.8", "2.9"]
    );
    assert_eq!(tick_labels(&[-0.0, 150.0]), ["0", "150"]);
    assert_eq!(
        tick_labels(&log_ticks(1e-6, 1e-2)),
        ["1e-6", "1e-5", "1e-4", "1e-3", "1e-2"]
    );
    assert_eq!(tick_labels(&[3e-5, 1e-1]), ["3e-5", "1e-1"]);
    assert_eq!(tick_labels(&[5e-4, 1e-3]), ["5e-4", "1e-3"]);
    assert_eq!(tick_labels(&[1e-3, 2e-3]), ["0.001", "0.002"]);
    assert_eq!(tick_labels(&[1e5, 2.5e5]), ["1e5", "2.5e5"]);
}

fn recorder(batches: usize, epochs: usize) -> Recorder {
    let losses: Vec<f64> = (0..batches).map(|i| 3.0 / (1.0 + i as f64)).collect();
    Recorder {
        smooth_losses: losses.clone(),
        lrs: vec![1e-3; batches],
        moms: vec![0.9; batches],
        losses,
        epochs: (0..epochs)
            .map(|e| EpochResult {
                epoch: e,
                train_loss: 1.0,
                valid_loss: 0.5 / (1.0 + e as f64),
                metrics: vec![],
                seconds: 1.0,
            })
            .collect(),
    }
}

/// The points of `recorder(batches, epochs)`'s smoothed loss from `first` on: batch i (from
/// 1) at 3 / i.
fn hyperbola(first: usize, batches: usize) -> Vec<(f64, f64)> {
    (first..=batches)
        .map(|b| (b as f64, 3.0 / b as f64))
        .collect()
}

#[test]
fn the_loss_chart_skips_the_start_and_puts_each_valid_loss_at_its_epochs_end() {
    // 200 batches in 4 epochs: the train line from batch 11, the valid points at 50, 100,
    // 150 and 200; 3 / 11 down to 3 / 200 = 0.015 is more than a decade.
    let chart = recorder(200, 4).losses_chart();
    let (train, valid) = (&chart.series[0], &chart.series[1]);
    assert_eq!((train.mark, valid.mark), (Mark::Line, Mark::Points));
    assert_eq!(train.points, hyperbola(11, 200));
    assert_eq!(
        valid.points,
        [
            (50.0, 0.5),
            (100.0, 0.25),
            (150.0, 0.5 / 3.0),
            (200.0, 0.125)
        ]
    );
    assert!(chart.log_y && !chart.log_x);
    assert_eq!(
        (chart.x_label.as_str(), chart.y_label.as_str()),
        ("batches processed", "loss")
    );
    // 12 batches in 2 epochs: 6 skipped, so the first epoch's valid loss (at batch 6) goes
    // too; 3 / 7 down to 0.25 is less than a decade.
    let chart = recorder(12, 2).losses_chart();
    assert_eq!(chart.series[0].points, hyperbola(7, 12));
    assert_eq!(chart.series[1].points, [(12.0, 0.25)]);
    assert!(!chart.log_y);
}

/// 100 learning rates from 1e-7, a decade every 11, with a loss dipping in the middle.
fn sweep() -> Vec<(f64, f64)> {
    (0..100)
        .map(|i| {
            let lr = 1e-7 * 10f64.powf(i as f64 / 11.0);
            (lr, 2.0 - (i as f64 / 30.0).sin())
        })
        .collect()
}

#[test]
fn the_lr_find_chart_drops_fastais_ends_and_marks_the_suggestion() {
    let sweep = sweep();
    let chart = lr_find_chart(&sweep);
    assert!(chart.log_x && !chart.log_y);
    assert_eq!(chart.series[0].points, sweep[10..95]);
    let lr = lr_suggestion(&sweep).expect("a suggestion");
    let at = sweep
        .iter()
        .find(|p| p.0 == lr)
        .expect("a point of the sweep");
    assert_eq!(chart.series[1].points, [*at]);
    assert_eq!(chart.series[1].mark, Mark::Points);
    let said = format!("suggestion {lr:.1e}");
    assert!(chart.title.contains(&said) && chart.series[1].label == said);
    // Too short for fastai's ends and for a suggestion: all of it, nothing marked.
    let chart = lr_find_chart(&sweep[..16]);
    assert_eq!(chart.series.len(), 1);
    assert_eq!(chart.series[0].points, sweep[..16]);
}

#[test]
fn loss_and_lr_find_charts_are_pngs_of_the_chart_size() {
    let dir = scratch("charts");
    for (batches, epochs) in [(200, 4), (3, 1), (0, 0)] {
        let path = dir.join(format!("losses_{batches}.png"));
        recorder(batches, epochs)
            .plot_losses(&path)
            .expect("a chart");
        assert_eq!(decode(&path).dimensions(), CHART_SIZE, "{batches} batches");
    }
    let sweep = sweep();
    for n in [100, 5] {
        let path = dir.join(format!("lr_find_{n}.png"));
        plot_lr_find(&sweep[..n], &path).expect("a chart");
        assert_eq!(decode(&path).dimensions(), CHART_SIZE);
    }
    let missing = dir.join("no/such/folder/losses.png");
    match recorder(20, 1).plot_losses(&missing) {
        Err(Error::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("{other:?}"),
    }
}

/// The darkness of a pixel: 765 less the sum of its channels.
fn darkness(p: &Rgb<u8>) -> u32 {
    765 - p.0.iter().map(|&c| c as u32).sum::<u32>()
}

#[test]
fn the_confusion_heat_map_is_darker_where_the_count_is_larger() {
    let dir = scratch("confusion");
    let classes: Vec<String> = ["cat", "dog", "a_long_breed_name_of_a_dog"]
        .map(String::from)
        .to_vec();
    let matrix = vec![vec![5, 0, 1], vec![0, 9, 0], vec![2, 0, 3]];
    let path = dir.join("confusion.png");
    confusion_png(&path, &classes, &matrix).expect("a heat map");
    let img = decode(&path);
    let layout = HeatLayout::new(&classes);
    assert_eq!(img.dimensions(), layout.size);
    // Near a cell's top-left corner, away from the count written at its centre.
    let shade = |row, col| {
        let (x0, y0, _, _) = layout.cell_rect(row, col);
        darkness(img.get_pixel(x0 + 4, y0 + 4))
    };
    assert!(shade(1, 1) > shade(0, 0), "9 darker than 5");
    assert!(shade(0, 0) > shade(2, 0), "5 darker than 2");
    assert!(shade(2, 0) > shade(0, 1), "2 darker than 0");
    assert!(shade(1, 1) > 400, "the largest count is dark blue");
    assert!(shade(0, 1) < 20, "a zero is near white");

    // 37 classes (the pets): cells of 720 / 37 = 19, raised to 20.
    let pets: Vec<String> = (0..37).map(|k| format!("breed_{k}")).collect();
    let diagonal: Vec<Vec<usize>> = (0..37)
        .map(|r| (0..37).map(|c| usize::from(r == c) * 3).collect())
        .collect();
    let layout = HeatLayout::new(&pets);
    assert_eq!(layout.cell, 20);
    assert_eq!(layout.cell_rect(36, 36).2 + 20, layout.size.0);
    let path = dir.join("pets.png");
    confusion_png(&path, &pets, &diagonal).expect("a heat map");
    assert_eq!(decode(&path).dimensions(), layout.size);

    let ragged = vec![vec![1, 2, 3], vec![4, 5], vec![6, 7, 8]];
    assert!(matches!(
        confusion_png(dir.join("bad.png"), &classes, &ragged),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn an_image_grid_scales_small_images_up_under_their_captions() {
    let dir = scratch("grid");
    let red = RgbImage::from_pixel(20, 10, Rgb([255, 0, 0]));
    let images: Vec<(RgbImage, Vec<String>)> = (0..5)
        .map(|k| (red.clone(), vec![format!("image {k}"), "cat".to_string()]))
        .collect();
    // 20 x 10 scaled by 160 / 20 = 8 to 160 x 80; a cell 160 + 2 * 8 wide and
    // 80 + 2 * 18 + 2 * 8 tall; 5 images in 3 columns take 2 rows.
    assert_eq!(grid_size(&images, 3), (3 * 176, 2 * 132));
    assert_eq!(grid_size(&images, 8), (5 * 176, 132));
    let path = dir.join("grid.png");
    image_grid(&path, &images, 3).expect("a grid");
    let img = decode(&path);
    assert_eq!(img.dimensions(), (528, 264));
    // The fifth image, second row and column: its cell at (176, 132), the image 8 in from
    // the cell's sides and under 8 + 2 * 18 of captions.
    let (left, top) = (176 + 8, 132 + 44);
    assert_eq!(img.get_pixel(left, top), &Rgb([255, 0, 0]));
    assert_eq!(img.get_pixel(left + 159, top + 79), &Rgb([255, 0, 0]));
    // Then its grey frame, one pixel wide, and white.
    let grey = Rgb([160, 160, 160]);
    assert_eq!(img.get_pixel(left + 160, top + 79), &grey);
    assert_eq!(img.get_pixel(left + 159, top + 80), &grey);
    assert_eq!(img.get_pixel(left - 1, top), &grey);
    assert_eq!(img.get_pixel(left + 161, top + 79), &Rgb([255, 255, 255]));
    assert_eq!(img.get_pixel(left + 159, top + 81), &Rgb([255, 255, 255]));
    // An image already large is kept as it is; a long caption widens the cell.
    let big = vec![(
        RgbImage::new(200, 100),
        vec!["a caption of thirty characters".to_string()],
    )];
    assert_eq!(grid_size(&big, 1), (8 * 30 + 16, 100 + 18 + 16));
    assert!(matches!(
        image_grid(dir.join("none.png"), &images, 0),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn histograms_stand_side_by_side() {
    let dir = scratch("histograms");
    let panel = |title: &str| Histogram {
        title: title.to_string(),
        series: vec![
            ("a".to_string(), (0..100).map(|i| i as f32 / 10.0).collect()),
            ("b".to_string(), vec![2.0; 30]),
        ],
    };
    let path = dir.join("histograms.png");
    histograms(&path, &[panel("before"), panel("after")], 20).expect("histograms");
    assert_eq!(decode(&path).dimensions(), (2 * PANEL_SIZE.0, PANEL_SIZE.1));
    assert!(matches!(
        histograms(dir.join("none.png"), &[panel("x")], 0),
        Err(Error::Invalid(_))
    ));
}
