//! The training examples as a user runs them: flags that cannot train are refused when the
//! line is parsed (exit 1, a message naming the flag); `--out` is checked before training;
//! a run that fails late leaves the previous run's folder as it was; a run replaces the
//! previous one whole; what a dead run left beside `--out` is cleaned; and an error prints
//! its chain of causes, one a line. The binaries are the release examples beside this test
//! (`cargo build --release --examples` builds them).
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The example binary `name`, next to this test's own `deps` folder.
fn example(name: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("examples").join(name))
        .filter(|bin| bin.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no {name} example beside {}: build them with `cargo build --release --examples`",
                exe.display()
            )
        });
    Command::new(bin)
}

/// Runs example `name` into `out` with the flags `small` (pairs) but those that `extra`
/// gives again, then `extra`.
fn run(name: &str, small: &[&str], out: &Path, extra: &[&str]) -> Output {
    let mut cmd = example(name);
    for pair in small.chunks(2) {
        if !extra.contains(&pair[0]) {
            cmd.args(pair);
        }
    }
    cmd.arg("--out").arg(out).args(extra).output().unwrap()
}

/// Rossmann at its smallest: 4 stores, one epoch.
fn rossmann(out: &Path, extra: &[&str]) -> Output {
    run("rossmann", &["--stores", "4", "--epochs", "1"], out, extra)
}

/// Pets at its smallest: 4 images a class at 32 pixels, one epoch a stage.
fn pets(out: &Path, extra: &[&str]) -> Output {
    let small = ["--per-class", "4", "--size", "32", "--epochs", "1"];
    run("pets", &small, out, extra)
}

/// A fresh folder for one test, under the system's temporary folder.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lesson6-cli-{}-{test}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(snapshot(&path));
        } else {
            files.insert(path.clone(), fs::read(&path).unwrap());
        }
    }
    files
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Asserts that `out` failed with exit 1 and an `error:` line holding every one of `words`,
/// and returns its stdout.
fn failed(out: &Output, words: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no `error:` line in {stderr}"));
    for w in words {
        assert!(line.contains(w), "`{w}` not in {line}");
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts that `out` succeeded.
fn succeeded(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn flags_that_cannot_train_are_refused_when_parsed() {
    let root = scratch("flags");
    let out = root.join("out");
    for (flag, value) in [
        ("--bs", "0"),
        ("--epochs", "0"),
        ("--lr", "NaN"),
        ("--lr", "inf"),
        ("--lr", "0"),
        ("--lr", "-1e-3"),
        ("--wd", "-0.1"),
        ("--wd", "NaN"),
        ("--stores", "0"),
        ("--emb-sz", "Store=0"),
        ("--schedule", "fast"),
    ] {
        failed(&rossmann(&out, &[flag, value]), &[flag, value]);
    }
    for (flag, value) in [
        ("--size", "0"),
        ("--size", "100000"),
        ("--bs", "0"),
        ("--lr", "NaN"),
        ("--epochs", "0"),
        ("--per-class", "0"),
        ("--ps", "1"),
        ("--ps", "0.1,0.2,0.3"),
    ] {
        failed(&pets(&out, &[flag, value]), &[flag, value]);
    }
    assert!(
        names(&root).is_empty(),
        "nothing written: {:?}",
        names(&root)
    );
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn an_unusable_out_fails_before_training() {
    let root = scratch("unusable");
    fs::write(root.join("file"), "").unwrap();
    let mine = root.join("mine");
    fs::create_dir(&mine).unwrap();
    fs::write(mine.join("notes.txt"), "mine").unwrap();
    for out in [root.join("file/out"), root.join("file"), mine.clone()] {
        for run in [rossmann(&out, &[]), pets(&out, &[])] {
            let stdout = failed(&run, &[&root.display().to_string()]);
            assert!(!stdout.contains("epoch"), "it trained first: {stdout}");
        }
    }
    assert_eq!(names(&root), ["file", "mine"]);
    assert_eq!(names(&mine), ["notes.txt"]);
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_run_that_fails_late_leaves_the_previous_run_as_it_was() {
    let root = scratch("late");
    let out = root.join("rossmann");
    succeeded(&rossmann(&out, &[]));
    let before = snapshot(&out);
    assert!(before.contains_key(&out.join("metrics.json")));
    // A rate this high makes the loss NaN a few batches in, after the data is drawn.
    failed(
        &rossmann(&out, &["--lr", "1e30", "--seed", "7"]),
        &["epoch 0, training batch", "TerminateOnNaN"],
    );
    assert_eq!(snapshot(&out), before);
    assert_eq!(names(&root), ["rossmann"], "the staging folder is gone");
    // Pets: 20 training images for a batch of 64 is refused after its images are drawn.
    let out = root.join("pets");
    succeeded(&pets(&out, &[]));
    let before = snapshot(&out);
    failed(
        &pets(&out, &["--bs", "64", "--seed", "3"]),
        &["no full training batch", "batch size of 64"],
    );
    assert_eq!(snapshot(&out), before);
    assert_eq!(names(&root), ["pets", "rossmann"]);
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_run_replaces_the_previous_one_whole_and_cleans_after_dead_runs() {
    let root = scratch("whole");
    let out = root.join("rossmann");
    succeeded(&rossmann(&out, &["--lr-find"]));
    assert!(out.join("lr_find.png").is_file());
    // A run killed while training left its staging folder.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = root.join(format!(".rossmann.new-{dead}"));
    fs::create_dir(&stale).unwrap();
    fs::write(stale.join("metrics.json"), "{}").unwrap();
    succeeded(&rossmann(&out, &[]));
    assert!(
        !out.join("lr_find.png").exists(),
        "the first run's lr_find.png beside the second run's metrics"
    );
    assert!(out.join("metrics.json").is_file() && out.join("data/store.csv").is_file());
    assert_eq!(names(&root), ["rossmann"]);
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn an_error_prints_its_chain_one_cause_a_line() {
    let root = scratch("chain");
    let data = root.join("data");
    fs::create_dir_all(data.join("train.csv")).unwrap();
    fs::write(data.join("store.csv"), "").unwrap();
    let run = rossmann(&root.join("out"), &["--data", data.to_str().unwrap()]);
    let train = data.join("train.csv").display().to_string();
    failed(&run, &[&train, "refusing to read it as CSV"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            format!("error: {train}: refusing to read it as CSV").as_str(),
            "  caused by: not a regular file (a folder, a FIFO or a device)",
        ],
        "{stderr}"
    );
    fs::remove_dir_all(root).unwrap();
}
