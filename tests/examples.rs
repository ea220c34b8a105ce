//! Every example, run as a user runs it but at a tiny size, and what it writes checked:
//! `metrics.json`'s values finite, each PNG decoding at the size the example states,
//! `submission.csv`'s header and rows, checkpoints loading back into the model the example
//! builds. Then the examples' answers to bad input: one `error: ...` line and a failing exit
//! status, never a panic, a Rust `Debug` dump or a hang.
//!
//! The binaries are the release examples beside this test (`target/release/examples`), built
//! by `cargo build --release --examples` (and by `cargo test --workspace --release`). Each
//! run works in its own folder under cargo's `CARGO_TARGET_TMPDIR`, never in the repository.
use image::GenericImageView;
use lesson6::datasets::rossmann::Synth;
use lesson6::datasets::shapes::{draw_shape, SHAPES};
use lesson6::nn::models::{cnn_model, resnet34, Ps};
use lesson6::nn::plot::{HeatLayout, CHART_SIZE, MIN_SIDE};
use lesson6::nn::tabular::{Procs, TabularConfig, TabularModel};
use lesson6::nn::vision::save_png;
use lesson6::nn::{state_dict, Vars};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A run still going after this long is killed and fails its test: a hang must not stall the
/// suite (the slowest run here takes a few seconds).
const HANG: Duration = Duration::from_secs(120);

/// The example binary `name`, in `target/release/examples` beside this test's `deps` folder.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from target/<profile>/deps")
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --release --examples` first",
        path.display()
    );
    path
}

/// An empty folder of this test's own, `name` under cargo's temporary folder for tests.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("examples")
        .join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove the last run's folder");
    }
    std::fs::create_dir_all(&dir).expect("create the test's folder");
    dir
}

/// How a run of an example ended.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs example `name` in `dir` with the command line `args` (split at spaces: no argument
/// here has one).
fn run(name: &str, args: &str, dir: &Path) -> Run {
    let mut cmd = Command::new(example(name));
    cmd.args(args.split_whitespace());
    watch(cmd, &format!("{name} {args}"), dir)
}

/// Runs `cmd` in `dir`, its output going to files there (a pipe could fill and block a
/// chatty program while the run is watched for a hang); a run past [`HANG`] is killed and
/// fails the test.
fn watch(mut cmd: Command, what: &str, dir: &Path) -> Run {
    let (out, err) = (dir.join("run.stdout"), dir.join("run.stderr"));
    let mut child = cmd
        .current_dir(dir)
        .stdout(File::create(&out).expect("stdout file"))
        .stderr(File::create(&err).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the run") {
            break status;
        }
        if start.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{what}` still ran after {HANG:?} and was killed: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |p: &Path| std::fs::read_to_string(p).expect("the run's output");
    Run {
        code: status.code(),
        stdout: read(&out),
        stderr: read(&err),
    }
}

/// Runs an example that must succeed; its standard output.
fn succeeds(name: &str, args: &str, dir: &Path) -> String {
    let r = run(name, args, dir);
    let said = format!("`{name} {args}` failed:\n{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.code, Some(0), "{said}");
    r.stdout
}

/// Runs an example that must refuse its input with exit status `code` (1: ours, 2: clap's)
/// and a message that starts `error: ` and contains each of `words`; a panic, an abort or
/// Rust's `Debug` form of an error (`Error: Io { path: ... }`) fails.
fn fails(name: &str, args: &str, dir: &Path, code: i32, words: &[&str]) {
    let r = run(name, args, dir);
    let said = format!("`{name} {args}` said:\n{}", r.stderr);
    assert_eq!(r.code, Some(code), "{said}");
    assert!(r.stderr.starts_with("error: "), "{said}");
    assert!(!r.stderr.contains("panicked"), "{said}");
    assert!(!r.stderr.contains("Error: "), "{said}");
    for w in words {
        assert!(r.stderr.contains(w), "no `{w}`: {said}");
    }
}

/// The width and height of the PNG at `path`, decoded whole.
fn png_size(path: &Path) -> (u32, u32) {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .dimensions()
}

/// The `metrics.json` in `dir`.
fn metrics(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("metrics.json")).expect("metrics.json");
    serde_json::from_str(&text).expect("metrics.json is JSON")
}

/// The finite number under `key` of a JSON object.
fn finite(json: &serde_json::Value, key: &str) -> f64 {
    let v = json[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number `{key}` in {json}"));
    assert!(v.is_finite(), "`{key}` is {v} in {json}");
    v
}

/// The header and the cells of each row of a CSV file without quoting (the generator's and
/// the example's own).
fn csv_rows(path: &Path) -> (String, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).expect("a CSV file");
    let mut lines = text.lines();
    let header = lines.next().expect("a header").to_string();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (header, rows)
}

#[test]
fn rossmann_on_four_stores_writes_a_run_that_loads_back() {
    let dir = scratch("rossmann");
    let args = "--stores 4 --seed 42 --epochs 1 --lr-find --out out";
    let stdout = succeeds("rossmann", args, &dir);
    let out = dir.join("out");
    // The show_batch table before training: its header of the procs' columns, then 5 rows.
    let procs = Procs::load(out.join("procs.json")).expect("procs.json");
    let names: Vec<&str> = (procs.cat_names.iter().chain(&procs.cont_names))
        .map(String::as_str)
        .collect();
    let mut lines = stdout.lines();
    assert!(
        lines.any(|l| l.split_whitespace().eq(names.iter().copied())),
        "{stdout}"
    );
    let rows: Vec<&str> = lines.take(5).collect();
    assert!(
        rows.iter()
            .all(|r| r.split_whitespace().count() == names.len()),
        "{rows:?}"
    );

    let m = metrics(&out);
    for key in [
        "valid_exp_rmspe",
        "valid_loss",
        "oracle_rmspe",
        "baseline_rmspe",
    ] {
        assert!(finite(&m, key) >= 0.0, "{key} in {m}");
    }
    finite(&m, "seconds");
    assert_eq!(m["epochs"], 1, "{m}");
    assert!(m["train_rows"].as_u64() > Some(0) && m["valid_rows"].as_u64() > Some(0));
    assert_eq!(png_size(&out.join("losses.png")), (800, 500));
    assert_eq!(png_size(&out.join("lr_find.png")), (800, 500));

    loads_into_the_rossmann_model(&out, "model.safetensors");

    // One prediction for each row of the test.csv the generator writes for these flags, in
    // its order, in sales (not their log), 0 on a closed day.
    let expected = dir.join("expected");
    Synth {
        stores: 4,
        seed: 42,
    }
    .write(&expected)
    .expect("the embedded default");
    let (test_header, test) = csv_rows(&expected.join("test.csv"));
    let column = |name: &str| test_header.split(',').position(|c| c == name);
    let (id, open) = (column("Id"), column("Open").expect("an Open column"));
    assert_eq!(id, Some(0), "{test_header}");
    let (header, submission) = csv_rows(&out.join("submission.csv"));
    assert_eq!(header, "Id,Sales");
    assert!(!test.is_empty());
    assert_eq!(submission.len(), test.len());
    for (row, test_row) in submission.iter().zip(&test) {
        assert_eq!(row.len(), 2, "{row:?}");
        assert_eq!(row[0], test_row[0]);
        let sales: f64 = row[1].parse().expect("a number of sales");
        assert!(sales.is_finite() && sales >= 0.0, "{row:?}");
        assert_eq!(
            test_row[open] == "0",
            sales == 0.0,
            "{row:?} for {test_row:?}"
        );
    }

    // The exported learner, loaded by the predict path with no training run, predicts the
    // test rows of the run's data as the run did: the same submission.csv, byte for byte.
    let args = "predict --learner out/export.safetensors --data out/data --out predicted";
    let stdout = succeeds("rossmann", args, &dir);
    assert!(
        stdout.contains(&format!("{} test rows", test.len())),
        "{stdout}"
    );
    let (header, predicted) = csv_rows(&dir.join("predicted/submission.csv"));
    assert_eq!(header, "Id,Sales");
    assert_eq!(predicted, submission);
    assert!(predicted
        .iter()
        .zip(&test)
        .all(|(row, t)| t[open] == "0" || row[1].parse::<f64>().is_ok_and(|s| s > 0.0)));
}

#[test]
fn rossmanns_lesson_schedule_fits_three_times_and_saves_after_the_first() {
    let dir = scratch("rossmann-lesson");
    let args = "--stores 4 --epochs 1 --schedule lesson --out out";
    let stdout = succeeds("rossmann", args, &dir);
    // The lesson's three fits, each with its table; the checkpoint of the first loads.
    for fit in [
        "fit_one_cycle(1, 1e-3, wd=0.2)",
        "fit_one_cycle(1, 3e-4, wd=0.01)",
    ] {
        assert!(stdout.contains(fit), "no `{fit}` in {stdout}");
    }
    assert_eq!(stdout.matches("epoch   train_loss").count(), 3, "{stdout}");
    let out = dir.join("out");
    assert_eq!(metrics(&out)["epochs"], 3);
    loads_into_the_rossmann_model(&out, "1.safetensors");
    let read = |name: &str| std::fs::read(out.join(name)).expect("a checkpoint");
    assert_ne!(
        read("1.safetensors"),
        read("model.safetensors"),
        "the later fits trained on"
    );
}

/// Checks that checkpoint `name` in the run folder `out` fits the model that its procs.json
/// describes (y_range has no weights).
fn loads_into_the_rossmann_model(out: &Path, name: &str) {
    let procs = Procs::load(out.join("procs.json")).expect("procs.json");
    let embeddings = procs.emb_szs(&[]).expect("embedding sizes");
    let cfg = TabularConfig::lesson6(embeddings, procs.cont_names.len(), (0.0, 1.0));
    let vars = Vars::new(0);
    TabularModel::new(vars.root(), &cfg, 0).expect("the model");
    state_dict::load(&vars, out.join(name)).expect("the checkpoint loads");
}

#[test]
fn pets_on_a_few_images_then_heatmap_on_its_checkpoint() {
    let dir = scratch("pets");
    let args = "--per-class 4 --size 16 --epochs 1 --bs 4 --lr-find --out pets";
    let stdout = succeeds("pets", args, &dir);
    let out = dir.join("pets");
    // The summary before training: ResNet-34's body and the head for 6 classes.
    assert!(stdout.contains("Total params: 21815634"), "{stdout}");

    let m = metrics(&out);
    let rate = |v: &serde_json::Value| {
        let r = finite(v, "error_rate");
        assert!((0.0..=1.0).contains(&r), "{v}");
        r
    };
    let stages = m["stages"].as_array().expect("stages");
    assert_eq!(stages.len(), 3, "{m}");
    for stage in stages {
        rate(stage);
    }
    assert_eq!(rate(&m), rate(&stages[2]));
    finite(&m, "seconds");
    assert_eq!(m["augment"], true);
    let mut classes: Vec<&str> = m["classes"]
        .as_array()
        .expect("classes")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    let named = classes.clone();
    classes.sort_unstable();
    let mut shapes = SHAPES.to_vec();
    shapes.sort_unstable();
    assert_eq!(classes, shapes);
    assert_eq!(png_size(&out.join("losses.png")), (800, 500));
    assert_eq!(png_size(&out.join("lr_find.png")), (800, 500));
    assert!(stdout.contains("lr_find suggests"), "{stdout}");
    loads_into_the_pets_model(&out.join("model.safetensors"));
    looked_at_the_mistakes(&out, &stdout, &named, rate(&m));
    // The pictures: the confusion matrix laid out for its classes, and two 3 x 3 grids of
    // captioned images (a batch of 4 shows 4; the nine worst mistakes, 9 or all there are).
    let classes: Vec<String> = named.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        png_size(&out.join("confusion.png")),
        HeatLayout::new(&classes).size
    );
    for name in ["batch.png", "top_losses.png"] {
        let (w, h) = png_size(&out.join(name));
        assert!(w >= 2 * MIN_SIDE && h >= MIN_SIDE, "{name}: {w} x {h}");
    }

    // The heat map of the checkpoint just written, its classes read from the metrics.json
    // beside it, for a drawn image and a class besides the predicted one.
    save_png(&draw_shape(0, 0, 5), dir.join("shape.png")).expect("an image");

    // The exported learner (fastai's `load_learner`) classifies with its own classes: five
    // lines under the image, each ending in one of them, the first the most probable.
    let stdout = succeeds(
        "classify",
        "--learner pets/export.safetensors shape.png",
        &dir,
    );
    assert!(stdout.contains("(6 classes, 25 px)"), "{stdout}");
    let ranked: Vec<&str> = stdout
        .lines()
        .skip_while(|l| *l != "shape.png:")
        .skip(1)
        .collect();
    assert_eq!(ranked.len(), 5, "{stdout}");
    for line in &ranked {
        assert!(
            named.iter().any(|c| line.ends_with(&format!("  {c}"))),
            "{line}"
        );
    }
    let plain = "--learner pets/model.safetensors shape.png";
    fails(
        "classify",
        plain,
        &dir,
        1,
        &["not an exported learner", "plain state dict"],
    );
    let args = "--learner pets/export.safetensors --image shape.png --size 64 --out from-export";
    let stdout = succeeds("heatmap", args, &dir);
    assert!(
        stdout.contains("the learner from pets/export.safetensors (6 classes)"),
        "{stdout}"
    );
    assert_eq!(heat_maps(&dir.join("from-export"), 64), 1);
    let class = named[1];
    let args = "--weights pets/model.safetensors --image shape.png --size 64 --out heatmap";
    let stdout = succeeds("heatmap", &format!("{args} --class {class}"), &dir);
    let out = dir.join("heatmap");
    let explained = stdout.matches("Grad-CAM for ").count();
    assert!(explained >= 1, "{stdout}");
    assert_eq!(heat_maps(&out, 64), explained);
    assert!(out.join(format!("gradcam_{class}.png")).is_file());

    // Each run replaces the last whole. Of two runs explaining named[1] and then named[2]
    // besides the prediction, one leaves two Grad-CAMs at least; a last run explaining only
    // the prediction must leave its one alone.
    let again = |class: Option<&str>| {
        let extra = class.map_or(String::new(), |c| format!(" --class {c}"));
        succeeds("heatmap", &format!("{args}{extra}"), &dir)
    };
    again(Some(named[2]));
    let stdout = again(None);
    assert_eq!(stdout.matches("Grad-CAM for ").count(), 1, "{stdout}");
    assert_eq!(heat_maps(&out, 64), 1, "an earlier run's Grad-CAM was left");
}

/// Checks the pets run's interp.json against its classes, its validation count (printed)
/// and its `error_rate`, and its `tta_error_rate`.
fn looked_at_the_mistakes(out: &Path, stdout: &str, classes: &[&str], error_rate: f64) {
    let m = metrics(out);
    let tta = finite(&m, "tta_error_rate");
    assert!((0.0..=1.0).contains(&tta), "{m}");
    assert!(stdout.contains("most_confused(min_val=2):"), "{stdout}");
    assert!(stdout.contains(", with TTA "), "{stdout}");
    let valid: u64 = (stdout.lines())
        .find_map(|l| {
            l.strip_suffix(" validation images")?
                .rsplit(' ')
                .next()?
                .parse()
                .ok()
        })
        .expect("the validation count");
    let text = std::fs::read_to_string(out.join("interp.json")).expect("interp.json");
    let interp: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(interp["classes"], serde_json::json!(classes));
    let cm: Vec<Vec<u64>> = serde_json::from_value(interp["confusion"].clone()).expect("counts");
    assert_eq!(cm.len(), classes.len());
    assert!(cm.iter().all(|row| row.len() == classes.len()), "{interp}");
    assert_eq!(cm.iter().flatten().sum::<u64>(), valid);
    let trace: u64 = (0..cm.len()).map(|i| cm[i][i]).sum();
    let from_matrix = 1.0 - trace as f64 / valid as f64;
    assert!(
        (from_matrix - error_rate).abs() < 1e-6,
        "{from_matrix} vs {error_rate}"
    );
    // Every confusion off the diagonal, the largest first.
    let confused = interp["most_confused"].as_array().expect("most_confused");
    let off: u64 = cm.iter().flatten().sum::<u64>() - trace;
    let counts: Vec<u64> = confused
        .iter()
        .map(|c| c[2].as_u64().expect("a count"))
        .collect();
    assert_eq!(counts.iter().sum::<u64>(), off, "{interp}");
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{interp}");
    for c in confused {
        let at = |k: usize| classes.iter().position(|n| c[k] == *n).expect("a class");
        assert_ne!(at(0), at(1));
        assert_eq!(cm[at(0)][at(1)], c[2].as_u64().unwrap_or(0), "{c}");
    }
}

#[test]
fn heatmap_trains_briefly_without_a_checkpoint() {
    let dir = scratch("heatmap");
    let args = "--per-class 4 --epochs 1 --size 32 --out out";
    let stdout = succeeds("heatmap", args, &dir);
    assert!(stdout
        .contains("training a model on the embedded default briefly (4 images a class, 1 epochs"));
    let out = dir.join("out");
    assert_eq!(heat_maps(&out, 32), 1);
    loads_into_the_pets_model(&out.join("model.safetensors"));
}

/// Checks that the checkpoint at `path` loads into the model the pets and heatmap examples
/// build for the six drawn shapes.
fn loads_into_the_pets_model(path: &Path) {
    let vars = Vars::new(0);
    cnn_model(
        resnet34(vars.root(), 1000).expect("resnet34"),
        6,
        Ps::default(),
        0,
    )
    .expect("the model");
    state_dict::load(&vars, path).expect("the checkpoint loads");
}

/// Checks the pictures heatmap wrote in `out` (the image, its heat map and a Grad-CAM for
/// each class explained), all `size` pixels square; returns how many Grad-CAMs there are.
fn heat_maps(out: &Path, size: u32) -> usize {
    for png in ["heatmap.png", "image.png"] {
        assert_eq!(png_size(&out.join(png)), (size, size), "{png}");
    }
    let cams: Vec<PathBuf> = std::fs::read_dir(out)
        .expect("the heat map's folder")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.to_string_lossy().contains("gradcam_"))
        .collect();
    for cam in &cams {
        assert_eq!(png_size(cam), (size, size), "{}", cam.display());
    }
    cams.len()
}

#[test]
fn classify_prints_the_top_five_of_each_image_and_writes_its_logits() {
    let dir = scratch("classify");
    let classes = 10;
    let vars = Vars::new(3);
    resnet34(vars.root(), classes).expect("resnet34");
    state_dict::save(&vars, dir.join("resnet34.safetensors")).expect("save the weights");
    let labels: Vec<String> = (0..classes).map(|k| format!("label{k}")).collect();
    std::fs::write(dir.join("labels.txt"), labels.join("\n") + "\n").expect("labels");
    // Nine images, so that the last goes through the network in a batch of its own; it is
    // the first again, so its logits must come out the same, to rounding: a batch of 8 takes
    // Winograd's convolution, a batch of one (fewer images than threads) the direct one.
    let mut images: Vec<String> = (0..8).map(|i| format!("{i}.png")).collect();
    for (i, name) in images.iter().enumerate() {
        save_png(&draw_shape(i % 6, i, 1), dir.join(name)).expect("an image");
    }
    images.push(images[0].clone());
    let args = "--weights resnet34.safetensors --labels labels.txt --classes 10 --size 32";
    let args = format!(
        "{args} --logits-out logits.safetensors {}",
        images.join(" ")
    );
    let stdout = succeeds("classify", &args, &dir);

    let bytes = std::fs::read(dir.join("logits.safetensors")).expect("the logits file");
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    let view = file.tensor("logits").expect("a tensor `logits`");
    assert_eq!(view.dtype(), safetensors::Dtype::F32);
    assert_eq!(view.shape(), [images.len(), classes]);
    let logits: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert!(logits.iter().all(|v| v.is_finite()), "{logits:?}");
    let rows: Vec<&[f32]> = logits.chunks_exact(classes).collect();
    let scale = rows[0].iter().fold(0f32, |m, v| m.max(v.abs()));
    for (a, b) in rows[0].iter().zip(rows[8]) {
        assert!(
            (a - b).abs() <= 1e-5 * scale,
            "{:?} vs {:?}",
            rows[0],
            rows[8]
        );
    }

    // Each image's block: its path, then its five most likely classes by softmax, named.
    let mut lines = stdout.lines().filter(|l| !l.starts_with("wrote "));
    for (name, row) in images.iter().zip(&rows) {
        assert_eq!(lines.next(), Some(format!("{name}:").as_str()), "{stdout}");
        let most = row.iter().fold(f32::MIN, |m, &v| m.max(v));
        let total: f32 = row.iter().map(|&v| (v - most).exp()).sum();
        let mut order: Vec<usize> = (0..classes).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
        for &k in &order[..5] {
            let line = lines.next().expect("a class line");
            let cells: Vec<&str> = line.split_whitespace().collect();
            let p = (row[k] - most).exp() / total;
            assert_eq!(cells[0], k.to_string(), "{stdout}");
            assert!((cells[1].parse::<f32>().expect("a probability") - p).abs() < 1e-4);
            assert_eq!(cells[2], labels[k]);
        }
    }
}

#[test]
fn convolution_finds_edges_of_the_drawn_or_given_image() {
    let dir = scratch("convolution");
    let stdout = succeeds("convolution", "--out drawn", &dir);
    assert!(stdout.contains("equal: true") && stdout.contains("equal to conv2d: true"));
    assert!(!stdout.contains("false"), "{stdout}");
    assert_eq!(png_size(&dir.join("drawn/input.png")), (64, 64));
    assert_eq!(png_size(&dir.join("drawn/edges.png")), (62, 62));
    // A given image: the 3x3 kernel without padding leaves it 2 pixels smaller each way.
    save_png(&draw_shape(2, 0, 1), dir.join("shape.png")).expect("an image");
    let (w, h) = png_size(&dir.join("shape.png"));
    succeeds("convolution", "shape.png --out given", &dir);
    assert_eq!(png_size(&dir.join("given/input.png")), (w, h));
    assert_eq!(png_size(&dir.join("given/edges.png")), (w - 2, h - 2));
}

#[test]
fn augment_writes_a_grid_of_nine_per_padding_mode() {
    let dir = scratch("augment");
    save_png(&draw_shape(0, 0, 1), dir.join("shape.png")).expect("an image");
    // Nine images a side with 4-pixel gaps: the default --size is 128.
    for (args, side) in [
        ("--size 16 --out drawn", 3 * 16 + 8),
        ("shape.png --out given", 3 * 128 + 8),
    ] {
        succeeds("augment", args, &dir);
        let out = args.split(' ').next_back().expect("the --out folder");
        for mode in ["zeros", "border", "reflection"] {
            let png = dir.join(out).join(format!("augment_{mode}.png"));
            assert_eq!(png_size(&png), (side, side), "{}", png.display());
        }
    }
}

#[test]
fn dropout_by_hand_is_the_built_in_at_each_rate() {
    let dir = scratch("dropout");
    for p in ["0.5", "0.3", "0"] {
        let stdout = succeeds("dropout", &format!("--p {p}"), &dir);
        assert!(stdout.contains("agree bit for bit: true"), "{stdout}");
        assert!(stdout.contains("equal to its input: true"), "{stdout}");
        // 20 x 20 activations scaled by 8 to 160 pixels under two 18-pixel caption lines,
        // with 8 around: the mask's cell as wide as its 39-character first line (8 pixels
        // each, the kept count having three digits at these rates), the activations' two
        // cells as wide as the image.
        let out = dir.join("out/dropout");
        assert_eq!(
            png_size(&out.join("mask.png")),
            (39 * 8 + 16, 160 + 36 + 16)
        );
        assert_eq!(png_size(&out.join("activations.png")), (2 * 176, 212));
    }
}

#[test]
fn batchnorm_by_hand_is_the_layer() {
    let dir = scratch("batchnorm");
    let stdout = succeeds("batchnorm", "", &dir);
    let diff: f32 = stdout
        .split("largest difference ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no largest difference in {stdout}"));
    assert!(diff < 1e-5, "{stdout}");
    // Three histogram panels of 520 x 420 side by side: before, normalised, scaled.
    let png = dir.join("out/batchnorm/distributions.png");
    assert_eq!(png_size(&png), (3 * 520, 420));
}

#[test]
fn explore_writes_its_page_and_pets_trains_on_the_names_it_gives() {
    let dir = scratch("explore");
    let stdout = succeeds("explore", "--per-class 4 --steps 5", &dir);
    assert!(stdout.contains("24 images, 64 activations"), "{stdout}");
    let page = std::fs::read_to_string(dir.join("out/explore/index.html")).expect("page");
    let json = page
        .split("<script id=\"data\" type=\"application/json\">")
        .nth(1)
        .and_then(|s| s.split("</script>").next())
        .expect("the page's data");
    let data: serde_json::Value = serde_json::from_str(json).expect("JSON");
    let items = data["items"].as_array().expect("items");
    assert_eq!(items.len(), 24);
    for d in items {
        assert!(d["src"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,"));
        assert!(d["x"].as_f64().unwrap().is_finite() && d["y"].as_f64().unwrap().is_finite());
    }
    // A CSV as the page downloads it, discs and rings named `round`, the rest `other`: the
    // pets example trains on those two classes.
    let mut csv = String::from("file,label\n");
    for d in items {
        let file = d["file"].as_str().unwrap();
        let round = file.starts_with("Disc") || file.starts_with("Ring");
        csv += &format!("{file},{}\n", if round { "round" } else { "other" });
    }
    std::fs::write(dir.join("labels.csv"), csv).expect("labels");
    let args =
        "--data out/explore/images --labels labels.csv --size 16 --epochs 1 --bs 4 --out pets";
    let stdout = succeeds("pets", args, &dir);
    assert!(stdout.contains("2 classes, "), "{stdout}");
    assert_eq!(
        metrics(&dir.join("pets"))["classes"],
        serde_json::json!(["other", "round"])
    );
    // That learner, exported, as the explorer's model: its head's 512 penultimate values;
    // the page's classes are the model's, then the folder's it lacks.
    let args = "--model pets/export.safetensors --data out/explore/images --out again";
    let stdout = succeeds("explore", args, &dir);
    assert!(stdout.contains("24 images, 512 activations"), "{stdout}");
    let page = std::fs::read_to_string(dir.join("again/index.html")).expect("page");
    let classes = r#""classes":["other","round","Crescent","Disc""#;
    assert!(page.contains(classes), "no {classes}");
}

#[test]
fn tape_draws_both_steps_as_svg_and_dot_and_says_the_peak() {
    let dir = scratch("tape");
    let stdout = succeeds("tape", "", &dir);
    let out = dir.join("out/tape");
    for stem in ["tabular", "basic_block"] {
        // `stem: N ops, P parameters; the tape held X (B bytes) at its peak; ...`
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{stem}: ")))
            .unwrap_or_else(|| panic!("no line for {stem}:\n{stdout}"));
        let number = |before: &str| -> usize {
            line.split(before)
                .next()
                .and_then(|s| s.split_whitespace().last())
                .and_then(|n| n.trim_start_matches('(').parse().ok())
                .unwrap_or_else(|| panic!("{line}"))
        };
        let (ops, params) = (number(" ops"), number(" parameters"));
        assert!(ops > 5 && params > 3 && number(" bytes)") > 0, "{line}");
        let svg = std::fs::read_to_string(out.join(format!("{stem}.svg"))).expect("svg");
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{stem}"
        );
        let boxes = |class: &str| svg.matches(&format!("<g class=\"{class}\">")).count();
        assert_eq!(
            (boxes("forward"), boxes("parameter")),
            (ops, params),
            "{stem}"
        );
        assert_eq!(boxes("gradient"), params, "{stem}");
        let dot = std::fs::read_to_string(out.join(format!("{stem}.dot"))).expect("dot");
        assert!(
            dot.starts_with("digraph tape {") && dot.trim_end().ends_with('}'),
            "{stem}"
        );
    }
}

#[test]
fn why_batchnorm_trains_six_runs_and_draws_both_charts() {
    let dir = scratch("why_batchnorm");
    let stdout = succeeds(
        "why_batchnorm",
        "--steps 6 --per-class 4 --bs 8 --lrs 0.01,0.1,1",
        &dir,
    );
    // One row per model and rate: the rate, the mean loss of the last tenth of the steps and
    // the median variation (finite, the variation 0 or more), and whether it diverged.
    let mut rows = Vec::new();
    for model in ["plain", "batch norm"] {
        for lr in ["0.01", "0.1", "1"] {
            let row = stdout
                .lines()
                .find(|l| {
                    l.starts_with(model) && l[model.len()..].split_whitespace().next() == Some(lr)
                })
                .unwrap_or_else(|| panic!("no row for {model} at {lr}:\n{stdout}"));
            let cols: Vec<&str> = row[model.len()..].split_whitespace().collect();
            let (loss, variation): (f64, f64) = (
                cols[1].parse().unwrap_or_else(|_| panic!("{row}")),
                cols[2].parse().unwrap_or_else(|_| panic!("{row}")),
            );
            assert!(loss.is_finite() && loss > 0.0, "{row}");
            assert!(variation.is_finite() && variation >= 0.0, "{row}");
            rows.push(row);
        }
    }
    assert_eq!(rows.len(), 6);
    let out = dir.join("out/why_batchnorm");
    for png in ["losses.png", "smoothness.png"] {
        assert_eq!(png_size(&out.join(png)), CHART_SIZE, "{png}");
    }
}

#[test]
fn tensors_shows_views_and_a_shape_error() {
    let dir = scratch("tensors");
    let stdout = succeeds("tensors", "", &dir);
    assert!(stdout.contains("same storage: true; contiguous() copies: true"));
    assert!(stdout.contains("lhs [4, 3] and rhs [5, 2] do not agree on the inner dimension"));
}

#[test]
fn bad_input_gets_an_error_line_not_a_panic_a_debug_dump_or_a_hang() {
    let dir = scratch("bad_input");
    std::fs::write(dir.join("file"), "not a folder").expect("a file");
    std::fs::write(dir.join("empty.safetensors"), "").expect("a file");
    let no_such = "No such file or directory";
    for name in ["augment", "convolution"] {
        fails(name, "missing.png", &dir, 1, &["missing.png", no_such]);
    }
    for name in ["augment", "convolution", "heatmap"] {
        let words = ["cannot create this folder", "a file is in the way"];
        fails(name, "--out file/out", &dir, 1, &words);
    }
    let weights = "--weights missing.safetensors --classes a,b";
    let words = ["missing.safetensors", no_such];
    fails("heatmap", weights, &dir, 1, &words);
    fails("dropout", "--p 1", &dir, 1, &["--p must be in [0, 1)"]);
    for (lrs, words) in [
        ("0.1,0.2", ["--lrs", "three learning rates, got 2"]),
        ("0.1,nan,1", ["--lrs", "finite learning rates above 0"]),
        ("0.1,0,1", ["--lrs", "finite learning rates above 0"]),
    ] {
        fails("why_batchnorm", &format!("--lrs {lrs}"), &dir, 2, &words);
    }
    let words = ["cannot create this folder", "a file is in the way"];
    fails(
        "why_batchnorm",
        "--steps 1 --per-class 2 --out file/out",
        &dir,
        1,
        &words,
    );
    fails("tape", "--out file/out", &dir, 1, &words);
    fails("explore", "--data missing", &dir, 1, &["missing", no_such]);
    fails(
        "explore",
        "--model /dev/zero",
        &dir,
        1,
        &["--model", "not a regular file"],
    );
    fails(
        "pets",
        "--labels missing.csv",
        &dir,
        1,
        &["missing.csv", no_such],
    );
    // A checkpoint whose metrics.json (where heatmap finds the class names) is not JSON.
    std::fs::create_dir(dir.join("run")).expect("a folder");
    std::fs::write(dir.join("run/metrics.json"), "{").expect("a file");
    std::fs::write(dir.join("run/model.safetensors"), "").expect("a file");
    let beside = "--weights run/model.safetensors";
    fails("heatmap", beside, &dir, 1, &["run/metrics.json", "EOF"]);

    // Sizes the network or the grid cannot take, or whose buffers would not fit in memory
    // (`classify --size 100000` aborted), and counts that leave nothing to do or to train
    // on, are clap's refusals, naming the range.
    for (name, flag, range, below, above) in [
        ("classify", "--size", "32..=1024", "31", "100000"),
        ("heatmap", "--size", "32..=1024", "31", "1025"),
        ("augment", "--size", "16..=1024", "0", "1025"),
        ("classify", "--classes", "1..=100000", "0", "100001"),
        ("heatmap", "--per-class", "4..=1000", "3", "1001"),
        ("heatmap", "--epochs", "1..=1000", "0", "1001"),
        ("why_batchnorm", "--steps", "1..=100000", "0", "100001"),
        ("explore", "--steps", "1..=100000", "0", "100001"),
        ("explore", "--per-class", "2..=1000", "1", "1001"),
        ("why_batchnorm", "--bs", "2..=4096", "1", "4097"),
        ("why_batchnorm", "--per-class", "2..=10000", "1", "10001"),
    ] {
        for value in [below, above] {
            fails(name, &format!("{flag} {value}"), &dir, 2, &[flag, range]);
        }
    }

    // Every file given is checked before it is opened, and before a network is built or
    // trained: a device or a FIFO is never opened (it would be read forever or block); and
    // classify's labels must name every class.
    let classify = |args: &str, words: &[&str]| {
        let base = "--weights empty.safetensors --classes 10";
        fails("classify", &format!("{base} {args}"), &dir, 1, words);
    };
    std::fs::write(dir.join("x.png"), "").expect("a file");
    let fifo = dir.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    for device in ["/dev/zero", "fifo"] {
        let what = ["not a regular file", device];
        classify(&format!("--labels {device} x.png"), &what);
        classify(device, &what);
        fails("augment", device, &dir, 1, &what);
        fails("convolution", device, &dir, 1, &what);
        let tiny = "--per-class 4 --epochs 1 --size 32";
        fails(
            "heatmap",
            &format!("{tiny} --image {device}"),
            &dir,
            1,
            &what,
        );
        fails("heatmap", &format!("--weights {device}"), &dir, 1, &what);
    }
    std::fs::write(dir.join("three.txt"), "a\nb\nc\n").expect("labels");
    classify("--labels three.txt x.png", &["3 names for 10 classes"]);
    let weights = "--weights /dev/zero x.png";
    let words = ["--weights /dev/zero", "not a regular file"];
    fails("classify", weights, &dir, 1, &words);

    // An exported learner that is missing, or a file that is not one; exactly one of
    // --weights and --learner.
    let missing = "--learner missing.safetensors x.png";
    fails(
        "classify",
        missing,
        &dir,
        1,
        &["--learner missing.safetensors", no_such],
    );
    let args = "--learner missing.safetensors --image x.png";
    fails(
        "heatmap",
        args,
        &dir,
        1,
        &["--learner missing.safetensors", no_such],
    );
    let args = "predict --learner missing.safetensors --data file";
    fails(
        "rossmann",
        args,
        &dir,
        1,
        &["--learner missing.safetensors", no_such],
    );
    let args = "--learner empty.safetensors x.png";
    fails(
        "classify",
        args,
        &dir,
        1,
        &["empty.safetensors", "not a valid safetensors"],
    );
    let both = "--weights empty.safetensors --learner empty.safetensors x.png";
    fails(
        "classify",
        both,
        &dir,
        2,
        &["--weights", "--learner", "cannot be used with"],
    );
    fails(
        "classify",
        "x.png",
        &dir,
        2,
        &["--weights", "--learner", "required"],
    );
}

// The activation explorer's page in a real browser (headless Chromium): the explore example
// writes it for the embedded shapes, the page is opened with a `#selftest` request, and the
// test checks what the page reports: every thumbnail drawn at its projected coordinates
// (the position the page's fit gives, and the canvas showing the thumbnail's own pixels
// there), then a rectangle selected with synthetic pointer events, named, and the CSV of
// names it produces, against the images whose coordinates lie inside the rectangle.
//
// Chromium is a Debian package (`chromium`); `.ci/run` installs it and sets
// `LESSON6_REQUIRE_CHROMIUM`, so that in CI a missing browser fails this test instead of
// skipping it.
/// The browser on the PATH, if any.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

/// The text between `start` and the next `end` in `s`.
fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let from = s.find(start).unwrap_or_else(|| panic!("no {start}")) + start.len();
    &s[from..from + s[from..].find(end).unwrap_or_else(|| panic!("no {end}"))]
}

#[test]
fn the_page_draws_every_thumbnail_and_names_a_selected_region() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("LESSON6_REQUIRE_CHROMIUM").is_none(),
            "LESSON6_REQUIRE_CHROMIUM is set but there is no chromium on the PATH"
        );
        eprintln!("skipped: no chromium on the PATH (CI installs it)");
        return;
    };
    let dir = scratch("explorer");
    let out = dir.join("out/explore");
    succeeds("explore", "--per-class 6 --steps 20", &dir);
    let page = std::fs::read_to_string(out.join("index.html")).expect("index.html");
    let data: serde_json::Value = serde_json::from_str(between(
        &page,
        "<script id=\"data\" type=\"application/json\">",
        "</script>",
    ))
    .expect("the page's data");
    let items = data["items"].as_array().expect("items");
    assert_eq!(items.len(), 36);
    let side = data["thumb"].as_f64().expect("thumb");
    let xy: Vec<(f64, f64)> = items
        .iter()
        .map(|d| (d["x"].as_f64().unwrap(), d["y"].as_f64().unwrap()))
        .collect();
    // The rectangle: all of y, x up to the middle of the widest gap between neighbouring
    // x values near the median, so that no centre sits on its edge.
    let mut xs: Vec<f64> = xy.iter().map(|p| p.0).collect();
    xs.sort_by(f64::total_cmp);
    let k = (xs.len() / 4..3 * xs.len() / 4)
        .max_by(|&a, &b| (xs[a + 1] - xs[a]).total_cmp(&(xs[b + 1] - xs[b])))
        .unwrap();
    let (lo, hi) = (xs[0] - 1.0, (xs[k] + xs[k + 1]) / 2.0);
    let (ylo, yhi) = xy
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let spec = format!("region A,{lo},{},{hi},{}", ylo - 1.0, yhi + 1.0);
    let url = format!(
        "file://{}#selftest={}",
        out.join("index.html").canonicalize().unwrap().display(),
        spec.replace(' ', "%20")
    );
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1000,800",
        "--virtual-time-budget=20000",
        "--dump-dom",
    ])
    .arg(&url);
    let run = watch(cmd, "chromium", &dir);
    assert_eq!(run.code, Some(0), "chromium: {}", run.stderr);
    let dom = run.stdout;
    let report = between(&dom, "<pre id=\"selftest\">", "</pre>")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let report: serde_json::Value = serde_json::from_str(&report).expect("the page's report");

    // Every thumbnail where the fit puts its coordinates (within the half pixel the page
    // rounds to), in item order, showing its own pixels wherever no other covers it.
    let (w, h) = (
        report["canvas"][0].as_f64().unwrap(),
        report["canvas"][1].as_f64().unwrap(),
    );
    let (x0, x1) = (xs[0], xs[xs.len() - 1]);
    let scale = ((w - 2.0 * side) / (x1 - x0)).min((h - 2.0 * side) / (yhi - ylo));
    let (ox, oy) = (
        (w - scale * (x0 + x1)) / 2.0,
        (h - scale * (ylo + yhi)) / 2.0,
    );
    let drawn = report["drawn"].as_array().expect("drawn");
    assert_eq!(drawn.len(), items.len());
    let mut checked = 0;
    for ((d, item), &(x, y)) in drawn.iter().zip(items).zip(&xy) {
        assert_eq!(d["file"], item["file"]);
        let (dx, dy) = (d["x"].as_f64().unwrap(), d["y"].as_f64().unwrap());
        assert!((dx - (x * scale + ox)).abs() <= 0.5, "{d} against x {x}");
        assert!((dy - (y * scale + oy)).abs() <= 0.5, "{d} against y {y}");
        if !d["same"].is_null() {
            assert_eq!(d["same"], true, "{d}");
            checked += 1;
        }
    }
    assert!(checked > 0, "no thumbnail stood alone to be checked");

    // The selection: the images inside the rectangle, named, in item order.
    let inside: Vec<&str> = items
        .iter()
        .zip(&xy)
        .filter(|(_, &(x, _))| x <= hi)
        .map(|(d, _)| d["file"].as_str().unwrap())
        .collect();
    assert!(!inside.is_empty() && inside.len() < items.len());
    assert_eq!(report["selected"].as_u64(), Some(inside.len() as u64));
    let want: String = std::iter::once("file,label\n".to_string())
        .chain(inside.iter().map(|f| format!("{f},region A\n")))
        .collect();
    assert_eq!(report["csv"].as_str(), Some(want.as_str()));
}
